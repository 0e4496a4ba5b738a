import type { Admin } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { TopicConfigMismatchError } from '../../domain/errors';

export type TopicSettings = Readonly<{
  name: string;
  partitions: number;
  retentionMs: number;
  cleanupPolicy: string;
}>;

export type ExistingTopic = Readonly<{ partitions: number; retentionMs: number; cleanupPolicy: string }>;

/** The settings of a topic as the broker has them, or undefined when the topic does not exist. */
export async function describeTopic(admin: Admin, name: string): Promise<ExistingTopic | undefined> {
  const topics = await admin.listTopics();
  if (!topics.includes(name)) return undefined;
  const [metadata, configs] = await Promise.all([
    admin.fetchTopicMetadata({ topics: [name] }),
    admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'cleanup.policy'] }],
      includeSynonyms: false,
    }),
  ]);
  const entries = new Map(
    (configs.resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
  );
  return {
    partitions: metadata.topics[0]?.partitions.length ?? 0,
    retentionMs: Number(entries.get('retention.ms')),
    cleanupPolicy: entries.get('cleanup.policy') ?? 'delete',
  };
}

const normalisePolicy = (policy: string) =>
  policy
    .split(',')
    .map((part) => part.trim())
    .sort()
    .join(',');

export function topicMismatches(wanted: TopicSettings, existing: ExistingTopic): string[] {
  const mismatches: string[] = [];
  if (existing.partitions !== wanted.partitions) {
    mismatches.push(`partitions ${existing.partitions}, spec wants ${wanted.partitions}`);
  }
  if (existing.retentionMs !== wanted.retentionMs) {
    mismatches.push(`retention.ms ${existing.retentionMs}, spec wants ${wanted.retentionMs}`);
  }
  if (normalisePolicy(existing.cleanupPolicy) !== normalisePolicy(wanted.cleanupPolicy)) {
    mismatches.push(`cleanup.policy ${existing.cleanupPolicy}, spec wants ${wanted.cleanupPolicy}`);
  }
  return mismatches;
}

/**
 * Create the topic with the wanted settings, or accept an existing one whose settings match.
 * Safe to repeat: a retry after a crash finds the topic it made and reports `created: false`.
 */
export async function ensureTopic(admin: Admin, wanted: TopicSettings): Promise<{ created: boolean }> {
  const existing = await describeTopic(admin, wanted.name);
  if (existing) {
    const mismatches = topicMismatches(wanted, existing);
    if (mismatches.length > 0) throw new TopicConfigMismatchError(wanted.name, mismatches);
    return { created: false };
  }
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic: wanted.name,
        numPartitions: wanted.partitions,
        replicationFactor: 1,
        configEntries: [
          { name: 'retention.ms', value: String(wanted.retentionMs) },
          { name: 'cleanup.policy', value: wanted.cleanupPolicy },
        ],
      },
    ],
  });
  if (!created) {
    // Someone created it between our look and our create: hold it to the same standard.
    await ensureTopic(admin, wanted);
    return { created: false };
  }
  return { created: true };
}

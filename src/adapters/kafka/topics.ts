import type { Admin, ITopicConfig } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { TopicConfigMismatchError, UpstreamUnavailableError } from '../../domain/errors';

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

/** Errors that only mean the broker has not caught up yet (kafkajs's `staleMetadata`). */
const notYetKnown = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type AwaitLeadersOptions = Readonly<{ timeoutMs?: number; pollMs?: number }>;
type ReadinessAdmin = Pick<Admin, 'fetchTopicMetadata' | 'fetchTopicOffsets'>;

/** The topics not usable yet: a partition without a leader in metadata, or not served by it. */
async function topicsNotReady(admin: ReadinessAdmin, topics: readonly string[]): Promise<string[]> {
  const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
  const led = new Set(
    metadata.topics
      .filter((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      .map((t) => t.name),
  );
  const missing = topics.filter((topic) => !led.has(topic));
  if (missing.length > 0) return missing;
  // Metadata names a leader a moment before that broker hosts the partition (it applies the same
  // change to its replicas next); ListOffsets is answered by the partition itself.
  for (const topic of topics) await admin.fetchTopicOffsets(topic);
  return [];
}

/**
 * Wait until every partition of the topics has a leader that serves it. CreateTopics returns once
 * the controller has committed the topics; the broker learns of them a little later, and until
 * then answers UNKNOWN_TOPIC_OR_PARTITION (or NOT_LEADER_FOR_PARTITION), which kafkajs's own
 * `waitForLeaders` does not wait through (it retries only LEADER_NOT_AVAILABLE).
 */
export async function awaitTopicLeaders(
  admin: ReadinessAdmin,
  topics: readonly string[],
  options: AwaitLeadersOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let waitingFor = topics.join(', ');
  let lastError: unknown;
  for (;;) {
    try {
      const notReady = await topicsNotReady(admin, topics);
      if (notReady.length === 0) return;
      waitingFor = notReady.join(', ');
    } catch (error) {
      if (!notYetKnown.has((error as { type?: string }).type ?? '')) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new UpstreamUnavailableError(
        'Kafka',
        `no leader serving every partition of ${waitingFor} ${timeoutMs} ms after creating it`,
        lastError,
      );
    }
    await sleep(options.pollMs ?? 100);
  }
}

/**
 * `admin.fetchTopicOffsets`, waiting through a topic created a moment ago (by this process or
 * another) that its leader does not serve yet: kafkajs gives up at once on NOT_LEADER_FOR_PARTITION.
 */
export async function fetchServedTopicOffsets(
  admin: ReadinessAdmin,
  topic: string,
  options: AwaitLeadersOptions = {},
): ReturnType<Admin['fetchTopicOffsets']> {
  try {
    return await admin.fetchTopicOffsets(topic);
  } catch (error) {
    if (!notYetKnown.has((error as { type?: string }).type ?? '')) throw error;
    await awaitTopicLeaders(admin, [topic], options);
    return admin.fetchTopicOffsets(topic);
  }
}

/**
 * `admin.createTopics`, returning only once the topics can be used: every partition has a leader
 * that serves it. True when it created every topic (as kafkajs's result).
 */
export async function createTopicsAndAwaitLeaders(
  admin: Pick<Admin, 'createTopics'> & ReadinessAdmin,
  topics: ITopicConfig[],
  options: AwaitLeadersOptions = {},
): Promise<boolean> {
  const created = await admin.createTopics({ topics, waitForLeaders: false });
  await awaitTopicLeaders(
    admin,
    topics.map((t) => t.topic),
    options,
  );
  return created;
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
  const created = await createTopicsAndAwaitLeaders(admin, [
    {
      topic: wanted.name,
      numPartitions: wanted.partitions,
      replicationFactor: 1,
      configEntries: [
        { name: 'retention.ms', value: String(wanted.retentionMs) },
        { name: 'cleanup.policy', value: wanted.cleanupPolicy },
      ],
    },
  ]);
  if (!created) {
    // Someone created it between our look and our create: hold it to the same standard.
    await ensureTopic(admin, wanted);
    return { created: false };
  }
  return { created: true };
}

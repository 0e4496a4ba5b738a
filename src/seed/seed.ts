import type { Kafka, Message } from 'kafkajs';
import { createIdempotentProducer } from '../adapters/kafka/producer';
import { createTopicsAndAwaitLeaders, fetchServedTopicOffsets } from '../adapters/kafka/topics';
import type { SeedOptions, SeedRecord, SeedTopicName } from './generator';
import { DEFAULT_SEED, generateSeedRecords, seedPartitions, seedTopics } from './generator';

export type SeedProgress = Readonly<{ sent: number; target?: number; elapsedMs: number; perSecond: number }>;

export type SeedRunOptions = SeedOptions &
  Readonly<{
    /** Stop after this many records (default 10,000 when no duration is given). */
    count?: number;
    /** Stop after this long. */
    durationMs?: number;
    /** At most this many records per second (unlimited by default). */
    rate?: number;
    batchSize?: number;
    progress?: (progress: SeedProgress) => void;
    progressEveryMs?: number;
  }>;

export type SeedResult = Readonly<{
  sent: number;
  malformed: number;
  byTopic: Readonly<Record<string, number>>;
  elapsedMs: number;
}>;

/** A seed record as Kafka takes it: a keyless record's partition is the generator's, not the producer's. */
export const seedMessage = (record: SeedRecord): Message => ({
  key: record.key,
  value: record.value,
  ...(record.partition === undefined ? {} : { partition: record.partition }),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Create the demo topics that are missing; existing ones are used as they are. */
export async function ensureSeedTopics(
  kafka: Kafka,
  options: { topicPrefix?: string; only?: readonly SeedTopicName[] } = {},
): Promise<string[]> {
  const names = options.only ?? (Object.keys(seedTopics) as SeedTopicName[]);
  const wanted = names.map((name) => ({
    topic: `${options.topicPrefix ?? ''}${seedTopics[name]}`,
    numPartitions: seedPartitions[name],
  }));
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((topic) => !existing.has(topic.topic));
    if (missing.length > 0) {
      await createTopicsAndAwaitLeaders(
        admin,
        missing.map((t) => ({ ...t, replicationFactor: 1 })),
      );
    }
    return wanted.map((topic) => topic.topic);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Produce the demo mesh into Kafka: a count of records, or for a duration, optionally at a rate.
 * The same seed produces the same records in the same order.
 */
export async function seedKafka(kafka: Kafka, options: SeedRunOptions = {}): Promise<SeedResult> {
  const target = options.count ?? (options.durationMs === undefined ? 10_000 : undefined);
  // With a rate, send about ten batches a second so the pace is smooth.
  const batchSize =
    options.batchSize ?? (options.rate ? Math.max(1, Math.min(500, Math.floor(options.rate / 10))) : 500);
  const everyMs = options.progressEveryMs ?? 1000;
  await ensureSeedTopics(kafka, options);
  // Idempotent: a batch a retry sends again (a slow broker, a busy machine) lands once, so the
  // keys the generator made unique stay unique in Kafka.
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const began = Date.now();
  const byTopic: Record<string, number> = {};
  let sent = 0;
  let malformed = 0;
  let lastReport = began;
  const report = () => {
    const elapsedMs = Date.now() - began;
    options.progress?.({ sent, target, elapsedMs, perSecond: elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0 });
  };
  try {
    const records = generateSeedRecords(options);
    const done = () =>
      (target !== undefined && sent >= target) ||
      (options.durationMs !== undefined && Date.now() - began >= options.durationMs);
    while (!done()) {
      const size = Math.min(batchSize, target === undefined ? batchSize : target - sent);
      const batch = new Map<string, Message[]>();
      for (let i = 0; i < size; i++) {
        const record = records.next().value;
        if (!record) break;
        const messages = batch.get(record.topic) ?? [];
        messages.push(seedMessage(record));
        batch.set(record.topic, messages);
        byTopic[record.topic] = (byTopic[record.topic] ?? 0) + 1;
        if (record.malformed) malformed++;
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...batch.entries()].map(([topic, messages]) => ({ topic, messages })),
      });
      sent += size;
      if (options.rate !== undefined && options.rate > 0) {
        const aheadMs = (sent * 1000) / options.rate - (Date.now() - began);
        if (aheadMs > 0) await sleep(aheadMs);
      }
      if (Date.now() - lastReport >= everyMs) {
        lastReport = Date.now();
        report();
      }
    }
    report();
    return { sent, malformed, byTopic, elapsedMs: Date.now() - began };
  } finally {
    await producer.disconnect();
  }
}

/** What a seed of `count` records writes to each topic: the generator run in memory (10,000 take milliseconds). */
export function expectedSeedCounts(options: SeedOptions & { count: number }): Record<string, number> {
  const counts: Record<string, number> = {};
  let n = 0;
  if (options.count <= 0) return counts;
  for (const record of generateSeedRecords({ ...options, seed: options.seed ?? DEFAULT_SEED })) {
    counts[record.topic] = (counts[record.topic] ?? 0) + 1;
    if (++n >= options.count) break;
  }
  return counts;
}

/** The records each topic holds now (high minus low watermark over its partitions); 0 for a missing topic. */
export async function topicRecordCounts(
  kafka: Kafka,
  topics: readonly string[],
): Promise<Record<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const counts: Record<string, number> = {};
    for (const topic of topics) {
      counts[topic] = existing.has(topic)
        ? (await fetchServedTopicOffsets(admin, topic)).reduce(
            (sum, p) => sum + Number(p.high) - Number(p.low),
            0,
          )
        : 0;
    }
    return counts;
  } finally {
    await admin.disconnect();
  }
}

export type SeedCheck = Readonly<{
  complete: boolean;
  /** Topics holding fewer records than the seed writes (an interrupted seed). */
  short: ReadonlyArray<{ topic: string; holds: number; expected: number }>;
  /** Topics holding more (a batch written twice, or records from elsewhere: a live feed, `meshloop seed`). */
  over: ReadonlyArray<{ topic: string; holds: number; expected: number }>;
}>;

/** Does Kafka hold the whole seed of `count` records? */
export async function checkSeed(kafka: Kafka, options: SeedOptions & { count: number }): Promise<SeedCheck> {
  const expected = expectedSeedCounts(options);
  const holds = await topicRecordCounts(kafka, Object.keys(expected));
  const rows = Object.entries(expected).map(([topic, count]) => ({
    topic,
    holds: holds[topic] ?? 0,
    expected: count,
  }));
  const short = rows.filter((r) => r.holds < r.expected);
  return { complete: short.length === 0, short, over: rows.filter((r) => r.holds > r.expected) };
}

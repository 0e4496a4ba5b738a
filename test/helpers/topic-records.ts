import { randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';

export type TopicRecord = Readonly<{
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
}>;

/**
 * Every committed record of a topic, up to its committed end when called (read committed, as every
 * reader of product topics). Product topics are written in Kafka transactions: their offsets also
 * count commit markers (and aborted records), so a topic's size is counted by reading it, never
 * from its end offsets; a partition is read once a batch reaches its end (markers included).
 */
export async function committedRecords(
  kafka: Kafka,
  topic: string,
  options: { timeoutMs?: number } = {},
): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    // The last stable offset per partition (kafkajs lists offsets read-committed).
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
  const remaining = new Set([...ends].filter(([, end]) => end > 0n).map(([partition]) => partition));
  const records: TopicRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({
    groupId: `_meshloop-test-reader-${randomUUID()}`,
    readUncommitted: false,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 60_000;
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} to its committed end took over ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          eachBatch: ({ batch }) => {
            const end = ends.get(batch.partition) ?? 0n;
            for (const message of batch.messages) {
              if (BigInt(message.offset) >= end) break;
              records.push({
                partition: batch.partition,
                offset: message.offset,
                key: message.key?.toString() ?? null,
                value: message.value?.toString() ?? null,
              });
            }
            if (BigInt(batch.lastOffset()) + 1n >= end) remaining.delete(batch.partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** How many committed records a topic holds (see committedRecords). */
export async function committedCount(kafka: Kafka, topic: string): Promise<number> {
  return (await committedRecords(kafka, topic)).length;
}

/**
 * Settings for a topic whose records carry past broker timestamps (their event times): Kafka's
 * time retention (7 days by default) deletes such records at its next check, every 5 minutes, so a
 * test could find its topic emptied between producing and reading. Such a topic keeps every record.
 */
export const KEEP_PAST_RECORDS = [{ name: 'retention.ms', value: '-1' }];

/** A new topic (its leaders elected) holding these records, each batch one produce request. */
export async function createTopicWith(
  kafka: Kafka,
  topic: string,
  batches: ReadonlyArray<ReadonlyArray<Message>>,
  numPartitions = 1,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions }]);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (const messages of batches) await producer.send({ topic, acks: -1, messages: [...messages] });
  } finally {
    await producer.disconnect();
  }
}

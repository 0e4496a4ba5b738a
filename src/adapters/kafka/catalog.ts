import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { CATALOG_TOPIC } from './client';
import { ensureTopic } from './topics';

/** A descriptor in the catalog: JSON keyed by product id. The domain defines its exact shape. */
export type CatalogRecord = Readonly<{ productId: string } & Record<string, unknown>>;

/** The catalog is compacted: the newest descriptor per product id is the truth, forever. */
export async function ensureCatalogTopic(kafka: Kafka, topic = CATALOG_TOPIC): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(admin, { name: topic, partitions: 1, retentionMs: -1, cleanupPolicy: 'compact' });
  } finally {
    await admin.disconnect();
  }
}

export async function publishCatalogRecord(
  producer: Producer,
  record: CatalogRecord,
  topic = CATALOG_TOPIC,
): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: [{ key: record.productId, value: JSON.stringify(record) }],
  });
}

/**
 * Read the whole catalog up to its current end and keep the newest descriptor per product id.
 * Uses a throwaway consumer group, deleted afterwards, so nothing is left behind.
 */
export async function readCatalog(
  kafka: Kafka,
  options: { topic?: string; timeoutMs?: number } = {},
): Promise<Map<string, CatalogRecord>> {
  const topic = options.topic ?? CATALOG_TOPIC;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `_meshloop-catalog-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  const records = new Map<string, CatalogRecord>();
  try {
    if (!(await admin.listTopics()).includes(topic)) return records;
    const ends = new Map(
      (await admin.fetchTopicOffsets(topic)).map((p) => [
        p.partition,
        { low: BigInt(p.low), high: BigInt(p.high) },
      ]),
    );
    const remaining = new Set(
      [...ends].filter(([, range]) => range.high > range.low).map(([partition]) => partition),
    );
    if (remaining.size === 0) return records;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`reading the catalog topic ${topic} took over ${options.timeoutMs ?? 30_000} ms`)),
        options.timeoutMs ?? 30_000,
      );
      consumer
        .run({
          eachMessage: ({ partition, message }) => {
            const key = message.key?.toString();
            if (key) {
              if (message.value === null) records.delete(key);
              else records.set(key, JSON.parse(message.value.toString()) as CatalogRecord);
            }
            if (BigInt(message.offset) + 1n >= (ends.get(partition)?.high ?? 0n)) remaining.delete(partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
    return records;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

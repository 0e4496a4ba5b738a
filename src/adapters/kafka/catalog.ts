import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { descriptorVersion } from '../../domain/catalog';
import type { Logger } from '../../log';
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
 * One catalog record as read: a JSON object with a `productId`, or undefined when it is not one
 * (records are untrusted: anyone who can write the topic can write anything).
 */
export function decodeCatalogRecord(value: Buffer): CatalogRecord | undefined {
  let decoded: unknown;
  try {
    decoded = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) return undefined;
  const productId = (decoded as { productId?: unknown }).productId;
  return typeof productId === 'string' && productId !== '' ? (decoded as CatalogRecord) : undefined;
}

/**
 * Keep the newest descriptor: the highest version wins, and among equal versions the later record
 * (a late attempt of an older publish cannot replace a newer descriptor).
 */
export function keepNewest(records: Map<string, CatalogRecord>, key: string, record: CatalogRecord): void {
  const current = records.get(key);
  if (current === undefined || descriptorVersion(record) >= descriptorVersion(current))
    records.set(key, record);
}

export type CatalogReadOptions = { topic?: string; timeoutMs?: number; log?: Logger };

/**
 * Read the whole catalog up to its current end and keep the newest descriptor per product id.
 * Unreadable records are counted and skipped with a log line naming their offset.
 * Uses a throwaway consumer group, deleted afterwards, so nothing is left behind.
 */
export async function readCatalog(
  kafka: Kafka,
  options: CatalogReadOptions = {},
): Promise<Map<string, CatalogRecord>> {
  return (await readCatalogRecords(kafka, options)).records;
}

export async function readCatalogRecords(
  kafka: Kafka,
  options: CatalogReadOptions = {},
): Promise<{ records: Map<string, CatalogRecord>; unreadable: number }> {
  const topic = options.topic ?? CATALOG_TOPIC;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `_meshloop-catalog-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  const records = new Map<string, CatalogRecord>();
  let unreadable = 0;
  try {
    if (!(await admin.listTopics()).includes(topic)) return { records, unreadable };
    const ends = new Map(
      (await admin.fetchTopicOffsets(topic)).map((p) => [
        p.partition,
        { low: BigInt(p.low), high: BigInt(p.high) },
      ]),
    );
    const remaining = new Set(
      [...ends].filter(([, range]) => range.high > range.low).map(([partition]) => partition),
    );
    if (remaining.size === 0) return { records, unreadable };
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
              else {
                const record = decodeCatalogRecord(message.value);
                if (record) keepNewest(records, key, record);
                else {
                  // Counted and skipped: one bad record must not stall retire and discovery.
                  unreadable++;
                  options.log?.warn('unreadable catalog record skipped', {
                    topic,
                    partition,
                    offset: message.offset,
                  });
                }
              }
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
    return { records, unreadable };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { CatalogDescriptor } from '../../domain/catalog';
import {
  CATALOG_SIGNATURE_PURPOSE,
  descriptorVersion,
  parseCatalogDescriptor,
  supersedes,
} from '../../domain/catalog';
import { CatalogView } from '../../domain/catalog-view';
import type { Logger } from '../../log';
import type { RecordKey } from '../../signing/record-key';
import { processRecordKey } from '../../signing/record-key';
import { CATALOG_TOPIC } from './client';
import { ensureTopic, fetchServedTopicOffsets } from './topics';

/**
 * One record of a compacted topic of JSON objects with a product id: what the topic owners and the
 * proposals ledger hold. Untrusted and untyped; catalog descriptors are read with `readCatalog`,
 * parsed, never as these.
 */
export type RawRecord = Readonly<{ productId: string } & Record<string, unknown>>;

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

/**
 * A record signed with the record key: its JSON with `signature` added last, over the Kafka key and
 * the JSON as written (a reader takes `signature` off, writes the rest again and checks the same text).
 */
export function signedRecordJson(
  purpose: string,
  key: string,
  record: Readonly<Record<string, unknown>>,
  recordKey: RecordKey,
): string {
  const { signature: _old, ...rest } = record;
  const body = JSON.stringify(rest);
  const signature = recordKey.sign(purpose, `${key}\n${body}`);
  return JSON.stringify({ ...(JSON.parse(body) as object), signature });
}

/** Was this decoded JSON object signed by the record key, for this Kafka key and purpose? */
export function hasValidSignature(
  purpose: string,
  key: string,
  value: unknown,
  recordKey: RecordKey,
): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { signature, ...rest } = value as Record<string, unknown>;
  return recordKey.verify(purpose, `${key}\n${JSON.stringify(rest)}`, signature);
}

/** Publish a descriptor under its product id, signed with the worker's record key. */
export async function publishCatalogRecord(
  producer: Producer,
  record: CatalogDescriptor,
  topic = CATALOG_TOPIC,
  recordKey: RecordKey = processRecordKey(),
): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: [
      {
        key: record.productId,
        value: signedRecordJson(CATALOG_SIGNATURE_PURPOSE, record.productId, record, recordKey),
      },
    ],
  });
}

/** What one record decodes to: a value, or why it is skipped. */
export type Decoded<T> = Readonly<{ ok: true; value: T }> | Readonly<{ ok: false; problem: string }>;

function decodeJson(value: Buffer): Decoded<unknown> {
  try {
    return { ok: true, value: JSON.parse(value.toString('utf8')) };
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
}

/** A JSON object with a non-empty `productId` (any other record is skipped). */
export function decodeRawRecord(value: Buffer): Decoded<RawRecord> {
  const json = decodeJson(value);
  if (!json.ok) return json;
  const decoded = json.value;
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded))
    return { ok: false, problem: 'not a JSON object' };
  const productId: unknown = (decoded as { productId?: unknown }).productId;
  return typeof productId === 'string' && productId !== ''
    ? { ok: true, value: { ...decoded, productId } }
    : { ok: false, problem: 'no productId' };
}

/** Why a record is ignored when the record key did not sign it (counted apart from unreadable ones). */
export const UNSIGNED_PROBLEM =
  'not signed by the worker’s record key (written by hand, forged, or signed with another key)';

/**
 * A catalog descriptor signed by the record key, parsed, under its own product id as the key (any
 * other record is skipped: one written by hand proves nothing, whatever its version says).
 */
export function decodeCatalogDescriptor(
  key: string,
  value: Buffer,
  recordKey: RecordKey,
): Decoded<CatalogDescriptor> {
  const json = decodeJson(value);
  if (!json.ok) return json;
  if (!hasValidSignature(CATALOG_SIGNATURE_PURPOSE, key, json.value, recordKey))
    return { ok: false, problem: UNSIGNED_PROBLEM };
  const parsed = parseCatalogDescriptor(json.value);
  if (!parsed.ok) return parsed;
  return parsed.descriptor.productId === key
    ? { ok: true, value: parsed.descriptor }
    : { ok: false, problem: `the descriptor of ${parsed.descriptor.productId} under the key ${key}` };
}

/**
 * The newest record per key, fed one message at a time: a tombstone removes the key; a record that
 * does not decode (or is not signed, where records must be) is skipped and counted (it neither
 * replaces nor removes what the key holds); a record replaces the one held when `replaces` says so
 * (for descriptors: a later run, or the same run and a version at least as high, so a late attempt
 * of an older publish cannot replace a newer descriptor).
 */
export class NewestByKey<T> {
  readonly records = new Map<string, T>();
  skipped = 0;
  /** Of the skipped, those that were not signed by the record key. */
  unsigned = 0;

  constructor(
    private readonly decode: (key: string, value: Buffer) => Decoded<T>,
    private readonly replaces: (next: T, current: T) => boolean,
  ) {}

  /** Undefined when taken (or a tombstone, or keyless); else why the record was skipped. */
  add(key: string | undefined, value: Buffer | null): string | undefined {
    if (!key) return undefined;
    if (value === null) {
      this.records.delete(key);
      return undefined;
    }
    const decoded = this.decode(key, value);
    if (!decoded.ok) {
      this.skipped++;
      if (decoded.problem === UNSIGNED_PROBLEM) this.unsigned++;
      return decoded.problem;
    }
    const current = this.records.get(key);
    if (current === undefined || this.replaces(decoded.value, current)) this.records.set(key, decoded.value);
    return undefined;
  }
}

export type CatalogReadOptions = {
  topic?: string;
  timeoutMs?: number;
  log?: Logger;
  /** Verifies the records (default: this process's record key, from MESHLOOP_RECORD_KEY_FILE). */
  recordKey?: RecordKey;
};

/**
 * The catalog as read: one view over the parsed descriptors, how many records were skipped, and how
 * many of those were skipped because the record key did not sign them.
 */
export type CatalogRead = Readonly<{ view: CatalogView; skipped: number; unsigned: number }>;

/**
 * Read the whole catalog up to its current end: the newest signed descriptor per product id, parsed.
 * Records that are not descriptors, or that the worker's record key did not sign, are skipped,
 * counted and logged (one bad record must not stall retire and discovery, nor be taken for a product).
 */
export async function readCatalog(kafka: Kafka, options: CatalogReadOptions = {}): Promise<CatalogRead> {
  const recordKey = options.recordKey ?? processRecordKey();
  const newest = new NewestByKey(
    (key: string, value: Buffer) => decodeCatalogDescriptor(key, value, recordKey),
    supersedes,
  );
  await readToEnd(kafka, options, newest);
  if (newest.skipped > 0)
    options.log?.warn('catalog records skipped', {
      topic: options.topic ?? CATALOG_TOPIC,
      skipped: newest.skipped,
      unsigned: newest.unsigned,
    });
  return {
    view: new CatalogView(newest.records.values()),
    skipped: newest.skipped,
    unsigned: newest.unsigned,
  };
}

/**
 * Read a compacted topic of JSON objects with a product id (the topic owners, the proposals ledger)
 * up to its current end, keeping the newest record per key; unreadable records are counted and
 * skipped. Not for the catalog: its descriptors are read parsed, with `readCatalog`.
 */
export async function readCompactedRecords(
  kafka: Kafka,
  options: CatalogReadOptions & {
    /** Records must carry the record key's signature for this purpose (the topic claims do). */
    signedFor?: string;
  } = {},
): Promise<{ records: Map<string, RawRecord>; unreadable: number; unsigned: number }> {
  const { signedFor } = options;
  const recordKey = signedFor !== undefined ? (options.recordKey ?? processRecordKey()) : undefined;
  const decode = (key: string, value: Buffer): Decoded<RawRecord> => {
    const decoded = decodeRawRecord(value);
    if (decoded.ok && signedFor !== undefined && recordKey)
      if (!hasValidSignature(signedFor, key, decoded.value, recordKey))
        return { ok: false, problem: UNSIGNED_PROBLEM };
    return decoded;
  };
  const newest = new NewestByKey(
    decode,
    (next: RawRecord, current: RawRecord) => descriptorVersion(next) >= descriptorVersion(current),
  );
  await readToEnd(kafka, options, newest);
  return { records: newest.records, unreadable: newest.skipped, unsigned: newest.unsigned };
}

/**
 * Feed every record of the topic up to its current end to `newest`, logging each skipped one with
 * its offset. Uses a throwaway consumer group, deleted afterwards, so nothing is left behind.
 */
async function readToEnd<T>(
  kafka: Kafka,
  options: CatalogReadOptions,
  newest: NewestByKey<T>,
): Promise<void> {
  const topic = options.topic ?? CATALOG_TOPIC;
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `_meshloop-catalog-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, readUncommitted: false });
  try {
    if (!(await admin.listTopics()).includes(topic)) return;
    const ends = new Map(
      (await fetchServedTopicOffsets(admin, topic)).map((p) => [
        p.partition,
        { low: BigInt(p.low), high: BigInt(p.high) },
      ]),
    );
    const remaining = new Set(
      [...ends].filter(([, range]) => range.high > range.low).map(([partition]) => partition),
    );
    if (remaining.size === 0) return;
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
            const problem = newest.add(message.key?.toString(), message.value);
            if (problem !== undefined)
              options.log?.warn('unreadable catalog record skipped', {
                topic,
                partition,
                offset: message.offset,
                problem,
              });
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
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

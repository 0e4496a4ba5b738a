import type { Kafka, Message, Producer } from 'kafkajs';
import type { SchemaRegistryConfig } from '../config';
import { createIdempotentProducer } from '../adapters/kafka/producer';
import type { SeedRecord, SeedTopicName } from './generator';
import { generateSeedRecords } from './generator';
import type { RegistryRecord, RegistryTopicName } from './registry-generator';
import { generateRegistryRecords } from './registry-generator';
import { createRegistryEncoder, ensureRegistryTopics } from './registry-seed';
import { ensureSeedTopics } from './seed';

/**
 * The live demo feed: the demo domains' records at a low rate, with event times now, for as long as
 * it runs, so products stay fresh, windows close and tables grow. The same generators as the seed
 * (joinable ids, the occasional malformed click, inventory's schema drift), paced by event time:
 * each record is sent when the clock reaches its event time.
 */

export type FeedOptions = Readonly<{
  /** Records per second, about (default 4). */
  rate?: number;
  /**
   * The PRNG seed; its ids carry it, so a feed never repeats the ids of the seed or of an earlier
   * feed. Default: from the clock (a new one at every start).
   */
  seed?: number;
  topicPrefix?: string;
  only?: readonly SeedTopicName[];
  /** Also the Avro and Protobuf domains, through this Schema Registry (a share of the rate). */
  registry?: SchemaRegistryConfig;
  registryOnly?: readonly RegistryTopicName[];
  /** Stops the feed (what it holds is sent first). */
  signal?: AbortSignal;
  progress?: (progress: FeedProgress) => void;
  progressEveryMs?: number;
}>;

export type FeedProgress = Readonly<{
  sent: number;
  malformed: number;
  byTopic: Readonly<Record<string, number>>;
  /** Event time of the newest record sent, epoch ms. */
  newestEventTime?: number;
  elapsedMs: number;
}>;

export const DEFAULT_FEED_RATE = 4;
/** The share of the rate the registry domains get when they are fed. */
const REGISTRY_SHARE = 0.15;
/**
 * Records per new event in the JSON stream in the long run (payments and shipments follow orders),
 * and the mean gap between new events at gapScale 1 (ms): together they give the gap scale of a rate.
 */
const RECORDS_PER_EVENT = 1.35;
const MEAN_GAP_MS = 62.5;
const REGISTRY_MEAN_GAP_MS = 310;
/** Send what is due at least this often. */
const FLUSH_EVERY_MS = 500;

/** A seed no earlier start used: seconds since 2026, so ids differ from the seed's and each other's. */
export const feedSeedNow = (now = Date.now()) => Math.max(1, Math.floor((now - Date.UTC(2026, 0, 1)) / 1000));

type Due = { topic: string; eventTime: number; message: () => Promise<Message>; malformed: boolean };

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Two event-time-ordered streams merged into one. */
function* merged(a: Iterator<Due>, b: Iterator<Due> | undefined): Generator<Due, void> {
  let left = a.next();
  let right = b?.next();
  while (!left.done || (right && !right.done)) {
    if (right && !right.done && (left.done || right.value.eventTime < left.value.eventTime)) {
      yield right.value;
      right = b!.next();
    } else if (!left.done) {
      yield left.value;
      left = a.next();
    }
  }
}

function* jsonDue(records: Generator<SeedRecord, void>): Generator<Due, void> {
  for (const record of records)
    yield {
      topic: record.topic,
      eventTime: record.eventTime,
      malformed: record.malformed === true,
      message: () =>
        Promise.resolve({
          key: record.key,
          value: record.value,
          ...(record.partition === undefined ? {} : { partition: record.partition }),
        }),
    };
}

function* registryDue(
  records: Generator<RegistryRecord, void>,
  encode: (record: RegistryRecord) => Promise<Buffer>,
): Generator<Due, void> {
  for (const record of records)
    yield {
      topic: record.topic,
      eventTime: record.eventTime,
      malformed: false,
      message: async () => ({ key: record.key, value: await encode(record) }),
    };
}

async function send(producer: Producer, due: readonly Due[]): Promise<void> {
  const batch = new Map<string, Message[]>();
  for (const item of due) {
    const messages = batch.get(item.topic) ?? [];
    messages.push(await item.message());
    batch.set(item.topic, messages);
  }
  await producer.sendBatch({
    acks: -1,
    topicMessages: [...batch.entries()].map(([topic, messages]) => ({ topic, messages })),
  });
}

/** The records to feed, JSON and (when asked) registry ones, in event-time order from `began`. */
async function feedStream(kafka: Kafka, options: FeedOptions, rate: number) {
  const registry = options.registryOnly?.length === 0 ? undefined : options.registry;
  const jsonRate = registry ? rate * (1 - REGISTRY_SHARE) : rate;
  await ensureSeedTopics(kafka, options);
  let encode: ((record: RegistryRecord) => Promise<Buffer>) | undefined;
  if (registry) {
    await ensureRegistryTopics(kafka, { topicPrefix: options.topicPrefix, only: options.registryOnly });
    encode = await createRegistryEncoder(registry);
  }
  // Event time starts once the topics are there: nothing is due in a burst.
  const began = Date.now();
  const seed = options.seed ?? feedSeedNow(began);
  const json = jsonDue(
    generateSeedRecords({
      seed,
      startTime: began,
      topicPrefix: options.topicPrefix,
      only: options.only,
      gapScale: (1000 * RECORDS_PER_EVENT) / jsonRate / MEAN_GAP_MS,
    }),
  );
  if (!encode) return { began, stream: merged(json, undefined) };
  const records = generateRegistryRecords({
    seed,
    startTime: began,
    topicPrefix: options.topicPrefix,
    only: options.registryOnly,
    gapScale: 1000 / (rate * REGISTRY_SHARE) / REGISTRY_MEAN_GAP_MS,
  });
  return { began, stream: merged(json, registryDue(records, encode)) };
}

/** Sends what it holds as one batch and counts it. */
class Tally {
  sent = 0;
  malformed = 0;
  byTopic: Record<string, number> = {};
  newestEventTime: number | undefined;
  private held: Due[] = [];
  constructor(
    private readonly producer: Producer,
    private readonly began: number,
  ) {}

  hold(item: Due): void {
    this.held.push(item);
  }

  get holding(): number {
    return this.held.length;
  }

  async flush(): Promise<void> {
    if (this.held.length === 0) return;
    const due = this.held.splice(0);
    await send(this.producer, due);
    for (const item of due) {
      this.byTopic[item.topic] = (this.byTopic[item.topic] ?? 0) + 1;
      if (item.malformed) this.malformed++;
      this.newestEventTime = Math.max(this.newestEventTime ?? 0, item.eventTime);
    }
    this.sent += due.length;
  }

  progress(): FeedProgress {
    return {
      sent: this.sent,
      malformed: this.malformed,
      byTopic: { ...this.byTopic },
      ...(this.newestEventTime === undefined ? {} : { newestEventTime: this.newestEventTime }),
      elapsedMs: Date.now() - this.began,
    };
  }
}

/**
 * Feed the demo topics until `signal` aborts: about `rate` records a second, event times now. The
 * topics are created when missing. Returns what was sent.
 */
export async function feedKafka(kafka: Kafka, options: FeedOptions = {}): Promise<FeedProgress> {
  const rate = options.rate ?? DEFAULT_FEED_RATE;
  if (!(rate > 0) || rate > 10_000)
    throw new Error(`the feed's rate must be above 0 and at most 10000, not ${rate}`);
  const { began, stream } = await feedStream(kafka, options, rate);
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const tally = new Tally(producer, began);
  const everyMs = options.progressEveryMs ?? 10_000;
  const aborted = () => options.signal?.aborted === true;
  let lastReport = Date.now();
  let lastFlush = Date.now();
  try {
    for (const item of stream) {
      const wait = item.eventTime - Date.now();
      if (wait > 0) {
        await tally.flush();
        lastFlush = Date.now();
        await sleep(wait, options.signal);
      }
      if (aborted()) break;
      tally.hold(item);
      if (Date.now() - lastFlush >= FLUSH_EVERY_MS || tally.holding >= 500) {
        await tally.flush();
        lastFlush = Date.now();
      }
      if (Date.now() - lastReport >= everyMs) {
        lastReport = Date.now();
        options.progress?.(tally.progress());
      }
    }
    await tally.flush();
    return tally.progress();
  } finally {
    await producer.disconnect();
  }
}

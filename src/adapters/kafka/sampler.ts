import { randomUUID } from 'node:crypto';
import type { Batch, Kafka } from 'kafkajs';
import { isInternalTopic } from './client';
import { fetchServedTopicOffsets } from './topics';

/** One sampled record, as raw as Kafka gives it: parsing is the profiler's job. */
export type SampledMessage = Readonly<{
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Broker timestamp, epoch ms. */
  timestamp: number;
}>;

export type SampleLimits = Readonly<{
  /** Per topic: at most this many messages, the newest ones. */
  maxMessages: number;
  /** Per topic: stop once this many bytes (keys + values) were read. */
  maxBytes: number;
  /** For the whole call: stop reading when this much time has passed. */
  deadlineMs: number;
}>;

export type SampleStopReason = 'complete' | 'messageLimit' | 'byteLimit' | 'deadline' | 'empty';

export type TopicSample = Readonly<{
  topic: string;
  messages: number;
  bytes: number;
  partitions: number;
  /** Messages in the topic between the low and high watermarks when sampling began. */
  available: number;
  stoppedBy: SampleStopReason;
}>;

export type SampleProgress = Readonly<{ topic: string; messages: number; bytes: number }>;

/** Topics that hold domain data: not Kafka's own (`__…`) and not Meshloop's (`_meshloop.…`). */
export async function listDataTopics(kafka: Kafka): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((topic) => !isInternalTopic(topic)).sort();
  } finally {
    await admin.disconnect();
  }
}

type PartitionPlan = { partition: number; start: bigint; end: bigint; done: boolean };
type TopicPlan = {
  topic: string;
  partitions: Map<number, PartitionPlan>;
  available: number;
  messages: number;
  bytes: number;
  stoppedBy?: SampleStopReason;
};

/**
 * Split a message budget over partitions, newest first: each partition gets an equal share, and
 * what a short partition cannot use goes to the others.
 */
export function planPartitionStarts(
  ranges: ReadonlyArray<{ partition: number; low: bigint; high: bigint }>,
  maxMessages: number,
): Map<number, bigint> {
  const take = new Map<number, bigint>(ranges.map((r) => [r.partition, 0n]));
  let budget = BigInt(maxMessages);
  let open = ranges.filter((r) => r.high > r.low);
  while (budget > 0n && open.length > 0) {
    const share = budget / BigInt(open.length) || 1n;
    const stillOpen: typeof open = [];
    for (const range of open) {
      if (budget === 0n) break;
      const taken = take.get(range.partition) ?? 0n;
      const room = range.high - range.low - taken;
      const grant = [share, room, budget].reduce((a, b) => (a < b ? a : b));
      take.set(range.partition, taken + grant);
      budget -= grant;
      if (room > grant) stillOpen.push(range);
    }
    open = stillOpen;
  }
  return new Map(ranges.map((r) => [r.partition, r.high - (take.get(r.partition) ?? 0n)]));
}

/**
 * Read a bounded sample of each topic: the newest `maxMessages` per topic (spread over its
 * partitions), no more than `maxBytes` per topic, all within `deadlineMs`. One consumer in a
 * throwaway group (deleted afterwards) seeks every partition to its start offset, so nothing is
 * committed and no real consumer group is disturbed. Messages stream to `onMessages` batch by
 * batch; nothing is kept here.
 */
export async function sampleTopics(
  kafka: Kafka,
  topics: readonly string[],
  limits: SampleLimits,
  handlers: {
    /** May return a promise: sampling waits for it (backpressure from a slower profiler). */
    onMessages: (topic: string, messages: readonly SampledMessage[]) => void | Promise<void>;
    onProgress?: (progress: readonly SampleProgress[]) => void;
    progressEveryMs?: number;
  },
): Promise<TopicSample[]> {
  const began = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `_meshloop-sampler-${randomUUID()}`;
  const plans = new Map<string, TopicPlan>();
  try {
    for (const topic of topics) {
      const ranges = (await fetchServedTopicOffsets(admin, topic)).map((p) => ({
        partition: p.partition,
        low: BigInt(p.low),
        high: BigInt(p.high),
      }));
      const starts = planPartitionStarts(ranges, limits.maxMessages);
      const partitions = new Map<number, PartitionPlan>();
      let available = 0;
      for (const range of ranges) {
        const start = starts.get(range.partition) ?? range.high;
        available += Number(range.high - range.low);
        partitions.set(range.partition, {
          partition: range.partition,
          start,
          end: range.high,
          done: start >= range.high,
        });
      }
      plans.set(topic, { topic, partitions, available, messages: 0, bytes: 0 });
    }
    const pending = () =>
      [...plans.values()].some((plan) => [...plan.partitions.values()].some((p) => !p.done));
    if (pending()) await consume(kafka, groupId, plans, limits, handlers, began, pending);
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
  return [...plans.values()].map((plan) => {
    const unfinished = [...plan.partitions.values()].some((p) => !p.done);
    const stoppedBy: SampleStopReason =
      plan.stoppedBy ??
      (unfinished
        ? 'deadline'
        : plan.available === 0
          ? 'empty'
          : plan.messages >= limits.maxMessages
            ? 'messageLimit'
            : 'complete');
    return {
      topic: plan.topic,
      messages: plan.messages,
      bytes: plan.bytes,
      partitions: plan.partitions.size,
      available: plan.available,
      stoppedBy,
    };
  });
}

/** The batch's records from the partition's start, within the limits; marks where the plan stops. */
function takeFrom(
  batch: Pick<Batch, 'partition' | 'messages'>,
  plan: TopicPlan,
  part: PartitionPlan,
  limits: SampleLimits,
): { taken: SampledMessage[]; lastTaken?: string; lastRead?: string } {
  const taken: SampledMessage[] = [];
  // Offsets as numbers in the hot loop (exact below 2^53, which no real partition reaches).
  const start = Number(part.start);
  const end = Number(part.end);
  let lastTaken: string | undefined;
  let lastRead: string | undefined;
  for (const message of batch.messages) {
    const offset = Number(message.offset);
    if (offset < start) {
      lastRead = message.offset;
      continue;
    }
    if (offset >= end || plan.messages >= limits.maxMessages) {
      part.done = true;
      break;
    }
    if (plan.bytes >= limits.maxBytes) {
      plan.stoppedBy = 'byteLimit';
      for (const p of plan.partitions.values()) p.done = true;
      break;
    }
    plan.messages++;
    plan.bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
    taken.push({
      partition: batch.partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      timestamp: Number(message.timestamp),
    });
    lastTaken = lastRead = message.offset;
    if (offset + 1 >= end) part.done = true;
  }
  return { taken, lastTaken, lastRead };
}

async function consume(
  kafka: Kafka,
  groupId: string,
  plans: Map<string, TopicPlan>,
  limits: SampleLimits,
  handlers: Parameters<typeof sampleTopics>[3],
  began: number,
  pending: () => boolean,
): Promise<void> {
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    // Product topics are written in transactions: only committed records (and the committed end,
    // which fetchTopicOffsets reports) are profiled.
    readUncommitted: false,
    // Large poison records must not stall a partition: a fetch may return up to 8 MB per partition.
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxWaitTimeInMs: 250,
    sessionTimeout: 30_000,
    rebalanceTimeout: 10_000,
  });
  await consumer.connect();
  let lastProgress = Date.now();
  const progress = () =>
    handlers.onProgress?.(
      [...plans.values()].map((plan) => ({ topic: plan.topic, messages: plan.messages, bytes: plan.bytes })),
    );
  try {
    const active = [...plans.values()].filter((plan) => [...plan.partitions.values()].some((p) => !p.done));
    await consumer.subscribe({ topics: active.map((plan) => plan.topic), fromBeginning: true });
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const timer = setTimeout(finish, Math.max(0, limits.deadlineMs - (Date.now() - began)));
    // kafkajs has no consumer group until the consumer has joined, and it rebuilds the group after
    // a crash (e.g. the coordinator of a fresh broker not ready yet): seeks wait for a join.
    let joins = 0;
    let joined: () => void = () => undefined;
    let nextJoin = new Promise<void>((resolve) => (joined = resolve));
    let seeked = false;
    const seekToStarts = () => {
      for (const plan of active) {
        for (const part of plan.partitions.values()) {
          if (part.done) consumer.pause([{ topic: plan.topic, partitions: [part.partition] }]);
          else consumer.seek({ topic: plan.topic, partition: part.partition, offset: part.start.toString() });
        }
      }
    };
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joins++;
      joined();
      // A rejoin (a rebalance mid-sample) starts from the group's offsets, and none are committed:
      // seek back to where each partition got to.
      if (!seeked) return;
      try {
        seekToStarts();
      } catch {
        // Without the seek the records before each start are read again and skipped (resolved).
      }
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const plan = plans.get(batch.topic);
        const part = plan?.partitions.get(batch.partition);
        if (!plan || !part || part.done || !payload.isRunning() || payload.isStale()) return;
        const { taken, lastTaken, lastRead } = takeFrom(batch, plan, part, limits);
        // Records skipped before the start (fetched again after a rejoin, or before a seek applied)
        // are resolved too: kafkajs fetches from the last resolved offset, so leaving them
        // unresolved would fetch the same records again and again until the deadline.
        if (lastRead !== undefined) payload.resolveOffset(lastRead);
        // Nothing is committed: after a rejoin the group fetches these records again; skip them.
        if (lastTaken !== undefined) part.start = BigInt(lastTaken) + 1n;
        // Offsets may have gaps (compaction, transaction markers): the batch's end counts too.
        if (batch.messages.length > 0 && BigInt(batch.lastOffset()) + 1n >= part.end) part.done = true;
        if (taken.length > 0) await handlers.onMessages(batch.topic, taken);
        if (plan.messages >= limits.maxMessages) for (const p of plan.partitions.values()) p.done = true;
        if (Date.now() - lastProgress >= (handlers.progressEveryMs ?? 1000)) {
          lastProgress = Date.now();
          progress();
        }
        if (part.done) consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
        if (!pending()) finish();
        await payload.heartbeat();
      },
    });
    // Seeks after the join: kafkajs applies them before the next fetch of each partition (records
    // before the start offset that were already fetched are skipped by the offset check above).
    for (let attempt = 1; ; attempt++) {
      if (joins === 0) await nextJoin;
      try {
        seekToStarts();
        seeked = true;
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        joins = 0;
        nextJoin = new Promise<void>((resolve) => (joined = resolve));
      }
    }
    await finished;
    clearTimeout(timer);
    progress();
  } finally {
    await consumer.disconnect();
  }
}

/**
 * bench/profile: how fast discovery samples and profiles a topic, against plain kafkajs consumption
 * of the same topic in the same run. Produces the topic first when it is not there yet
 * (BENCH_RECORDS click records from the seed generator, 1,000,000 by default), then reads it: once
 * plain and once profiled to warm the broker and each path's code up (not counted), then plain
 * kafkajs and profiled (as discovery does, with a profiling thread) alternating, BENCH_READS times
 * each (default 3), then profiled on one thread; the ratio is the median profiled read's throughput
 * over the median plain read's. Peak RSS and heap are sampled every
 * 50 ms. Where the time goes: CPU time per record of each read (all threads), how busy the
 * consumer's thread and the profiling thread were, and the profiler's stages timed one by one on
 * the topic's first 100,000 records held in memory (packing for the thread, record ids, reading
 * records from their bytes or with JSON.parse, statistics).
 *
 * The reads run the sampler and profiler compiled to dist/, as `bin/meshloop` runs them
 * (BENCH_SOURCES=1: the TypeScript sources through tsx).
 *
 *   BENCH_RECORDS=1000000 npm run bench:profile -- [--messages N] [--topic bench.profile-clicks-N]
 *
 * Uses the Kafka that MESHLOOP_KAFKA_PORT points at (`bin/meshloop stack up`, or a test platform).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { loadConfig } from '../../src/config';
import type { ProfiledMessage } from '../../src/profile';
import type * as ProfileModule from '../../src/profile';
import type * as SamplerModule from '../../src/adapters/kafka/sampler';
import type * as ThreadedModule from '../../src/profile/threaded';
import { RecordScanner, Staged } from '../../src/profile/scan';
import { recordIdOf } from '../../src/profile/sketch';
import { packBatch } from '../../src/profile/threaded';
import { generateSeedRecords } from '../../src/seed/generator';

/**
 * The sampler and profiler the reads run: compiled to dist/ as `bin/meshloop` runs them (bin/build.mjs
 * compiles what changed first), or with BENCH_SOURCES=1 the TypeScript sources through tsx, whose
 * profiling thread then loads tsx and compiles its modules at every read (about 70 ms a read that
 * discovery does not pay).
 */
const fromSources = process.env.BENCH_SOURCES === '1';
const readPaths = fromSources
  ? 'the TypeScript sources (tsx)'
  : 'dist/ (compiled, as bin/meshloop runs them)';
const root = path.resolve(__dirname, '../..');
async function loadReadPaths() {
  if (!fromSources)
    execFileSync(process.execPath, [path.join(root, 'bin/build.mjs'), '--quiet'], { stdio: 'inherit' });
  const from = (sources: string, compiled: string) =>
    fromSources ? sources : path.join(root, 'dist', compiled);
  const sampler = (await import(
    from('../../src/adapters/kafka/sampler', 'src/adapters/kafka/sampler.js')
  )) as typeof SamplerModule;
  const profile = (await import(from('../../src/profile', 'src/profile/index.js'))) as typeof ProfileModule;
  const threaded = (await import(
    from('../../src/profile/threaded', 'src/profile/threaded.js')
  )) as typeof ThreadedModule;
  return {
    sampleTopics: sampler.sampleTopics,
    TopicProfiler: profile.TopicProfiler,
    ThreadedProfiler: threaded.ThreadedProfiler,
  };
}
let sampleTopics: typeof SamplerModule.sampleTopics;
let TopicProfiler: typeof ProfileModule.TopicProfiler;
let ThreadedProfiler: typeof ThreadedModule.ThreadedProfiler;

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const messages = Number(arg('messages', process.env.BENCH_RECORDS ?? '1000000'));
if (!Number.isSafeInteger(messages) || messages < 1000) {
  throw new Error(`BENCH_RECORDS / --messages must be a whole number ≥ 1000, not ${messages}`);
}
const topic = arg('topic', `bench.profile-clicks-${messages}`);
const say = (line: string) => process.stderr.write(`  … ${line}\n`);

async function countMessages(kafka: Kafka): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 3, replicationFactor: 1 }]);
      return 0;
    }
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function produce(kafka: Kafka, count: number): Promise<void> {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const began = Date.now();
  let sent = 0;
  let last = began;
  try {
    const records = generateSeedRecords({ only: ['clicks'], seed: 7 });
    const inFlight = new Set<Promise<unknown>>();
    while (sent < count) {
      const size = Math.min(5000, count - sent);
      const batch = [];
      for (let i = 0; i < size; i++) {
        const record = records.next().value;
        if (!record) break;
        batch.push({ key: record.key, value: record.value });
      }
      const send = producer.send({ topic, acks: 1, messages: batch }).finally(() => inFlight.delete(send));
      inFlight.add(send);
      if (inFlight.size >= 4) await Promise.race(inFlight);
      sent += size;
      if (Date.now() - last > 2000) {
        last = Date.now();
        say(`produced ${sent.toLocaleString('en')} / ${count.toLocaleString('en')}`);
      }
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  say(`produced ${count.toLocaleString('en')} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

type Peak = { rss: number; heap: number };
type Measured<T> = {
  result: T;
  ms: number;
  peak: Peak;
  cpuMs: number;
  mainBusyMs: number;
  /** Share of all cores' time the machine was busy (this process, the broker, anything else); Linux only. */
  machineBusy: number | undefined;
};

/** Busy and total CPU ticks of the whole machine (all cores), from /proc/stat; undefined elsewhere. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
    return { busy: total - fields[3]! - fields[4]!, total };
  } catch {
    return undefined;
  }
}
async function measure<T>(work: () => Promise<T>): Promise<Measured<T>> {
  global.gc?.();
  const peak: Peak = { rss: 0, heap: 0 };
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const sample = () => {
    const usage = process.memoryUsage();
    peak.rss = Math.max(peak.rss, usage.rss);
    peak.heap = Math.max(peak.heap, usage.heapUsed);
  };
  const timer = setInterval(sample, 50);
  const ticks = machineTicks();
  const began = process.hrtime.bigint();
  try {
    const result = await work();
    sample();
    const used = process.cpuUsage(cpu);
    const ticksAfter = machineTicks();
    return {
      result,
      ms: Number(process.hrtime.bigint() - began) / 1e6,
      peak,
      cpuMs: (used.user + used.system) / 1000,
      mainBusyMs: performance.eventLoopUtilization(elu).active,
      machineBusy:
        ticks && ticksAfter && ticksAfter.total > ticks.total
          ? (ticksAfter.busy - ticks.busy) / (ticksAfter.total - ticks.total)
          : undefined,
    };
  } finally {
    clearInterval(timer);
  }
}

/** Plain kafkajs: a fresh group reads the whole topic, touching each message's value. */
async function consumeRaw(kafka: Kafka, total: number): Promise<number> {
  const consumer = kafka.consumer({
    groupId: `bench-raw-${randomUUID()}`,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxWaitTimeInMs: 250,
  });
  await consumer.connect();
  let seen = 0;
  let bytes = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          for (const message of batch.messages) bytes += message.value?.length ?? 0;
          seen += batch.messages.length;
          if (seen >= total) resolve();
          return Promise.resolve();
        },
      });
    });
    return bytes;
  } finally {
    await consumer.disconnect();
  }
}

const STAGE_RECORDS = 100_000;
/** Raw and profiled reads, alternating, after one warm-up read of each; medians are reported. */
const READS = Math.max(1, Number(process.env.BENCH_READS ?? 3));

/** CPU µs per record of `work` over `records`, the best of three (the first warms the code up). */
function cpuPerRecord(records: number, work: () => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / records);
  }
  return Number(best.toFixed(3));
}

/** The profiler's stages one by one, on records held in memory (CPU µs per record). */
function stages(records: readonly ProfiledMessage[]) {
  const n = records.length;
  let sink = 0;
  const pack = cpuPerRecord(n, () => {
    for (let i = 0; i < n; i += 500) sink += packBatch('t', records.slice(i, i + 500)).count;
  });
  const recordId = cpuPerRecord(n, () => {
    for (const m of records) if (m.value) sink += recordIdOf(m.value, m.key);
  });
  const scanner = new RecordScanner(new Staged(), {
    flattenDepth: 3,
    maxNesting: 32,
    maxFieldNameLength: 128,
  });
  const readBytes = cpuPerRecord(n, () => {
    for (const m of records) if (m.value && scanner.scan(m.value)) sink++;
  });
  const readJsonParse = cpuPerRecord(n, () => {
    for (const m of records) {
      try {
        if (m.value && JSON.parse(m.value.toString('utf8'))) sink++;
      } catch {
        sink--;
      }
    }
  });
  const profile = (scanner: boolean) =>
    cpuPerRecord(n, () => {
      const profiler = new TopicProfiler('t', { scanner });
      profiler.addAll(records);
      sink += profiler.finish().records;
    });
  const profileBytes = profile(true);
  const profileJsonParse = profile(false);
  if (sink === 0) throw new Error('nothing was timed');
  return {
    records: n,
    packForThread: pack,
    recordId,
    readFromBytes: readBytes,
    readWithJsonParse: readJsonParse,
    statistics: Number(Math.max(0, profileBytes - readBytes - recordId).toFixed(3)),
    profile: profileBytes,
    profileWithJsonParse: profileJsonParse,
  };
}

async function main(): Promise<void> {
  ({ sampleTopics, TopicProfiler, ThreadedProfiler } = await loadReadPaths());
  say(`sampler and profiler from ${readPaths}`);
  const config = loadConfig();
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-profile' });
  const existing = await countMessages(kafka);
  if (existing < messages) await produce(kafka, messages - existing);
  const total = await countMessages(kafka);
  say(`topic ${topic}: ${total.toLocaleString('en')} messages`);

  const sampleAll = { maxMessages: total, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 30 * 60_000 };
  // What discovery does: sampling on this thread, parsing and statistics on a profiling thread.
  const profiledRead = () =>
    measure(async () => {
      const profiler = new ThreadedProfiler();
      const [sample] = await sampleTopics(kafka, [topic], sampleAll, {
        onMessages: (_topic, batch) => profiler.add(topic, batch),
      });
      const [profile] = await profiler.finish();
      if (!profile || !profiler.threaded) throw new Error('the profiling thread did not run');
      return { sample, profile, threadBusyMs: profiler.busyMs() };
    });
  // First reads warm the broker's page cache and each path's code up; they are not counted (the
  // first read of a path is slower than the rest: counting one path's first read flatters the other).
  const warm = await measure(() => consumeRaw(kafka, total));
  const warmProfiled = await profiledRead();
  say(
    `warm-up reads (not counted): raw ${(warm.ms / 1000).toFixed(2)} s, profiled ${(warmProfiled.ms / 1000).toFixed(2)} s`,
  );
  // Then the two alternate, READS times each; medians.
  const raws: Array<Measured<number>> = [];
  const profileds: Array<Awaited<ReturnType<typeof profiledRead>>> = [];
  for (let read = 0; read < READS; read++) {
    raws.push(await measure(() => consumeRaw(kafka, total)));
    say(`raw kafkajs: ${(raws.at(-1)!.ms / 1000).toFixed(2)} s`);
    profileds.push(await profiledRead());
    say(`sample + profile (profiling thread): ${(profileds.at(-1)!.ms / 1000).toFixed(2)} s`);
  }
  const medianBy = <T extends { ms: number }>(reads: T[]): T =>
    [...reads].sort((x, y) => x.ms - y.ms)[Math.floor(reads.length / 2)]!;
  const raw = medianBy(raws);
  const profiled = medianBy(profileds);
  // The same on one thread, for comparison.
  const inline = await measure(async () => {
    const profiler = new TopicProfiler(topic);
    await sampleTopics(kafka, [topic], sampleAll, { onMessages: (_topic, batch) => profiler.addAll(batch) });
    return profiler.finish();
  });
  say(`sample + profile (one thread): ${(inline.ms / 1000).toFixed(2)} s`);
  // The newest records, held in memory for the stage timings (read after the timed reads).
  const kept: ProfiledMessage[] = [];
  await sampleTopics(
    kafka,
    [topic],
    { maxMessages: STAGE_RECORDS, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 5 * 60_000 },
    { onMessages: (_topic, batch) => void kept.push(...batch) },
  );
  const stageTimes = stages(kept);
  say(`stages timed on ${kept.length.toLocaleString('en')} records in memory`);

  const rawRate = total / (raw.ms / 1000);
  const profiledRate = total / (profiled.ms / 1000);
  const { profile } = profiled.result;
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
  const share = (busy: number | undefined) =>
    busy === undefined ? undefined : `${Math.round(busy * 100)} %`;
  const perRecord = (ms: number) => Number(((ms * 1000) / total).toFixed(2));
  const report = {
    topic,
    messages: total,
    sampledAndProfiledBy: readPaths,
    profiledRecords: profile.records,
    unparseable: profile.unparseable.total,
    rawMessagesPerSecond: Math.round(rawRate),
    profiledMessagesPerSecond: Math.round(profiledRate),
    ratio: Number((profiledRate / rawRate).toFixed(3)),
    oneThreadMessagesPerSecond: Math.round(total / (inline.ms / 1000)),
    oneThreadRatio: Number((total / (inline.ms / 1000) / rawRate).toFixed(3)),
    cpus: os.cpus().length,
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(1))),
    // RSS includes the profiling thread; heap is the main thread's.
    peakRss: {
      raw: mb(Math.max(...raws.map((r) => r.peak.rss))),
      profiled: mb(profiled.peak.rss),
      oneThread: mb(inline.peak.rss),
    },
    peakHeap: {
      raw: mb(Math.max(...raws.map((r) => r.peak.heap))),
      profiled: mb(profiled.peak.heap),
      oneThread: mb(inline.peak.heap),
    },
    // Where the time goes, in µs per record: CPU of each read over all threads; how long the
    // consumer's thread (kafkajs, sampler, packing) and the profiling thread were busy during the
    // profiled read; and the profiler's stages on records in memory.
    cpuMicrosPerRecord: {
      raw: perRecord(raw.cpuMs),
      profiled: perRecord(profiled.cpuMs),
      oneThread: perRecord(inline.cpuMs),
    },
    busyMicrosPerRecord: {
      raw: perRecord(raw.mainBusyMs),
      profiledConsumerThread: perRecord(profiled.mainBusyMs),
      profilingThread: perRecord(profiled.result.threadBusyMs),
      oneThread: perRecord(inline.mainBusyMs),
    },
    stagesMicrosPerRecord: stageTimes,
    // How busy the whole machine was (all cores: this process, the broker, anything else) during the
    // median reads, and the ratio the profiled read would reach had it done the same CPU work with
    // every core busy throughout: when the profiled read keeps the machine near 100 %, the cores,
    // not waiting, bound the ratio.
    machineBusy: {
      raw: share(raw.machineBusy),
      profiled: share(profiled.machineBusy),
    },
    ratioIfEveryCoreBusy:
      profiled.machineBusy === undefined
        ? undefined
        : Number((raw.ms / (profiled.machineBusy * profiled.ms)).toFixed(3)),
    seconds: {
      raw: raws.map((r) => r.ms / 1000),
      profiled: profileds.map((r) => r.ms / 1000),
      warmUp: { raw: warm.ms / 1000, profiled: warmProfiled.ms / 1000 },
      oneThread: inline.ms / 1000,
    },
  };
  console.log(JSON.stringify(report, null, 2));
  if (profile.records !== total) {
    process.stderr.write(`profiled ${profile.records} records, expected ${total}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

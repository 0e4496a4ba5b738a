/**
 * bench/profile: how fast discovery samples and profiles a topic, against plain kafkajs consumption
 * of the same topic in the same run. Produces the topic first when it is not there yet (≥ 1,000,000
 * click records from the seed generator), then reads it: raw, profiled (as discovery does, with a
 * profiling thread), profiled on one thread, raw again; the ratio is profiled throughput over the
 * mean of the raw ones. Peak RSS and heap are sampled every 50 ms.
 *
 *   npm run bench:profile -- [--messages 1000000] [--topic bench.profile-clicks]
 *
 * Uses the Kafka that MESHLOOP_KAFKA_PORT points at (`bin/meshloop stack up`, or a test platform).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { sampleTopics } from '../../src/adapters/kafka/sampler';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { loadConfig } from '../../src/config';
import { TopicProfiler } from '../../src/profile';
import { ThreadedProfiler } from '../../src/profile/threaded';
import { generateSeedRecords } from '../../src/seed/generator';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const messages = Number(arg('messages', '1000000'));
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
async function measure<T>(work: () => Promise<T>): Promise<{ result: T; ms: number; peak: Peak }> {
  global.gc?.();
  const peak: Peak = { rss: 0, heap: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    peak.rss = Math.max(peak.rss, usage.rss);
    peak.heap = Math.max(peak.heap, usage.heapUsed);
  };
  const timer = setInterval(sample, 50);
  const began = process.hrtime.bigint();
  try {
    const result = await work();
    sample();
    return { result, ms: Number(process.hrtime.bigint() - began) / 1e6, peak };
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

async function main(): Promise<void> {
  const config = loadConfig();
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-profile' });
  const existing = await countMessages(kafka);
  if (existing < messages) await produce(kafka, messages - existing);
  const total = await countMessages(kafka);
  say(`topic ${topic}: ${total.toLocaleString('en')} messages`);

  const raw1 = await measure(() => consumeRaw(kafka, total));
  say(`raw kafkajs: ${(raw1.ms / 1000).toFixed(2)} s`);
  const sampleAll = { maxMessages: total, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 30 * 60_000 };
  // What discovery does: sampling on this thread, parsing and statistics on a profiling thread.
  const profiled = await measure(async () => {
    const profiler = new ThreadedProfiler();
    const [sample] = await sampleTopics(kafka, [topic], sampleAll, {
      onMessages: (_topic, batch) => profiler.add(topic, batch),
    });
    const [profile] = await profiler.finish();
    if (!profile || !profiler.threaded) throw new Error('the profiling thread did not run');
    return { sample, profile };
  });
  say(`sample + profile (profiling thread): ${(profiled.ms / 1000).toFixed(2)} s`);
  // The same on one thread, for comparison.
  const inline = await measure(async () => {
    const profiler = new TopicProfiler(topic);
    await sampleTopics(kafka, [topic], sampleAll, { onMessages: (_topic, batch) => profiler.addAll(batch) });
    return profiler.finish();
  });
  say(`sample + profile (one thread): ${(inline.ms / 1000).toFixed(2)} s`);
  const raw2 = await measure(() => consumeRaw(kafka, total));
  say(`raw kafkajs again: ${(raw2.ms / 1000).toFixed(2)} s`);

  const rawRate = (2 * total) / ((raw1.ms + raw2.ms) / 1000);
  const profiledRate = total / (profiled.ms / 1000);
  const { profile } = profiled.result;
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
  const report = {
    topic,
    messages: total,
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
      raw: mb(Math.max(raw1.peak.rss, raw2.peak.rss)),
      profiled: mb(profiled.peak.rss),
      oneThread: mb(inline.peak.rss),
    },
    peakHeap: {
      raw: mb(Math.max(raw1.peak.heap, raw2.peak.heap)),
      profiled: mb(profiled.peak.heap),
      oneThread: mb(inline.peak.heap),
    },
    seconds: {
      raw: [raw1.ms / 1000, raw2.ms / 1000],
      profiled: profiled.ms / 1000,
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

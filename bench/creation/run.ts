/**
 * bench/creation: end-to-end latency of product jobs on the real platform, each beside a plain
 * Flink Kafka → Kafka passthrough job measured in the same run (our machines are noisy: only the
 * ratios are comparable).
 *
 * For each job, one record every BENCH_INTERVAL_MS (default 100 ms) for BENCH_SECONDS (default 20 s)
 * into its input; a consumer on its output topic notes when each arrives. Latency: from just before
 * the produce call to the consumer receiving the row (p50, p95).
 *   1. passthrough: `INSERT INTO out SELECT payload FROM in` (raw bytes, no parsing): the baseline;
 *   2. a source-aligned product (typed projection with watermark, rejected-records branch), deployed
 *      as the creation agent deploys it (ProductJobs.deploy);
 *   3. a joined product (orders ⋈ payments, interval join ±1 h): an order, then its payment; the
 *      latency counts from the payment's produce (the join's output cannot exist before it).
 *
 *   npm run bench:creation
 *   BENCH_SECONDS=60 npm run bench:creation
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { FlinkRestClient, SqlGatewayClient } from '../../src/adapters/flink';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { ProductJobs } from '../../src/creation/product-jobs';
import { productJobConfig } from '../../src/creation/job-sql';
import type { InputBinding } from '../../src/domain/creation';
import { productIdOf, parseSpec } from '../../src/domain/spec';
import type { FieldType } from '../../src/domain/spec';
import { quoteLiteral } from '../../src/domain/flink-types';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const intervalMs = Number(process.env.BENCH_INTERVAL_MS ?? 100);
const out = (line: string) => process.stdout.write(`${line}\n`);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const runId = randomUUID().replace(/-/g, '').slice(0, 6);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

type Measured = Readonly<{ label: string; sent: number; seen: number; p50: number; p95: number }>;

async function createTopics(kafka: Kafka, topics: string[]) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTopicsAndAwaitLeaders(
      admin,
      topics.map((topic) => ({ topic, numPartitions: 1 })),
    );
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopics(kafka: Kafka, topics: string[]) {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}

/** Wait until every task of the job runs (a job is RUNNING before its tasks have their slots). */
async function tasksRunning(rest: FlinkRestClient, jobId: string) {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const detail = await rest.job(jobId);
    if (detail.state === 'RUNNING' && detail.vertices.every((v) => v.status === 'RUNNING')) return;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not running: ${detail.state}`);
    await delay(250);
  }
}

/**
 * Produce one record (or pair) every interval and time each until a row with its id is in `output`.
 * `send` calls `start(id)` just before the produce that makes the row possible.
 */
async function measure(
  kafka: Kafka,
  label: string,
  output: string,
  idOf: (value: string) => string | undefined,
  send: (i: number, producer: Producer, start: (id: string) => void) => Promise<void>,
): Promise<Measured> {
  const consumer = kafka.consumer({ groupId: `bench-creation-${randomUUID()}`, maxWaitTimeInMs: 50 });
  const sentAt = new Map<string, number>();
  const warmUp = new Set<string>();
  const latencies: number[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: output, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      const now = Date.now();
      const id = idOf(message.value?.toString() ?? '');
      if (id === undefined) return Promise.resolve();
      warmUp.delete(id);
      const began = sentAt.get(id);
      if (began !== undefined) {
        latencies.push(now - began);
        sentAt.delete(id);
      }
      return Promise.resolve();
    },
  });
  const producer = kafka.producer();
  await producer.connect();
  // A few records first, until they come out: every part of the pipeline has connected.
  for (let i = 0; i < 10; i++) await send(-1 - i, producer, (id) => warmUp.add(id));
  const warmDeadline = Date.now() + 120_000;
  while (warmUp.size > 0 && Date.now() < warmDeadline) await delay(100);
  if (warmUp.size > 0) throw new Error(`${label}: the warm-up records never came out`);
  let sent = 0;
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const next = Date.now() + intervalMs;
    await send(i, producer, (id) => sentAt.set(id, Date.now()));
    sent++;
    await delay(Math.max(0, next - Date.now()));
  }
  const drained = Date.now() + 30_000;
  while (sentAt.size > 0 && Date.now() < drained) await delay(100);
  await producer.disconnect();
  await consumer.disconnect();
  return {
    label,
    sent,
    seen: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
  };
}

async function main() {
  const config: MeshloopConfig = await testPlatform();
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-creation' });
  const gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, headers: config.flink.headers });
  const rest = new FlinkRestClient({ url: config.flink.restUrl, headers: config.flink.headers });
  const jobs = new ProductJobs({
    gateway,
    rest,
    kafka,
    connectors: config.flink,
    flinkUiUrl: config.flink.restUrl,
  });
  const topic = (name: string) => `bench.creation_${runId}.${name}`;
  const ordersTopic = topic('orders');
  const paymentsTopic = topic('payments');
  const passIn = topic('pass_in');
  const passOut = topic('pass_out');
  const started: string[] = [];
  const topics = [ordersTopic, paymentsTopic, passIn, passOut];
  await createTopics(kafka, topics);

  const order = (id: string, at: number) =>
    JSON.stringify({
      order_id: id,
      customer_id: `cus-${id}`,
      total_amount: 12.5,
      currency: 'EUR',
      order_ts: new Date(at).toISOString(),
    });
  const payment = (id: string, at: number) =>
    JSON.stringify({
      payment_id: `pay-${id}`,
      order_id: id,
      method: 'card',
      paid_at: new Date(at).toISOString(),
    });
  const orderBinding: InputBinding = {
    alias: 'orders',
    topic: ordersTopic,
    fields: [
      { name: 'order_id', type: 'string' },
      { name: 'customer_id', type: 'string' },
      { name: 'total_amount', type: 'double' },
      { name: 'currency', type: 'string' },
      { name: 'order_ts', type: 'timestamp' },
    ],
    eventTimeField: 'order_ts',
  };
  const paymentBinding: InputBinding = {
    alias: 'payments',
    topic: paymentsTopic,
    fields: [
      { name: 'payment_id', type: 'string' },
      { name: 'order_id', type: 'string' },
      { name: 'method', type: 'string' },
      { name: 'paid_at', type: 'timestamp' },
    ],
    eventTimeField: 'paid_at',
  };
  const spec = (
    name: string,
    fields: Array<{ name: string; type: FieldType; nullable?: boolean }>,
    sql: string,
    inputs: string[],
  ) =>
    parseSpec({
      name,
      domain: 'bench',
      owner: 'bench',
      kind: 'source-aligned',
      inputs: inputs.map((t) => ({ topic: t })),
      outputTopic: { name: topic(name), partitions: 1 },
      schema: { fields, eventTimeField: fields.at(-1)?.name },
      sql,
    });
  const results: Measured[] = [];
  const idFrom = (field: string) => (value: string) => {
    try {
      return (JSON.parse(value) as Record<string, string>)[field];
    } catch {
      return undefined;
    }
  };

  try {
    // 1. The baseline: raw bytes through, nothing parsed.
    const session = await gateway.openSession({ name: 'bench-passthrough', heartbeatIntervalMs: false });
    try {
      const table = (name: string, t: string) =>
        `CREATE TEMPORARY TABLE ${name} (payload STRING) WITH ('connector' = 'kafka', 'topic' = ${quoteLiteral(t)}, 'properties.bootstrap.servers' = ${quoteLiteral(config.flink.kafka.bootstrapServers)}, 'properties.group.id' = 'bench-pass-${runId}', 'scan.startup.mode' = 'earliest-offset', 'value.format' = 'raw')`;
      await session.configure(table('pass_in', passIn));
      await session.configure(table('pass_out', passOut));
      const { jobId } = await session.execute('INSERT INTO pass_out SELECT payload FROM pass_in', {
        executionConfig: productJobConfig(`bench-passthrough-${runId}`),
        timeoutMs: 120_000,
      });
      if (!jobId) throw new Error('the passthrough started no job');
      started.push(jobId);
      await tasksRunning(rest, jobId);
    } finally {
      await session.close().catch(() => undefined);
    }
    results.push(
      await measure(
        kafka,
        'Kafka → Kafka passthrough (baseline)',
        passOut,
        idFrom('order_id'),
        async (i, producer, start) => {
          const id = `pass-${i}`;
          start(id);
          await producer.send({ topic: passIn, acks: 1, messages: [{ value: order(id, Date.now()) }] });
        },
      ),
    );

    // 2. A source-aligned product, deployed as the creation agent deploys it.
    const projection = spec(
      `projection_${runId}`,
      [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'total_amount', type: 'double' },
        { name: 'order_ts', type: 'timestamp' },
      ],
      'SELECT order_id, total_amount, order_ts FROM orders',
      [ordersTopic],
    );
    await createTopics(kafka, [projection.outputTopic.name]);
    topics.push(projection.outputTopic.name, `${projection.outputTopic.name}.rejected`);
    const p = await jobs.deploy({
      productId: productIdOf(projection),
      revision: 1,
      spec: projection,
      inputs: [orderBinding],
    });
    started.push(p.jobId);
    await tasksRunning(rest, p.jobId);
    results.push(
      await measure(
        kafka,
        'source-aligned product (typed projection)',
        projection.outputTopic.name,
        idFrom('order_id'),
        async (i, producer, start) => {
          const id = `proj-${i}`;
          start(id);
          await producer.send({ topic: ordersTopic, acks: 1, messages: [{ value: order(id, Date.now()) }] });
        },
      ),
    );

    // 3. A joined product: each order, then its payment; timed from the payment.
    const joined = spec(
      `joined_${runId}`,
      [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'total_amount', type: 'double' },
        { name: 'payment_id', type: 'string' },
        { name: 'method', type: 'string' },
        { name: 'paid_at', type: 'timestamp' },
      ],
      `SELECT o.order_id, o.total_amount, p.payment_id, p.\`method\`, p.paid_at
FROM orders AS o JOIN payments AS p ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
      [ordersTopic, paymentsTopic],
    );
    await createTopics(kafka, [joined.outputTopic.name]);
    topics.push(joined.outputTopic.name, `${joined.outputTopic.name}.rejected`);
    const j = await jobs.deploy({
      productId: productIdOf(joined),
      revision: 1,
      spec: joined,
      inputs: [orderBinding, paymentBinding],
    });
    started.push(j.jobId);
    await tasksRunning(rest, j.jobId);
    results.push(
      await measure(
        kafka,
        'joined product (interval join)',
        joined.outputTopic.name,
        idFrom('order_id'),
        async (i, producer, start) => {
          const id = `join-${i}`;
          const at = Date.now();
          await producer.send({ topic: ordersTopic, acks: 1, messages: [{ value: order(id, at) }] });
          start(id);
          await producer.send({
            topic: paymentsTopic,
            acks: 1,
            messages: [{ value: payment(id, at + 1000) }],
          });
        },
      ),
    );
  } finally {
    for (const jobId of started) await rest.cancelJob(jobId).catch(() => undefined);
    await deleteTopics(kafka, topics);
  }

  const [baseline] = results;
  out(
    `\nproduce → visible in the output topic (${seconds} s at one record per ${intervalMs} ms each; 1 partition, parallelism 1)`,
  );
  for (const r of results) {
    out(
      `  ${r.label.padEnd(42)} p50 ${String(r.p50).padStart(5)} ms  p95 ${String(r.p95).padStart(5)} ms  (${r.seen}/${r.sent} seen)` +
        (baseline && r !== baseline
          ? `  ratio p50 ${(r.p50 / baseline.p50).toFixed(2)}, p95 ${(r.p95 / baseline.p95).toFixed(2)}`
          : ''),
    );
  }
}

main()
  .then(() => stopTestPlatform())
  .then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );

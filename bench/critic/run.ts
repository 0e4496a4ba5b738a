/**
 * bench/critic: the critic's cost estimate beside what Flink then shows for the running job.
 *
 * Orders stream into a fresh topic at BENCH_RATE records/s (default 20) with their event time now.
 * After BENCH_WARMUP_S (default 60 s) the critic previews and reviews a product over it (an
 * hourly-style rollup per channel, on a 10 s window so it emits while measured) and the product's
 * job is deployed as provisioning deploys it. Once it ran BENCH_RUN_S (default 60 s), the job is
 * looked at twice, 20 s apart: records in per second (the input topic's growth, which the job keeps
 * up with), records out per second (its output topic's growth), each Flink vertex's records read
 * and written per second (chained operators and pre-aggregation make these differ from the job's
 * in and out), and the last checkpoint's state size. Each estimate is printed beside its
 * measurement, with their ratio.
 *
 *   npm run bench:critic
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCriticActivities } from '../../activities/critic';
import { FlinkRestClient, SqlGatewayClient } from '../../src/adapters/flink';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { ProductJobs } from '../../src/creation/product-jobs';
import { inputBindingsOf } from '../../src/creation/inputs';
import { compactBytes } from '../../src/domain/critique';
import { productIdOf, parseSpec } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';

const rate = Number(process.env.BENCH_RATE ?? 20);
const warmupS = Number(process.env.BENCH_WARMUP_S ?? 60);
const runS = Number(process.env.BENCH_RUN_S ?? 60);
const out = (line: string) => process.stdout.write(`${line}\n`);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const run = randomUUID().replace(/-/g, '').slice(0, 6);

type Vertex = { name: string; metrics: Record<string, number> };

async function flinkJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

async function main(): Promise<void> {
  const config = await testPlatform();
  const log = createLogger('bench-critic', 'warn');
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-critic' });
  const domain = `bcr${run}`;
  const topic = `${domain}.orders_raw`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshloop-bench-critic-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  await writeFile(
    meshFile,
    `domains:\n  ${domain}:\n    approvers: [alice]\n    businessGoals: [Revenue per channel.]\n`,
  );
  const spec = parseSpec({
    name: 'revenue_10s',
    domain,
    owner: 'alice',
    description: 'Revenue per channel every 10 seconds (bench).',
    kind: 'aggregate',
    inputs: [
      {
        topic,
        as: 'orders',
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'channel', type: 'string' },
            { name: 'total_amount', type: 'double' },
            { name: 'order_ts', type: 'timestamp' },
          ],
          eventTimeField: 'order_ts',
        },
      },
    ],
    outputTopic: { partitions: 1 },
    schema: {
      fields: [
        { name: 'window_start', type: 'timestamp' },
        { name: 'channel', type: 'string' },
        { name: 'revenue', type: 'double' },
      ],
      key: [],
    },
    sql: `SELECT window_start, channel, SUM(total_amount) AS revenue
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, channel`,
  });
  const productId = productIdOf(spec);
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndAwaitLeaders(admin, [
    { topic, numPartitions: 1 },
    { topic: spec.outputTopic.name, numPartitions: 1 },
  ]);
  const producer = kafka.producer();
  await producer.connect();
  let sent = 0;
  const channels = ['web', 'app', 'partner'];
  const timer = setInterval(() => {
    const i = sent++;
    const value = {
      order_id: `o-${i}`,
      channel: channels[i % 3],
      total_amount: 10 + (i % 50),
      order_ts: new Date().toISOString(),
    };
    void producer
      .send({ topic, messages: [{ key: value.order_id, value: JSON.stringify(value) }] })
      .catch(() => undefined);
  }, 1000 / rate);
  const gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
  const rest = new FlinkRestClient({ url: config.flink.restUrl });
  const jobs = new ProductJobs({
    gateway,
    rest,
    kafka,
    connectors: config.flink,
    flinkUiUrl: config.flink.restUrl,
    log,
  });
  let jobId: string | undefined;
  try {
    out(`streaming ${rate} orders/s into ${topic}; warming up ${warmupS} s`);
    await delay(warmupS * 1000);
    const critic = createCriticActivities({ kafka, gateway, connectors: config.flink, meshFile, log });
    const input = { productId, revision: 1, spec };
    const preview = await critic.previewProposal(input);
    const review = await critic.critiqueProposal({ ...input, preview });
    out(
      `critic: ${review.verdict}; preview ${preview.outcome} ${preview.rowCount} rows in ${preview.tookMs} ms`,
    );
    for (const basis of review.cost.basis) out(`  ${basis}`);
    const { bindings } = inputBindingsOf(spec, () => undefined);
    const deployed = await jobs.deploy({ ...input, inputs: bindings, fromScratch: false });
    jobId = deployed.jobId;
    out(`job ${deployed.jobName} (${jobId}) running; measuring after ${runS} s`);
    await delay(runS * 1000);
    const ends = async (name: string) =>
      (await admin.fetchTopicOffsets(name)).reduce((sum, p) => sum + Number(p.high), 0);
    const look = async () => ({
      at: Date.now(),
      vertices: (await flinkJson<{ vertices: Vertex[] }>(`${config.flink.restUrl}/jobs/${jobId}`)).vertices,
      input: await ends(topic),
      output: await ends(spec.outputTopic.name),
    });
    const first = await look();
    await delay(20_000);
    const second = await look();
    const seconds = (second.at - first.at) / 1000;
    out('');
    out('Flink vertices (records/s between two looks):');
    for (const vertex of second.vertices) {
      const before = first.vertices.find((v) => v.name === vertex.name);
      const perSecond = (key: string) => ((vertex.metrics[key] ?? 0) - (before?.metrics[key] ?? 0)) / seconds;
      out(
        `  ${vertex.name.slice(0, 90)}: read ${perSecond('read-records').toFixed(2)}, write ${perSecond('write-records').toFixed(2)}`,
      );
    }
    // The job's records in: what its source read (it keeps up: the input topic's growth); out: what
    // its sink wrote (the output topic's growth).
    const measuredIn = (second.input - first.input) / seconds;
    const measuredOut = (second.output - first.output) / seconds;
    const checkpoints = await flinkJson<{
      latest?: { completed?: { state_size?: number; checkpointed_size?: number } };
    }>(`${config.flink.restUrl}/jobs/${jobId}/checkpoints`);
    const stateSize = checkpoints.latest?.completed?.state_size ?? NaN;
    const estimatedIn = review.cost.inputs.reduce((s, i) => s + i.recordsPerSecond, 0);
    const ratio = (a: number, b: number) => (b === 0 ? '∞' : (a / b).toFixed(2));
    out('');
    out('figure                 estimated     Flink       ratio');
    out(
      `records in per second  ${estimatedIn.toFixed(2).padEnd(13)} ${measuredIn.toFixed(2).padEnd(11)} ${ratio(estimatedIn, measuredIn)}`,
    );
    out(
      `records out per second ${review.cost.outputRecordsPerSecond.toFixed(3).padEnd(13)} ${measuredOut.toFixed(3).padEnd(11)} ${ratio(review.cost.outputRecordsPerSecond, measuredOut)}`,
    );
    out(
      `state                  ${compactBytes(review.cost.stateBytes).padEnd(13)} ${compactBytes(stateSize).padEnd(11)} ${ratio(review.cost.stateBytes, stateSize)}`,
    );
  } finally {
    clearInterval(timer);
    if (jobId) await rest.cancelJob(jobId).catch(() => undefined);
    await producer.disconnect();
    await admin
      .deleteTopics({ topics: [topic, spec.outputTopic.name, `${spec.outputTopic.name}.rejected`] })
      .catch(() => undefined);
    await admin.disconnect();
    await rm(dir, { recursive: true, force: true });
    await stopTestPlatform();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

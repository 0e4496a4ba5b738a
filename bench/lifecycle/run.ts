/**
 * bench/lifecycle: a few hundred products proposed and approved concurrently through the real
 * worker and Kafka, next to a baseline workflow with the same messages and no-op activities, on
 * the same server in the same run. Reports products per second, p50/p95 time from approval to
 * `active`, and the ratio real / baseline (our machines are noisy: only the ratio is comparable).
 *
 *   npm run bench:lifecycle            # 200 products
 *   BENCH_PRODUCTS=400 npm run bench:lifecycle
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createKafkaClient, CATALOG_TOPIC } from '../../src/adapters/kafka/client';
import { decodeCatalogDescriptor, ensureCatalogTopic } from '../../src/adapters/kafka/catalog';
import { loadMeshConfig } from '../../src/specs/load';
import { parseSpec } from '../../src/domain/spec';
import { domainConfigOf } from '../../src/domain/mesh-config';
import { createLogger } from '../../src/log';
import { dataProductStartOptions, dataProductWorkflowType, reviewUpdate } from '../../workflows/definitions';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';
import { baselineApprove } from './baseline-workflow';
import { dataConverterFor } from '../../src/codec/payload-codec';
import { temporalConnectOptions } from '../../src/config';
import { processRecordKey } from '../../src/signing/record-key';
import { productMetricsSinks } from '../../src/metrics/worker';

const products = Number(process.env.BENCH_PRODUCTS ?? 200);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);

type Timing = { approvedAt?: number; activeAt?: number };
type RunResult = { label: string; seconds: number; perSecond: number; p50: number; p95: number };

async function pool<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summarise(label: string, began: number, timings: Map<string, Timing>): RunResult {
  const done = [...timings.values()].filter((t) => t.approvedAt && t.activeAt);
  if (done.length !== timings.size)
    throw new Error(`${label}: only ${done.length} of ${timings.size} became active`);
  const ended = Math.max(...done.map((t) => t.activeAt!));
  const latencies = done.map((t) => t.activeAt! - t.approvedAt!);
  const seconds = (ended - began) / 1000;
  return {
    label,
    seconds,
    perSecond: done.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
  };
}

/** Resolves once every id has been marked done in `timings` (or rejects at the deadline). */
function allActive(timings: Map<string, Timing>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      const active = [...timings.values()].filter((t) => t.activeAt).length;
      if (active === timings.size) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        reject(new Error(`${active} of ${timings.size} active after ${timeoutMs / 1000} s`));
      }
    }, 50);
  });
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const config = await testPlatform();
  const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.codec.payloadKeys),
  });
  const mesh = await loadMeshConfig(config.meshFile);
  domainConfigOf(mesh, 'orders'); // the products approve as an orders approver: the domain must exist
  const run = randomUUID().slice(0, 8);
  console.log(`bench/lifecycle: ${products} products, ${concurrency} requests in flight, run ${run}`);

  // --- Meshloop: the real workflow, worker, Kafka topics and catalog ---
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-lifecycle' });
  await ensureCatalogTopic(kafka);
  const realTimings = new Map<string, Timing>();
  const approving: Promise<void>[] = [];
  const consumer = kafka.consumer({ groupId: `bench-lifecycle-${run}` });
  await consumer.connect();
  await consumer.subscribe({ topic: CATALOG_TOPIC, fromBeginning: false });
  const realQueue = `bench-lifecycle-${run}`;
  const worker = await startOrchestrationWorker(
    config,
    createLogger('bench-worker', process.env.BENCH_LOG_LEVEL === 'info' ? 'info' : 'warn'),
    {
      taskQueue: realQueue,
    },
  );
  // The catalog tells us each product's stage as it changes: approve on `awaitingApproval`, stop the clock on `active`.
  const catalogReady = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
  );
  await consumer.run({
    eachMessage: ({ message }) => {
      const key = message.key?.toString();
      const decoded =
        key && message.value ? decodeCatalogDescriptor(key, message.value, processRecordKey()) : undefined;
      if (!decoded?.ok) return Promise.resolve();
      const descriptor = decoded.value;
      const timing = realTimings.get(descriptor.productId);
      if (!timing) return Promise.resolve();
      if (descriptor.stage === 'awaitingApproval' && !timing.approvedAt) {
        approving.push(
          client.workflow
            .getHandle(`data-product:${descriptor.productId}`)
            .executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] })
            .then(() => void (timing.approvedAt = Date.now())),
        );
      } else if (descriptor.stage === 'active') {
        timing.activeAt = Date.now();
      }
      return Promise.resolve();
    },
  });
  await catalogReady;

  const specs = Array.from({ length: products }, (_, i) =>
    parseSpec({
      name: `bench-${run}-${i}`,
      domain: 'orders',
      owner: 'alice',
      description: 'A benchmark product: one topic, one catalog entry.',
      kind: 'source-aligned',
      outputTopic: { partitions: 1, retentionMs: 3_600_000 },
      schema: { fields: [{ name: 'id', type: 'string', nullable: false }], key: ['id'] },
    }),
  );
  for (const spec of specs) realTimings.set(`orders.${spec.name}`, {});
  const realBegan = Date.now();
  await pool(specs, concurrency, async (spec) => {
    await client.workflow.start(dataProductWorkflowType, {
      taskQueue: realQueue,
      ...dataProductStartOptions(spec),
    });
  });
  await allActive(realTimings, 10 * 60_000);
  await Promise.all(approving);
  const real = summarise('meshloop', realBegan, realTimings);
  await consumer.disconnect();
  await worker.shutdown();

  // --- Baseline: same messages, no-op activities, same server ---
  const baseTimings = new Map<string, Timing>();
  const baseQueue = `bench-baseline-${run}`;
  const nativeConnection = await NativeConnection.connect(temporalConnectOptions(config.temporal.connection));
  const baseWorker = await Worker.create({
    sinks: productMetricsSinks(undefined),
    connection: nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: baseQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./baseline-workflow') }),
    activities: {
      noop: (step: string, id: string): Promise<void> => {
        const timing = baseTimings.get(id)!;
        if (step === 'awaiting') {
          approving.push(
            client.workflow
              .getHandle(id)
              .executeUpdate(baselineApprove, { args: [{ by: 'alice' }] })
              .then(() => void (timing.approvedAt = Date.now())),
          );
        } else if (step === 'active') {
          timing.activeAt = Date.now();
        }
        return Promise.resolve();
      },
    },
  });
  const ids = Array.from({ length: products }, (_, i) => `bench-baseline-${run}-${i}`);
  for (const id of ids) baseTimings.set(id, {});
  const baseline = await baseWorker.runUntil(async () => {
    const began = Date.now();
    await pool(ids, concurrency, async (id) => {
      // Same activity count as a product: catalog (awaiting), topic, catalog (active).
      await client.workflow.start('baselineProductWorkflow', {
        taskQueue: baseQueue,
        workflowId: id,
        args: [id],
      });
    });
    await allActive(baseTimings, 10 * 60_000);
    await Promise.all(approving);
    return summarise('baseline', began, baseTimings);
  });
  await nativeConnection.close();
  await connection.close();

  const ms = (value: number) => `${value.toFixed(0)} ms`;
  console.log('\n| run | products/s | p50 approval→active | p95 approval→active | wall |');
  console.log('|---|---|---|---|---|');
  for (const r of [real, baseline]) {
    console.log(
      `| ${r.label} | ${r.perSecond.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p95)} | ${r.seconds.toFixed(1)} s |`,
    );
  }
  console.log(
    `\nratio meshloop/baseline: throughput ${(real.perSecond / baseline.perSecond).toFixed(2)}, ` +
      `p50 latency ${(real.p50 / baseline.p50).toFixed(2)}x, p95 latency ${(real.p95 / baseline.p95).toFixed(2)}x`,
  );
}

main()
  .then(() => stopTestPlatform())
  .then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka, Producer } from 'kafkajs';
import { FlinkRestClient } from '../../src/adapters/flink';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, portDefaults, temporalConnectOptions } from '../../src/config';
import { parseSpec } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { queryProduct } from '../../src/query/product-query';
import { waitUntil } from '../../src/stack/probe';
import { isOurs, readRunRecord } from '../../src/stack/process';
import { servicePaths, stackDown, stackUp } from '../../src/stack/stack';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { committedRecords } from '../helpers/topic-records';

/**
 * Recovery without a person on a platform of this test's own, which it breaks: with a product's
 * jobs running and records flowing, the TaskManager is killed (kill -9) and started again, then the
 * JobManager (its jobs are lost). The product must be `active` again by itself, and its topic and
 * its table must hold every record sent, each once. The platform's ports are the test run's offset
 * plus 20000 (MESHLOOP_TEST_RECOVERY_PORT_OFFSET to choose), its data in its own folder; it is
 * stopped and purged at the end (MESHLOOP_TEST_KEEP_PLATFORM=1 keeps it).
 */
const runOffset = Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000);
const offset = Number(process.env.MESHLOOP_TEST_RECOVERY_PORT_OFFSET ?? runOffset + 20000);

function destructiveConfig(): MeshloopConfig {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, port] of Object.entries(portDefaults)) env[key] = String(port + offset);
  env.MESHLOOP_DATA_DIR = path.join(os.tmpdir(), `meshloop-test-${offset}`);
  // Two product jobs at most: a small TaskManager.
  env.MESHLOOP_FLINK_TASK_SLOTS = '4';
  return loadConfig(env);
}

describe('recovery without a person: kill -9 the TaskManager, restart the JobManager (a platform of its own)', function () {
  this.timeout(20 * 60_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection | undefined;
  let client: Client;
  let worker: RunningWorker | undefined;
  let started = false;
  const taskQueue = `recovery-${randomUUID()}`;
  const ordersTopic = `rc${randomUUID().slice(0, 8)}.orders.orders`;
  const log = (message: string) => process.stderr.write(`      [recovery] ${message}\n`);

  before(async function () {
    config = destructiveConfig();
    const began = Date.now();
    const results = await stackUp(config.stack, { progress: (message) => log(message) });
    started = results.some((result) => result.state === 'started');
    log(`platform on offset ${offset} ready in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'recovery-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    // The product's job is looked at every 2 s (the default is a minute).
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-recovery-'));
    const meshFile = path.join(dir, 'mesh.yaml');
    const mesh = await fs.readFile(config.meshFile, 'utf8');
    await fs.writeFile(meshFile, mesh.replace(/^defaults:\n/m, 'defaults:\n  jobWatchInterval: 2s\n'));
    config = { ...config, meshFile };
    worker = await startOrchestrationWorker(config, createLogger('recovery-worker', 'warn'), { taskQueue });
  });

  after(async () => {
    await worker?.shutdown();
    await connection?.close();
    if (started && process.env.MESHLOOP_TEST_KEEP_PLATFORM !== '1')
      await stackDown(config.stack, { purge: true });
  });

  /** kill -9 one of the platform's own processes (checked against its run record). */
  async function kill(service: string): Promise<void> {
    const record = await readRunRecord(servicePaths(config.stack, service).runFile);
    assert.ok(record && isOurs(record), `${service} is not running as this platform's`);
    // The whole process group: the recorded pid is the launcher, the JVM its child.
    process.kill(-record.pid, 'SIGKILL');
    const groupGone = () => {
      try {
        process.kill(-record.pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    await waitUntil(() => Promise.resolve(!isOurs(record) && groupGone()), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    log(`${service} (pid ${record.pid}) killed`);
  }

  async function liveJobs(productId: string): Promise<string[]> {
    const rest = new FlinkRestClient({ url: config.flink.restUrl });
    const jobs = await rest.listJobs().catch(() => []);
    return jobs
      .filter((job) => job.name.includes(`:${productId}:`) && job.state === 'RUNNING')
      .map((job) => job.name)
      .sort();
  }

  it('the product is active again by itself after each fault, and its topic and its table hold every record once', async () => {
    const name = `rc_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
    const productId = `orders.${name}`;
    const spec = parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders as placed, kept through platform faults, for the recovery test.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: ordersTopic,
          as: 'orders',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'total_amount', type: 'double' },
              { name: 'order_ts', type: 'timestamp' },
            ],
            eventTimeField: 'order_ts',
          },
        },
      ],
      sql: 'SELECT order_id, total_amount AS amount, order_ts AS created_at FROM orders WHERE order_id IS NOT NULL',
      outputTopic: { partitions: 2, retentionMs: 86_400_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'amount', type: 'double' },
          { name: 'created_at', type: 'timestamp', nullable: false },
        ],
        key: ['order_id'],
        eventTimeField: 'created_at',
      },
      materialization: { commitInterval: '2s', errorMode: 'log' },
      tags: ['test'],
    });

    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: ordersTopic, numPartitions: 2, replicationFactor: 1 }] });
    await admin.disconnect();

    // Records flow the whole time: 10 a second, each order once.
    let sent = 0;
    let flowing = true;
    const producer: Producer = kafka.producer();
    await producer.connect();
    const flow = (async () => {
      while (flowing) {
        const messages = Array.from({ length: 2 }, () => {
          sent += 1;
          const value = {
            order_id: `o-${sent}`,
            total_amount: sent / 100,
            order_ts: new Date().toISOString(),
          };
          return { key: value.order_id, value: JSON.stringify(value) };
        });
        // The broker stays up: a send that fails is a test failure.
        await producer.send({ topic: ordersTopic, messages });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    try {
      const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
      const handle = client.workflow.getHandle(workflowId);
      const status = (): Promise<ProductStatus> => handle.query(getStatusQuery);
      const statusWhen = async (ready: (s: ProductStatus) => boolean, what: string, timeoutMs = 300_000) => {
        let last: ProductStatus | undefined;
        const outcome = await waitUntil(async () => ready((last = await status())), {
          timeoutMs,
          intervalMs: 500,
        });
        assert.equal(outcome, 'ready', `${what}; last: ${JSON.stringify([last?.stage, last?.lastError])}`);
        return last!;
      };
      await statusWhen((s) => s.stage === 'awaitingApproval', 'awaiting approval');
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      await statusWhen((s) => s.stage === 'active', 'active');
      const bothRunning = [`meshloop-create:${productId}:r1`, `meshloop-materialize:${productId}:r1`];
      await waitUntil(async () => (await committedRecords(kafka, productId)).length > 20, {
        timeoutMs: 120_000,
        intervalMs: 1000,
      });

      // 1. The TaskManager dies (kill -9) and comes back with `stack up` 15 s later.
      const beforeTm = (await status()).decisions.length;
      const tmAt = Date.now();
      await kill('flink-taskmanager');
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      await stackUp(config.stack, { only: ['flink-taskmanager'] });
      await waitUntil(async () => (await liveJobs(productId)).length === 2, {
        timeoutMs: 600_000,
        intervalMs: 1000,
      });
      const afterTm = await statusWhen(
        (s) =>
          s.stage === 'active' &&
          (s.decisions.length === beforeTm || s.decisions.at(-1)?.action === 'recover'),
        'active after the TaskManager came back',
      );
      log(
        `TaskManager: both jobs running and the product active ${((Date.now() - tmAt) / 1000).toFixed(0)} s after the kill`,
      );
      assert.equal(afterTm.stage, 'active');
      for (const d of afterTm.decisions.filter((d) => Date.parse(d.at) >= tmAt))
        log(`  ${d.action} by ${d.by}: ${d.comment ?? ''}`);

      // 2. The JobManager dies and restarts: it has forgotten both jobs. The workflow resubmits them
      // from their checkpoints on disk.
      const jmAt = Date.now();
      await kill('flink-jobmanager');
      await stackUp(config.stack, { only: ['flink-jobmanager'] });
      const decisionsBefore = ((s) => s.decisionCount ?? s.decisions.length)(await status());
      const recovered = await statusWhen(
        (s) =>
          s.stage === 'active' &&
          (s.decisionCount ?? s.decisions.length) > decisionsBefore &&
          s.decisions.at(-1)?.action === 'recover' &&
          /^automatic recovery/.test(s.decisions.at(-1)?.comment ?? ''),
        'recovered by itself after the JobManager restarted',
        600_000,
      );
      log(`JobManager: product active again ${((Date.now() - jmAt) / 1000).toFixed(0)} s after the kill`);
      const since = recovered.decisions.filter((d) => Date.parse(d.at) >= jmAt);
      for (const d of since) log(`  ${d.action} by ${d.by}: ${d.comment ?? ''}`);
      assert.ok(
        since.every((d) => d.by === 'meshloop'),
        'no person acted',
      );
      assert.ok(
        since.some((d) => /no longer exists in Flink/.test(d.comment ?? '')),
        'the decisions say the jobs were lost',
      );
      // The job resumed from its last checkpoint, found on disk (the JobManager had forgotten it).
      assert.ok(
        since.some((d) =>
          /redeployed Flink job .* from checkpoint file:\/\/.*\/chk-\d+ \(found on disk/.test(
            d.comment ?? '',
          ),
        ),
        'a decision names the checkpoint the job resumed from',
      );
      assert.deepEqual(await liveJobs(productId), bothRunning);

      // Every record sent is in the topic and in the table, once.
      flowing = false;
      await flow;
      const total = sent;
      let records: Awaited<ReturnType<typeof committedRecords>> = [];
      await waitUntil(async () => (records = await committedRecords(kafka, productId)).length >= total, {
        timeoutMs: 180_000,
        intervalMs: 1000,
      });
      const ids = records.map((r) => (JSON.parse(r.value ?? '{}') as { order_id?: string }).order_id);
      const distinct = new Set(ids);
      assert.equal(records.length, total, `the topic holds ${records.length} records for ${total} sent`);
      assert.equal(distinct.size, total, 'no duplicates in the topic');
      for (let i = 1; i <= total; i++) assert.ok(distinct.has(`o-${i}`), `o-${i} is missing from the topic`);
      let counted = '';
      await waitUntil(
        async () => {
          const answer = await queryProduct(config, productId, {
            sql: 'select count(*) AS n, count(distinct order_id) AS d from t',
          }).catch(() => undefined);
          const row = answer?.rows[0];
          counted = `${String(row?.n)}/${String(row?.d)}`;
          return counted === `${total}/${total}`;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      assert.equal(counted, `${total}/${total}`, 'the table holds every record once (rows/distinct)');
      log(`${total} records sent; topic ${records.length}, table ${counted}`);
    } finally {
      flowing = false;
      await flow.catch(() => undefined);
      await producer.disconnect();
    }
  });
});

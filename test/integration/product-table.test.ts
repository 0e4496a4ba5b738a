import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { FlinkRestClient, terminalJobStates } from '../../src/adapters/flink';
import { readCatalog } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { parseSpec, workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { queryProduct } from '../../src/query/product-query';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, redeployUpdate, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';
import { committedCount } from '../helpers/topic-records';
import { temporalConnectOptions } from '../../src/config';

/** The seeded orders the product reads: a topic of this run's own. */
const ordersTopic = `tb${randomUUID().slice(0, 8)}.orders.orders`;
const SEEDED = 300;
/** Short, so the test sees several commits; the product's spec sets it. */
const COMMIT_INTERVAL_MS = 2000;

/**
 * An approved product lands in its Iceberg table through the real worker and the real platform:
 * its workflow creates the table after the product's job runs, starts the materialization, and
 * stops both jobs when the product retires. The table is read with `meshloop query` and
 * `meshloop snapshots` as a user would.
 */
describe('every active product lands in its Iceberg table (real worker, real platform)', function () {
  this.timeout(300_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  const taskQueue = `product-table-${randomUUID()}`;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'product-table-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    await seedKafka(kafka, {
      count: SEEDED,
      topicPrefix: ordersTopic.replace('orders.orders', ''),
      only: ['orders'],
    });
    worker = await startOrchestrationWorker(config, createLogger('test-worker', 'warn'), { taskQueue });
  });

  after(async () => {
    await worker?.shutdown();
    await connection?.close();
  });

  /** Committed records (read, not counted by offsets: the topic is written in transactions). */
  function topicRecords(topic: string): Promise<number> {
    return committedCount(kafka, topic);
  }

  async function liveJobs(productId: string): Promise<string[]> {
    const jobs = await new FlinkRestClient({ url: config.flink.restUrl }).listJobs();
    return jobs
      .filter((job) => job.name.includes(`:${productId}:`) && !terminalJobStates.includes(job.state))
      .map((job) => job.name)
      .sort();
  }

  function productSpec(materialization: Record<string, string>) {
    const name = `tbl_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
    const productId = `orders.${name}`;
    const spec = parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders as placed, one event per order, landed in Iceberg for analysis.',
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
      materialization,
      // The seeded events are dated 2026-01-01 and the first analysis follows the first commit: these
      // tests are about the table, so freshness never degrades them.
      sla: { freshness: '100000h' },
      tags: ['test'],
    });
    return { name, productId, spec };
  }

  it('approve: the table holds the topic’s rows within the commit interval plus a few seconds; snapshots listed; retire stops both jobs', async () => {
    const { productId, spec } = productSpec({
      commitInterval: `${COMMIT_INTERVAL_MS / 1000}s`,
      errorMode: 'log',
    });
    const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
    const handle = client.workflow.getHandle(workflowId);
    assert.equal(workflowId, workflowIdOf(productId));
    await waitUntil(async () => (await handle.query(getStatusQuery)).stage === 'awaitingApproval', {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    let stage = '';
    await waitUntil(
      async () => {
        stage = (await handle.query(getStatusQuery)).stage;
        return stage === 'active' || stage === 'failed';
      },
      { timeoutMs: 180_000, intervalMs: 300 },
    );
    const active = await handle.query(getStatusQuery);
    assert.equal(active.stage, 'active', JSON.stringify(active.lastError));
    assert.equal(active.materialization?.table, `lake.${productId}`);
    assert.ok(active.materialization?.uuid, 'the table’s uuid is recorded');
    assert.ok(
      active.resources.some((r) => r.kind === 'icebergTable' && r.name === `lake.${productId}` && r.id),
    );
    assert.deepEqual(await liveJobs(productId), [
      `meshloop-create:${productId}:r1`,
      `meshloop-materialize:${productId}:r1`,
    ]);

    // The product's job fills its topic; the table follows within a commit interval or so.
    let inTopic = 0;
    await waitUntil(async () => (inTopic = await topicRecords(productId)) >= SEEDED, {
      timeoutMs: 120_000,
      intervalMs: 300,
    });
    assert.equal(inTopic, SEEDED);
    const filledAt = Date.now();
    let counted = '';
    const landed = await waitUntil(
      async () => {
        const answer = await queryProduct(config, productId, { sql: 'select count(*) AS n from t' }).catch(
          () => undefined,
        );
        const n = answer?.rows[0]?.n;
        counted = typeof n === 'string' || typeof n === 'number' ? String(n) : '';
        return counted === String(inTopic);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const lagMs = Date.now() - filledAt;
    assert.equal(landed, 'ready', `the table holds ${counted} rows, the topic ${inTopic}`);
    // Printed for the README: topic full → rows queryable.
    process.stdout.write(
      `      topic full → table count equal in ${lagMs} ms (commit interval ${COMMIT_INTERVAL_MS} ms)\n`,
    );
    assert.ok(lagMs <= COMMIT_INTERVAL_MS + 8000, `took ${lagMs} ms`);

    const env = { MESHLOOP_TASK_QUEUE: taskQueue };
    const query = await runCli(['query', productId, 'select count(*) AS n from t', '--json'], env);
    assert.equal(query.code, 0, query.stderr);
    assert.deepEqual((JSON.parse(query.stdout) as { rows: unknown[] }).rows, [{ n: String(inTopic) }]);
    const snapshots = await runCli(['snapshots', productId, '--json'], env);
    assert.equal(snapshots.code, 0, snapshots.stderr);
    const listed = JSON.parse(snapshots.stdout) as {
      table: string;
      snapshots: Array<{ snapshotId: string; current: boolean }>;
    };
    assert.ok(listed.snapshots.length >= 1);
    assert.equal(listed.snapshots.at(-1)?.current, true);
    const shown = await runCli(['show', productId], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      new RegExp(`table: lake\\.${productId.replace('.', '\\.')}  snapshot \\d+  ${inTopic} rows`),
    );

    // The watch timer (1m by default) is not waited for here: the catalog got the table at provisioning.
    const descriptor = (await readCatalog(kafka)).view.get(productId);
    assert.equal(descriptor?.table?.table, `lake.${productId}`);

    await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
    const retired = (await handle.result()) as ProductStatus;
    assert.equal(retired.stage, 'retired');
    assert.match(retired.materialization?.savepoint ?? '', /savepoint/, 'stopped with a savepoint');
    assert.match(retired.job?.savepoint ?? '', /savepoint/);
    assert.deepEqual(await liveJobs(productId), [], 'no job runs for a retired product');
    const after = await queryProduct(config, productId, { sql: 'select count(*) AS n from t' });
    assert.deepEqual(after.rows, [{ n: String(inTopic) }], 'the table and its data stay');
  });

  it('suspend: a bad record in the product’s topic degrades the product with its coordinates and stops the materialization; a redeploy resumes it', async () => {
    // A worker of its own whose mesh.yaml looks at jobs every 2 s (the default is a minute).
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-table-'));
    const meshFile = path.join(dir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      (await fs.readFile(config.meshFile, 'utf8')).replace(
        /^defaults:\n/m,
        'defaults:\n  jobWatchInterval: 2s\n',
      ),
    );
    const watchQueue = `product-table-watch-${randomUUID()}`;
    const watcher = await startOrchestrationWorker(
      { ...config, meshFile },
      createLogger('test-worker', 'error'),
      {
        taskQueue: watchQueue,
      },
    );
    try {
      const { productId, spec } = productSpec({ commitInterval: '2s', errorMode: 'suspend' });
      const { workflowId } = await proposeProduct(client, config, spec, { taskQueue: watchQueue });
      const handle = client.workflow.getHandle(workflowId);
      const statusWhen = async (ready: (s: ProductStatus) => boolean, what: string) => {
        let last: ProductStatus | undefined;
        const outcome = await waitUntil(async () => ready((last = await handle.query(getStatusQuery))), {
          timeoutMs: 180_000,
          intervalMs: 300,
        });
        assert.equal(outcome, 'ready', `${what}; last: ${JSON.stringify([last?.stage, last?.lastError])}`);
        return last!;
      };
      await statusWhen((s) => s.stage === 'awaitingApproval', 'awaiting approval');
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      await statusWhen((s) => s.stage === 'active', 'active');
      await waitUntil(async () => (await topicRecords(productId)) >= SEEDED, {
        timeoutMs: 120_000,
        intervalMs: 300,
      });

      // Someone writes a record the table cannot take into the product's topic.
      const producer = kafka.producer();
      await producer.connect();
      const [sent] = await producer.send({
        topic: productId,
        messages: [{ value: '{"order_id": "p-1", "amount": 1.5, "created_at": "not a time"}', partition: 1 }],
      });
      await producer.disconnect();
      const degraded = await statusWhen((s) => s.stage === 'degraded', 'degraded by the table');
      assert.equal(degraded.degradedBy, 'table');
      assert.equal(degraded.lastError?.type, 'TableSuspended');
      assert.deepEqual(degraded.materialization?.suspendedAt, {
        topic: productId,
        partition: 1,
        offset: Number(sent?.baseOffset),
        error: 'created_at: missing, null or not a timestamp',
      });
      assert.match(
        degraded.lastError?.message ?? '',
        new RegExp(
          `${productId.replace('.', '\\.')} partition 1 offset ${sent?.baseOffset}: created_at: missing, null or not a timestamp`,
        ),
      );
      assert.deepEqual(
        await liveJobs(productId),
        [`meshloop-create:${productId}:r1`],
        'the materialization stopped',
      );
      assert.match(degraded.materialization?.savepoint ?? '', /savepoint/);

      await handle.executeUpdate(redeployUpdate, { args: [{ by: 'ops', comment: 'producer fixed' }] });
      const redeployed = await statusWhen(
        (s) => s.stage === 'active' && s.decisions.at(-1)?.action === 'provision' && s.decisions.length > 4,
        'active again after the redeploy',
      );
      assert.equal(redeployed.materialization?.acknowledgedBadRecords, 1);
      assert.deepEqual(await liveJobs(productId), [
        `meshloop-create:${productId}:r1`,
        `meshloop-materialize:${productId}:r1`,
      ]);
      // Looks go on (every 2 s) and the dealt-with record does not suspend it again.
      const checkedAt = redeployed.materialization?.checkedAt ?? '';
      const later = await statusWhen(
        (s) => (s.materialization?.checkedAt ?? '') > checkedAt,
        'the watch looked at the table again',
      );
      assert.equal(later.stage, 'active', `${later.degradedBy}: ${JSON.stringify(later.lastError)}`);

      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
      const retired = (await handle.result()) as ProductStatus;
      assert.equal(retired.stage, 'retired');
      assert.deepEqual(await liveJobs(productId), []);
    } finally {
      await watcher.shutdown();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

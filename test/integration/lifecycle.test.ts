import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { readCatalog } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders, describeTopic } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { waitUntil } from '../../src/stack/probe';
import { proposeProduct } from '../../src/cli/product-commands';
import { parseSpec, workflowIdOf } from '../../src/domain/spec';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, redeployUpdate, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import { FlinkRestClient, terminalJobStates } from '../../src/adapters/flink';
import type { RunningWorker } from '../../workers/orchestration';
import type { dataProductWorkflow } from '../../workflows/data-product';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { createLogger } from '../../src/log';
import { seedKafka } from '../../src/seed/seed';
import { testPlatform } from '../helpers/platform';
import { runCli, spawnWorker } from '../helpers/processes';
import { committedCount } from '../helpers/topic-records';
import { temporalConnectOptions } from '../../src/config';

/** The seeded orders these products read: a topic of this run's own. */
const ordersTopic = `lc${randomUUID().slice(0, 8)}.orders.orders`;

function specFor(name: string, extra: Record<string, unknown> = {}, inputTopic = ordersTopic) {
  return {
    name,
    domain: 'orders',
    owner: 'alice',
    description: 'Orders as placed, one event per order, for everyone who needs them.',
    kind: 'source-aligned',
    inputs: [
      {
        topic: inputTopic,
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
    tags: ['test'],
    ...extra,
  };
}

describe('the data product lifecycle on the real platform', function () {
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let workDir: string;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'lifecycle-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-lifecycle-'));
    await seedKafka(kafka, {
      count: 400,
      topicPrefix: ordersTopic.replace('orders.orders', ''),
      only: ['orders'],
    });
  });

  after(async () => {
    await connection?.close();
    await fs.rm(workDir, { recursive: true, force: true });
  });

  async function topicSettings(name: string) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await describeTopic(admin, name);
    } finally {
      await admin.disconnect();
    }
  }

  /** Committed records in a topic (read, not its offsets: transaction markers), once it holds `atLeast` or time runs out. */
  async function waitForRecords(topic: string, atLeast: number, timeoutMs = 120_000): Promise<number> {
    let count = 0;
    await waitUntil(async () => (count = await committedCount(kafka, topic)) >= atLeast, {
      timeoutMs,
      intervalMs: 500,
    });
    return count;
  }

  /** Flink jobs of a product that have not ended. */
  async function liveJobs(productId: string): Promise<string[]> {
    const jobs = await new FlinkRestClient({ url: config.flink.restUrl }).listJobs();
    return jobs
      .filter(
        (job) =>
          job.name.startsWith(`meshloop-create:${productId}:`) && !terminalJobStates.includes(job.state),
      )
      .map((job) => job.name);
  }

  /** Poll the product's status until `done` holds (no fixed sleeps, no dependence on timer order). */
  /** A worker of its own task queue, with a mesh.yaml that looks at jobs every 2 s (the default is a minute). */
  async function startFastWatchWorker(label: string): Promise<{ worker: RunningWorker; taskQueue: string }> {
    const meshFile = path.join(workDir, `mesh-fast-watch-${label}.yaml`);
    const mesh = await fs.readFile(config.meshFile, 'utf8');
    await fs.writeFile(meshFile, mesh.replace(/^defaults:\n/m, 'defaults:\n  jobWatchInterval: 2s\n'));
    const taskQueue = `lifecycle-${label}-${randomUUID()}`;
    const worker = await startOrchestrationWorker(
      { ...config, meshFile },
      createLogger('test-worker', 'warn'),
      { taskQueue },
    );
    return { worker, taskQueue };
  }

  async function deleteTopic(topic: string): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await admin.disconnect();
    }
  }

  /** Alice approves the proposal; the product's handle once it is active. */
  async function approvedUntilActive(workflowId: string) {
    const handle = client.workflow.getHandle<typeof dataProductWorkflow>(workflowId);
    await waitForStage(workflowId, 'awaitingApproval');
    await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    await waitForStage(workflowId, 'active', 180_000);
    return handle;
  }

  async function waitForStatus(
    workflowId: string,
    done: (status: ProductStatus) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<ProductStatus> {
    let last: ProductStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        last = await client.workflow.getHandle(workflowId).query(getStatusQuery);
        return done(last);
      },
      { timeoutMs, intervalMs: 200 },
    );
    assert.equal(
      outcome,
      'ready',
      // The last decisions too: they say what moved the product meanwhile (a recovery, a cycle).
      `expected ${what}; last: ${JSON.stringify([last?.stage, last?.degradeCauses, last?.decisions.slice(-6)])}`,
    );
    assert.ok(last);
    return last;
  }

  async function waitForStage(workflowId: string, stage: string, timeoutMs = 60_000) {
    let last = '';
    const outcome = await waitUntil(
      async () => {
        last = (await client.workflow.getHandle(workflowId).query(getStatusQuery)).stage;
        return last === stage;
      },
      { timeoutMs, intervalMs: 200 },
    );
    assert.equal(outcome, 'ready', `expected stage ${stage}, still ${last}`);
  }

  describe('through the CLI', () => {
    const taskQueue = `lifecycle-cli-${randomUUID()}`;
    let worker: RunningWorker;

    before(async () => {
      worker = await startOrchestrationWorker(config, createLogger('test-worker', 'warn'), { taskQueue });
    });
    after(async () => worker?.shutdown());

    it('proposes, approves, provisions the topic and the catalog, then retires', async () => {
      const name = `cli-${randomUUID().slice(0, 8)}`;
      const specFile = path.join(workDir, `${name}.yaml`);
      await fs.writeFile(specFile, toYaml(specFor(name)));
      const env = { MESHLOOP_TASK_QUEUE: taskQueue };

      const proposed = await runCli(['propose', specFile], env);
      assert.equal(proposed.code, 0, proposed.stderr);
      assert.match(proposed.stdout, new RegExp(`proposed orders\\.${name}`));

      const wrongApprover = await runCli(['approve', `orders.${name}`, '--by', 'mallory'], env);
      assert.equal(wrongApprover.code, 1);
      // The refusal says why without naming anyone (who approves is not the sender's to learn).
      assert.match(wrongApprover.stderr, /not an approver of domain orders/);
      assert.doesNotMatch(wrongApprover.stderr, /alice/);

      const approved = await runCli(
        ['approve', `orders.${name}`, '--by', 'alice', '--comment', 'ship it'],
        env,
      );
      assert.equal(approved.code, 0, approved.stderr);
      await waitForStage(workflowIdOf(`orders.${name}`), 'active');

      assert.deepEqual(await topicSettings(`orders.${name}`), {
        partitions: 2,
        retentionMs: 86_400_000,
        cleanupPolicy: 'delete',
      });
      const descriptor = (await readCatalog(kafka)).view.get(`orders.${name}`);
      assert.equal(descriptor?.stage, 'active');
      assert.equal(descriptor?.owner, 'alice');

      // Active means producing: every seeded order arrives in the product's topic.
      assert.equal(await waitForRecords(`orders.${name}`, 400), 400);

      const shown = await runCli(['show', `orders.${name}`, '--json'], env);
      assert.equal(shown.code, 0, shown.stderr);
      const status = JSON.parse(shown.stdout) as {
        stage: string;
        decisions: Array<{ by: string; comment?: string }>;
        job?: { name: string; state: string };
        lineage?: Array<{ column: string; from: Array<{ input: string; field: string }> }>;
        outputSchema?: { subject: string; version: number; id: number; compatibility: string };
      };
      assert.equal(status.stage, 'active');
      // Its output schema is registered under the topic's subject, BACKWARD (the registry agrees).
      const subject = `orders.${name}-value`;
      assert.deepEqual(status.outputSchema && [status.outputSchema.subject, status.outputSchema.version], [
        subject,
        1,
      ]);
      const registered = (await (
        await fetch(`${config.schemaRegistry.url}/subjects/${subject}/versions/latest`)
      ).json()) as { id: number; schemaType: string };
      assert.deepEqual([registered.id, registered.schemaType], [status.outputSchema?.id, 'JSON']);
      const level = (await (await fetch(`${config.schemaRegistry.url}/config/${subject}`)).json()) as {
        compatibilityLevel: string;
      };
      assert.equal(level.compatibilityLevel, 'BACKWARD');
      assert.equal(status.job?.name, `meshloop-create:orders.${name}:r1`);
      assert.deepEqual(status.lineage?.find((l) => l.column === 'amount')?.from, [
        { input: 'orders', field: 'total_amount' },
      ]);
      const shownText = await runCli(['show', `orders.${name}`], env);
      assert.match(shownText.stdout, /SELECT order_id, total_amount AS amount/);
      assert.match(shownText.stdout, /job\s+meshloop-create:orders\.[^ ]+ RUNNING/);
      assert.match(shownText.stdout, new RegExp(`schema\\s+orders\\.${name}-value version 1 \\(schema id`));
      assert.ok(status.decisions.some((d) => d.by === 'alice' && d.comment === 'ship it'));

      const catalog = await runCli(['catalog'], env);
      assert.equal(catalog.code, 0, catalog.stderr);
      assert.match(catalog.stdout, new RegExp(`orders\\.${name}\\s+active`));

      const retired = await runCli(['retire', `orders.${name}`, '--by', 'ops'], env);
      assert.equal(retired.code, 0, retired.stderr);
      await waitForStage(workflowIdOf(`orders.${name}`), 'retired');
      const after = (await readCatalog(kafka)).view.get(`orders.${name}`);
      assert.equal(after?.stage, 'retired');
      assert.ok(await topicSettings(`orders.${name}`), 'retirement keeps the data');
      // The workflow ends once the job has stopped with a savepoint.
      const retiredStatus = await client.workflow
        .getHandle<typeof dataProductWorkflow>(workflowIdOf(`orders.${name}`))
        .result();
      assert.match(retiredStatus.job?.savepoint ?? '', /savepoint/, 'the job stopped with a savepoint');
      assert.deepEqual(await liveJobs(`orders.${name}`), [], 'no job runs for a retired product');
      assert.match(retiredStatus.materialization?.savepoint ?? '', /savepoint/, 'so did the materialization');
    });

    it('fails clearly on a wrong spec file, listing every problem', async () => {
      const specFile = path.join(workDir, 'wrong.yaml');
      await fs.writeFile(
        specFile,
        toYaml({ name: 'Bad Name', domain: 'orders', kind: 'nonsense', schema: { fields: [] } }),
      );
      const result = await runCli(['propose', specFile]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /kind/);
      assert.match(result.stderr, /owner/);
      assert.match(result.stderr, /schema\.fields/);
    });

    it('moves to failed when the output topic exists and is not its own', async () => {
      const name = `clash-${randomUUID().slice(0, 8)}`;
      const admin = kafka.admin();
      await admin.connect();
      await createTopicsAndAwaitLeaders(admin, [{ topic: `orders.${name}`, numPartitions: 5 }]);
      await admin.disconnect();
      const spec = parseSpec(specFor(name));
      const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
      await waitForStage(workflowId, 'awaitingApproval');
      await client.workflow
        .getHandle(workflowId)
        .executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'bob' }] });
      await waitForStage(workflowId, 'failed');
      const status = await client.workflow.getHandle(workflowId).query(getStatusQuery);
      // A topic the product did not make is refused whatever its settings (no silent adoption).
      assert.equal(status.lastError?.type, 'TopicNotOwned');
      assert.match(status.lastError?.message ?? '', /already exists and was not made for this product/);
    });
  });

  it('a job whose output topic is deleted degrades the product with the reason; an operator’s redeploy makes it active again', async function () {
    this.timeout(6 * 60_000);
    // Its own orders topic: the orders it adds later must not reach the other tests' products.
    const failingOrders = `lf${randomUUID().slice(0, 8)}.orders.orders`;
    const failingPrefix = failingOrders.replace('orders.orders', '');
    await seedKafka(kafka, { count: 400, topicPrefix: failingPrefix, only: ['orders'] });
    const { worker, taskQueue } = await startFastWatchWorker('degrade');
    try {
      const name = `fail-${randomUUID().slice(0, 8)}`;
      const productId = `orders.${name}`;
      const { workflowId } = await proposeProduct(
        client,
        config,
        parseSpec(specFor(name, {}, failingOrders)),
        { taskQueue },
      );
      const handle = await approvedUntilActive(workflowId);
      assert.equal(await waitForRecords(productId, 400), 400);

      // The job's sink loses its topic: Flink restarts it until it fails, or its producer waits in a
      // flush with the job RUNNING (records taken before the producer saw the topic go); either way
      // the watch degrades the product, with Flink's reason or the topic's.
      await deleteTopic(productId);
      await seedKafka(kafka, {
        count: 50,
        seed: 7,
        topicPrefix: failingPrefix,
        only: ['orders'],
      });
      // Wait for what this test means: the job's cause among the product's degrade causes. An
      // analysis cycle may find a breach before or after it (the seed's old events breach
      // freshness); that cause is kept beside the job's, so neither order changes the outcome.
      const topic = productId.replace('.', '\\.');
      const jobReason = new RegExp(
        `(is FAILED|keeps restarting).*Topic ${topic} not present|the output topic ${topic} is gone, so the Flink job`,
      );
      const degraded = await waitForStatus(
        workflowId,
        (s) => s.stage === 'degraded' && (s.degradeCauses ?? []).some((c) => c.type === 'JobUnhealthy'),
        'degraded by its job',
        180_000,
      );
      // Degraded on the first look that sees it failed, or restarting more than once.
      const jobCause = degraded.degradeCauses?.find((c) => c.by === 'job');
      assert.match(jobCause?.message ?? '', jobReason);
      assert.ok(
        degraded.decisions.some((d) => d.action === 'degrade' && jobReason.test(d.comment ?? '')),
        'the degrade decision gives Flink’s reason',
      );

      // Redeploy: provisioning creates the topic again and the job resumes from its last checkpoint.
      const redeploying = await handle.executeUpdate(redeployUpdate, {
        args: [{ by: 'ops', comment: 'topic deleted by mistake' }],
      });
      assert.equal(redeploying.stage, 'provisioning');
      // The provision decision after the redeploy (a later analysis cycle may record more after it).
      const provisionedAgain = (s: ProductStatus) =>
        s.decisions
          .slice(s.decisions.map((d) => d.action).lastIndexOf('redeploy'))
          .find((d) => d.action === 'provision');
      const again = await waitForStatus(
        workflowId,
        (s) => provisionedAgain(s) !== undefined,
        'provisioned again',
        180_000,
      );
      const provision = provisionedAgain(again);
      assert.equal(provision?.stage, 'active');
      assert.match(provision?.comment ?? '', /started from/);
      assert.deepEqual(await liveJobs(productId), [`meshloop-create:${productId}:r1`]);
      // Rows arrive again: at least the 50 orders produced while the topic was gone.
      assert.ok((await waitForRecords(productId, 50)) >= 50);
      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
      await handle.result();
    } finally {
      await worker.shutdown();
    }
  });

  it('an idle job whose output topic is deleted degrades the product though Flink shows it running; a redeploy resumes it from a savepoint and it writes again', async function () {
    this.timeout(6 * 60_000);
    const idleOrders = `li${randomUUID().slice(0, 8)}.orders.orders`;
    const idlePrefix = idleOrders.replace('orders.orders', '');
    await seedKafka(kafka, { count: 100, topicPrefix: idlePrefix, only: ['orders'] });
    const { worker, taskQueue } = await startFastWatchWorker('topic-gone');
    try {
      const name = `gone-${randomUUID().slice(0, 8)}`;
      const productId = `orders.${name}`;
      const { workflowId } = await proposeProduct(client, config, parseSpec(specFor(name, {}, idleOrders)), {
        taskQueue,
      });
      const handle = await approvedUntilActive(workflowId);
      assert.equal(await waitForRecords(productId, 100), 100);

      // No record comes after the topic goes: Flink has nothing to fail on and shows the job RUNNING.
      await deleteTopic(productId);
      const gone = new RegExp(
        `the output topic ${productId.replace('.', '\\.')} is gone, so the Flink job \\S+ cannot write \\(Flink shows it RUNNING\\)`,
      );
      const degraded = await waitForStatus(
        workflowId,
        (s) => s.stage === 'degraded' && (s.degradeCauses ?? []).some((c) => c.by === 'job'),
        'degraded by its job',
        60_000,
      );
      assert.match(degraded.degradeCauses?.find((c) => c.by === 'job')?.message ?? '', gone);
      const [job] = await liveJobs(productId);
      assert.equal(job, `meshloop-create:${productId}:r1`, 'Flink still runs the job');

      // The redeploy creates the topic again, then stops the job with a savepoint and resumes it.
      await handle.executeUpdate(redeployUpdate, {
        args: [{ by: 'ops', comment: 'topic deleted by mistake' }],
      });
      const provisionAfterRedeploy = (s: ProductStatus) =>
        s.decisions
          .slice(s.decisions.map((d) => d.action).lastIndexOf('redeploy'))
          .find((d) => d.action === 'provision');
      const again = await waitForStatus(
        workflowId,
        (s) => s.stage === 'active' && provisionAfterRedeploy(s) !== undefined,
        'active again',
        180_000,
      );
      // Resumed, not started over.
      assert.match(provisionAfterRedeploy(again)?.comment ?? '', /started from the savepoint of revision 1/);
      assert.equal((await topicSettings(productId))?.partitions, 2);
      // New orders reach the topic again.
      await seedKafka(kafka, { count: 20, seed: 9, topicPrefix: idlePrefix, only: ['orders'] });
      assert.ok((await waitForRecords(productId, 20)) >= 20);
      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
      await handle.result();
    } finally {
      await worker.shutdown();
    }
  });

  it('survives a worker killed with SIGKILL during deployment: active, with exactly one topic and one job', async function () {
    this.timeout(5 * 60_000);
    const taskQueue = `lifecycle-kill-${randomUUID()}`;
    const name = `crash-${randomUUID().slice(0, 8)}`;
    const env = { MESHLOOP_TASK_QUEUE: taskQueue, MESHLOOP_LOG_LEVEL: 'warn' };
    const first = spawnWorker(env);
    let second: ReturnType<typeof spawnWorker> | undefined;
    try {
      const { workflowId } = await proposeProduct(client, config, parseSpec(specFor(name)), { taskQueue });
      const handle = client.workflow.getHandle(workflowId);
      await waitForStage(workflowId, 'awaitingApproval');
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });

      // Kill the worker the moment the job's deployment has begun (the activity is scheduled or running).
      const began = await waitUntil(
        async () => {
          const description = await handle.describe();
          return (description.raw.pendingActivities ?? []).some(
            (activity) => activity.activityType?.name === 'deployProductJob',
          );
        },
        { timeoutMs: 120_000, intervalMs: 20 },
      );
      assert.equal(began, 'ready', `deployment never began; worker output:\n${first.output()}`);
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));

      second = spawnWorker(env);
      await waitForStage(workflowId, 'active', 180_000);
      const admin = kafka.admin();
      await admin.connect();
      const topics = (await admin.listTopics()).filter((topic) => topic.includes(name));
      await admin.disconnect();
      assert.deepEqual(topics.sort(), [`orders.${name}`, `orders.${name}.rejected`]);
      assert.equal((await readCatalog(kafka)).view.get(`orders.${name}`)?.stage, 'active');
      assert.deepEqual(await liveJobs(`orders.${name}`), [`meshloop-create:orders.${name}:r1`]);
      assert.equal(await waitForRecords(`orders.${name}`, 400), 400, 'one job: each order once');
      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
      await waitForStage(workflowId, 'retired');
    } finally {
      if (first.exitCode === null) first.kill('SIGKILL');
      if (second && second.exitCode === null) {
        second.kill('SIGTERM');
        await new Promise((resolve) => second!.once('exit', resolve));
      }
    }
  });
});

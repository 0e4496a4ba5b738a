import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import {
  describeDiscoverySchedule,
  ensureDiscoverySchedule,
  setDiscoveryPaused,
} from '../../src/discovery/schedule';
import { workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { TopicProfile } from '../../src/profile';
import { seedKafka } from '../../src/seed/seed';
import { getStatusQuery } from '../../workflows/definitions';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { FakeOpenAi } from '../helpers/fake-openai';
import { runCli } from '../helpers/processes';
import { recordHistory, statusAfterChecks } from '../helpers/workflows';

describe('discovery on the real platform (seed → discover → proposals await approval)', function () {
  // Topics and domains of their own, so runs never see each other's data or proposals.
  const run = `t${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const prefix = `${run}_`;
  const domains = ['orders', 'payments', 'shipments', 'customers', 'web', 'inventory'];
  let config: MeshloopConfig;
  let env: NodeJS.ProcessEnv;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let workDir: string;
  let first: DiscoveryResult;
  const taskQueue = `discovery-test-${run}`;

  before(async function () {
    this.timeout(15 * 60_000);
    await testPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-discovery-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: Object.fromEntries(
          domains.map((d) => [
            `${prefix}${d}`,
            { approvers: [`${d}-lead`], businessGoals: [`Make ${d} data useful to the other domains.`] },
          ]),
        ),
      }),
    );
    env = {
      ...testEnvironment(),
      MESHLOOP_MESH_FILE: meshFile,
      MESHLOOP_TASK_QUEUE: taskQueue,
      OPENAI_API_KEY: '',
    };
    config = loadConfig(env);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'discovery-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });

    const seeded = await seedKafka(kafka, { count: 6000, seed: 11, topicPrefix: prefix });
    assert.equal(seeded.sent, 6000);
    // Poison on top of the seed's own malformed records: none may stop discovery or vanish.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    let deep = '1';
    for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
    const poison = [
      'definitely { not json',
      Buffer.from([0x00, 0x9f, 0x92, 0x96, 0xff, 0xfe, 0x01]),
      '',
      JSON.stringify({ blob: 'x'.repeat(1_000_000) }),
      `{"nested": ${deep}}`,
    ];
    // One by one: the 1 MB record alone is as large as a produce request may be.
    for (const value of poison) {
      await producer.send({ topic: `${prefix}web.clicks`, acks: -1, messages: [{ key: 'poison', value }] });
    }
    await producer.disconnect();

    worker = await startOrchestrationWorker(config, createLogger('discovery-test', 'warn'), { taskQueue });
  });

  after(async () => {
    // Products this run proposed would wait for approval forever: end them.
    for (const productId of first?.started ?? []) {
      await client.workflow
        .getHandle(workflowIdOf(productId))
        .terminate('test finished')
        .catch(() => undefined);
    }
    await worker?.shutdown();
    await connection?.close();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('profiles every seeded topic, counts every malformed record, and proposes products that wait for approval', async function () {
    this.timeout(5 * 60_000);
    first = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
      taskQueue,
      workflowId: `discovery-test-${run}-1`,
      args: [{ topicPrefix: prefix, maxMessages: 3000, sampleDeadlineMs: 60_000, agent: 'auto' }],
    });
    await recordHistory(client.workflow.getHandle(`discovery-test-${run}-1`), 'discovery-planner');
    assert.equal(first.agent, 'planner', 'no OPENAI_API_KEY: the planner proposes');
    assert.deepEqual(
      first.topics.map((t) => t.topic),
      [
        'customers.profiles',
        'inventory.stock',
        'orders.orders',
        'payments.payments',
        'shipments.shipments',
        'web.clicks',
      ].map((t) => `${prefix}${t}`),
    );

    // Profiles live in a file; history holds its path and a few figures.
    const stored = JSON.parse(await fs.readFile(first.profilesFile, 'utf8')) as { profiles: TopicProfile[] };
    const clicks = stored.profiles.find((p) => p.topic === `${prefix}web.clicks`)!;
    assert.equal(clicks.records, clicks.parsed + clicks.unparseable.total);
    const reasons = clicks.unparseable.byReason;
    assert.ok(reasons.notJson >= 1 && reasons.binary >= 1 && reasons.empty >= 1, JSON.stringify(reasons));
    assert.ok(reasons.tooLarge >= 1, 'the 1 MB record is counted');
    assert.ok(reasons.tooDeep >= 1, 'the deeply nested record is counted');
    const summary = first.topics.find((t) => t.topic === clicks.topic)!;
    assert.equal(summary.unparseable, clicks.unparseable.total);
    const customers = stored.profiles.find((p) => p.topic === `${prefix}customers.profiles`)!;
    assert.deepEqual(customers.pii.map((s) => s.kind).sort(), ['email', 'personName', 'phone']);

    const expected = [
      `${prefix}customers.profiles_masked`,
      `${prefix}orders.orders_curated`,
      `${prefix}orders.orders_with_payments`,
      `${prefix}payments.payments_curated`,
      `${prefix}web.clicks_curated`,
    ];
    for (const productId of expected)
      assert.ok(first.started.includes(productId), `${productId} in ${first.started.join(', ')}`);
    assert.deepEqual(first.existing, []);

    for (const productId of first.started) {
      const status = await statusAfterChecks(client, productId);
      assert.equal(
        status.stage,
        'awaitingApproval',
        `${productId} is ${status.stage} ${JSON.stringify(status.policyViolations)}`,
      );
      assert.ok(status.spec.proposal!.evidence.length > 0);
    }
    const masked = await client.workflow
      .getHandle(workflowIdOf(`${prefix}customers.profiles_masked`))
      .query(getStatusQuery);
    assert.equal(masked.spec.classification.pii, true);
    assert.deepEqual(masked.spec.classification.masking.map((m) => m.field).sort(), [
      'email',
      'full_name',
      'phone',
    ]);
  });

  it('shows the evidence in `meshloop show`', async function () {
    this.timeout(60_000);
    const shown = await runCli(['show', `${prefix}orders.orders_with_payments`], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /stage\s+awaitingApproval/);
    assert.match(shown.stdout, /proposed by agent discovery-planner/);
    assert.match(shown.stdout, /evidence\s+.*orders\.orders: \d[\d,]* records sampled, 0 unparseable/);
    assert.match(shown.stdout, /reasoning\s+order_id is unique in/);
  });

  it('proposes nothing new on a second run (through the CLI)', async function () {
    this.timeout(5 * 60_000);
    const again = await runCli(['discover', '--topic-prefix', prefix, '--max-messages', '3000'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /proposed now \(waiting for approval\): nothing new/);
    assert.match(again.stdout, new RegExp(`proposed before: ${first.started.length};`));
  });

  it('keeps a schedule that can be paused and resumed', async function () {
    this.timeout(60_000);
    const scheduleId = `discovery-test-${run}`;
    try {
      const created = await ensureDiscoverySchedule(client, config, { scheduleId, intervalMs: 3_600_000 });
      assert.equal(created.created, true);
      const updated = await ensureDiscoverySchedule(client, config, { scheduleId, intervalMs: 1_800_000 });
      assert.equal(updated.created, false);
      await setDiscoveryPaused(client, config, true, 'test pause', scheduleId);
      assert.equal((await describeDiscoverySchedule(client, scheduleId))?.paused, true);
      await setDiscoveryPaused(client, config, false, 'test resume', scheduleId);
      const resumed = await describeDiscoverySchedule(client, scheduleId);
      assert.equal(resumed?.paused, false);
      assert.ok(resumed.nextRuns.length > 0);
    } finally {
      await client.schedule
        .getHandle(scheduleId)
        .delete()
        .catch(() => undefined);
    }
  });

  it('proposes with the LLM when a key is configured (fake OpenAI-compatible server), and only once', async function () {
    this.timeout(5 * 60_000);
    const fake = await FakeOpenAi.start();
    const llmQueue = `${taskQueue}-llm`;
    const llmConfig = loadConfig({
      ...env,
      MESHLOOP_TASK_QUEUE: llmQueue,
      OPENAI_API_KEY: 'sk-integration-secret',
      MESHLOOP_LLM_BASE_URL: fake.baseURL,
      MESHLOOP_LLM_MODEL: 'fake-model',
    });
    const logLines: string[] = [];
    const llmWorker = await startOrchestrationWorker(
      llmConfig,
      createLogger('discovery-llm-test', 'info', (line) => logLines.push(line)),
      { taskQueue: llmQueue },
    );
    const orders = `${prefix}orders.orders`;
    const payments = `${prefix}payments.payments`;
    const answer = {
      proposals: [
        {
          name: 'paid_orders',
          domain: `${prefix}orders`,
          kind: 'aggregate',
          description: 'Orders with their captured payment, for daily reconciliation.',
          inputs: [orders, payments],
          fields: [
            {
              name: 'order_id',
              type: 'string',
              description: 'order',
              sources: [{ topic: orders, field: 'order_id' }],
            },
            {
              name: 'total_amount',
              type: 'double',
              description: 'total',
              sources: [{ topic: orders, field: 'total_amount' }],
            },
            {
              name: 'amount_paid',
              type: 'double',
              description: 'paid',
              sources: [{ topic: payments, field: 'amount' }],
            },
            {
              name: 'order_ts',
              type: 'timestamp',
              description: 'ordered',
              sources: [{ topic: orders, field: 'order_ts' }],
            },
          ],
          key: ['order_id'],
          eventTimeField: 'order_ts',
          goal: 'Make orders data useful to the other domains.',
          reasoning: 'order_id joins orders and payments.',
          evidence: ['payments carry order_id'],
          confidence: 0.7,
          sql: `SELECT o.order_id, o.total_amount, p.amount AS amount_paid, o.order_ts
FROM orders o JOIN payments p ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
        },
      ],
    };
    // With a key the critic asks the LLM too, between the two discoveries (after the SQL guard).
    const critique = {
      verdict: 'propose',
      reasons: ['Orders with their payment serve reconciliation.'],
      goal: 'Make orders data useful to the other domains.',
      value: 'orders joined with their captured payment',
      figures: {
        inputRecordsPerSecond: null,
        outputRecordsPerSecond: null,
        stateBytes: null,
        icebergBytesPerDay: null,
        flinkSlots: null,
      },
    };
    fake.answer({ content: answer }, { content: critique }, { content: answer });
    const productId = `${prefix}orders.paid_orders`;
    try {
      const input = { topicPrefix: prefix, maxMessages: 3000, agent: 'auto' as const };
      const once = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
        taskQueue: llmQueue,
        workflowId: `discovery-test-${run}-llm-1`,
        args: [input],
      });
      assert.equal(once.agent, 'llm');
      assert.deepEqual(once.started, [productId]);
      // The product reads mesh.yaml and runs the SQL guard before it asks its approvers.
      const status = await statusAfterChecks(client, productId);
      assert.equal(status.stage, 'awaitingApproval');
      assert.equal(status.spec.proposal?.proposedBy.name, 'discovery-llm:fake-model');
      assert.equal(status.critique?.by, 'llm', 'the LLM critic reviewed it');
      assert.match(
        fake.requests[0]!.messages[1]!.content,
        new RegExp(`"topic":"${prefix}payments\\.payments"`),
      );

      const twice = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
        taskQueue: llmQueue,
        workflowId: `discovery-test-${run}-llm-2`,
        args: [input],
      });
      assert.deepEqual(twice.started, []);
      assert.equal(twice.alreadyProposed, 1);

      // The key never reaches workflow history nor the logs.
      for (const id of [`discovery-test-${run}-llm-1`, workflowIdOf(productId)]) {
        const history = JSON.stringify(await client.workflow.getHandle(id).fetchHistory());
        assert.ok(!history.includes('sk-integration-secret'), `key in the history of ${id}`);
      }
      assert.ok(logLines.length > 0 && !logLines.join('\n').includes('sk-integration-secret'));
    } finally {
      await client.workflow
        .getHandle(workflowIdOf(productId))
        .terminate('test finished')
        .catch(() => undefined);
      await llmWorker.shutdown();
      await fake.close();
    }
  });

  it('retries an unavailable LLM through Temporal (one request per attempt), then lets the planner propose', async function () {
    this.timeout(5 * 60_000);
    const fake = await FakeOpenAi.start();
    const queue = `${taskQueue}-llm-down`;
    const downWorker = await startOrchestrationWorker(
      loadConfig({
        ...env,
        MESHLOOP_TASK_QUEUE: queue,
        OPENAI_API_KEY: 'sk-integration-secret',
        MESHLOOP_LLM_BASE_URL: fake.baseURL,
      }),
      createLogger('discovery-llm-down-test', 'error'),
      { taskQueue: queue },
    );
    // The activity's retry policy allows 4 attempts: every one gets a 503.
    for (let i = 0; i < 4; i++) fake.answer({ status: 503, error: 'overloaded' });
    try {
      const result = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
        taskQueue: queue,
        workflowId: `discovery-test-${run}-llm-down`,
        args: [{ topicPrefix: prefix, maxMessages: 3000, agent: 'auto' }],
      });
      assert.equal(fake.requests.length, 4, 'maxRetries 0: Temporal made every attempt');
      assert.equal(result.agent, 'planner');
      assert.match(result.llmFailure ?? '', /HTTP 503/);
      // The planner's ideas were proposed by the first run already.
      assert.deepEqual(result.started, []);
      assert.equal(result.alreadyProposed, first.started.length);
    } finally {
      await downWorker.shutdown();
      await fake.close();
    }
  });
});

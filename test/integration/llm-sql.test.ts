import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { createDiscoveryActivities } from '../../activities/discovery';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { SqlGatewayClient } from '../../src/adapters/flink';
import { createLlmClient } from '../../src/adapters/llm/client';
import type { LlmAnswer } from '../../src/agents/llm-agent';
import { proposeWithLlm } from '../../src/agents/llm-agent';
import type { MeshloopConfig } from '../../src/config';
import { checkSpecSql } from '../../src/creation/guard';
import { createLogger } from '../../src/log';
import type { TopicProfile } from '../../src/profile';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';
import { FakeOpenAi } from '../helpers/fake-openai';
import { testPlatform } from '../helpers/platform';

type Proposal = LlmAnswer['proposals'][number];

const joinSql = `SELECT o.order_id, o.total_amount, p.amount AS amount_paid, o.order_ts
FROM orders o JOIN payments p ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`;

const join = (name: string, sql: string): Proposal => ({
  name,
  domain: 'orders',
  kind: 'aggregate',
  description: 'Orders with their captured payment.',
  inputs: ['orders.orders', 'payments.payments'],
  fields: [
    {
      name: 'order_id',
      type: 'string',
      description: 'order',
      sources: [{ topic: 'orders.orders', field: 'order_id' }],
    },
    {
      name: 'total_amount',
      type: 'double',
      description: 'total',
      sources: [{ topic: 'orders.orders', field: 'total_amount' }],
    },
    {
      name: 'amount_paid',
      type: 'double',
      description: 'paid',
      sources: [{ topic: 'payments.payments', field: 'amount' }],
    },
    {
      name: 'order_ts',
      type: 'timestamp',
      description: 'ordered',
      sources: [{ topic: 'orders.orders', field: 'order_ts' }],
    },
  ],
  key: ['order_id'],
  eventTimeField: 'order_ts',
  goal: 'Reconcile payments.',
  reasoning: 'order_id joins orders and payments.',
  evidence: [],
  confidence: 0.7,
  sql,
});

const contacts = (sql: string): Proposal => ({
  name: 'customer_contacts',
  domain: 'customers',
  kind: 'source-aligned',
  description: 'Customer contacts, masked.',
  inputs: ['customers.profiles'],
  fields: [
    {
      name: 'customer_id',
      type: 'string',
      description: 'id',
      sources: [{ topic: 'customers.profiles', field: 'customer_id' }],
    },
    {
      name: 'contact',
      type: 'string',
      description: 'e-mail',
      sources: [{ topic: 'customers.profiles', field: 'email' }],
    },
    {
      name: 'updated_at',
      type: 'timestamp',
      description: 'last change',
      sources: [{ topic: 'customers.profiles', field: 'updated_at' }],
    },
  ],
  key: ['customer_id'],
  eventTimeField: 'updated_at',
  goal: 'Know customers.',
  reasoning: 'Profiles keyed by customer_id.',
  evidence: [],
  confidence: 0.8,
  sql,
});

/**
 * The LLM's SQL drafts through the real SQL guard (real Flink SQL Gateway), the model being the
 * fake OpenAI-compatible server spoken to by the real openai client.
 */
describe('LLM SQL drafts checked by the real SQL guard', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let gateway: SqlGatewayClient;
  let fake: FakeOpenAi;
  let profiles: TopicProfile[];

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
    profiles = demoProfiles(8_000);
  });
  beforeEach(async () => {
    fake = await FakeOpenAi.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  const run = () =>
    proposeWithLlm({
      llm: createLlmClient({
        apiKey: 'sk-test',
        baseURL: fake.baseURL,
        model: 'fake-model',
        timeoutMs: 10_000,
      }),
      profiles,
      mesh: demoMesh,
      catalog: [],
      log: createLogger('llm-sql-test', 'error'),
      checkSql: (spec) => checkSpecSql({ gateway, connectors: config.flink }, spec),
    });

  it('refuses an unapproved topic, DDL, an OPTIONS hint and a missing column, each with its reason, after two repairs', async () => {
    const bad = [
      join('reads_shipments', joinSql.replace('JOIN payments p', 'JOIN shipments p')),
      join(
        'creates_a_table',
        "CREATE TABLE stolen (a STRING) WITH ('connector' = 'kafka', 'topic' = 'secrets')",
      ),
      join(
        'with_options',
        joinSql.replace('FROM orders o', "FROM orders /*+ OPTIONS('topic'='secrets') */ o"),
      ),
      join('missing_column', joinSql.replace('p.amount AS', 'p.discount AS')),
    ];
    const good = contacts(
      'SELECT customer_id, SHA2(CAST(email AS STRING), 256) AS contact, updated_at FROM profiles',
    );
    // The model never learns: the same drafts come back twice.
    fake.answer(
      { content: { proposals: [...bad, good] } },
      { content: { proposals: bad } },
      { content: { proposals: bad } },
    );
    const result = await run();
    assert.equal(result.calls, 3, 'three attempts, then dropped');
    const reasons = Object.fromEntries(result.dropped.map((d) => [d.name, d.reasons.join('\n')]));
    assert.deepEqual(Object.keys(reasons).sort(), [
      'orders.creates_a_table',
      'orders.missing_column',
      'orders.reads_shipments',
      'orders.with_options',
    ]);
    assert.match(reasons['orders.reads_shipments']!, /Flink refused the SQL: .*Object 'shipments' not found/);
    assert.match(
      reasons['orders.creates_a_table']!,
      /must be a query starting with SELECT or WITH, not 'CREATE'/,
    );
    assert.match(reasons['orders.with_options']!, /OPTIONS.*remove the OPTIONS hint/);
    assert.match(reasons['orders.missing_column']!, /Column 'discount' not found in table 'p'/);
    // The model was told why, each time.
    for (const request of fake.requests.slice(1)) {
      const feedback = request.messages.at(-1)!.content;
      assert.match(feedback, /orders\.reads_shipments: .*Object 'shipments' not found/);
      assert.match(feedback, /orders\.missing_column: .*Column 'discount' not found/);
      assert.ok(!feedback.includes('customer_contacts'), 'only failing proposals go back');
    }
    assert.deepEqual(
      result.proposals.map((p) => p.spec.name),
      ['customer_contacts'],
    );
    const spec = result.proposals[0]!.spec;
    assert.deepEqual(spec.classification.masking, [{ field: 'contact', strategy: 'hash' }]);
    assert.match(spec.sql ?? '', /SHA2/);
  });

  it('keeps drafts repaired on the second try (a missing column, an unmasked e-mail)', async () => {
    const wrongJoin = join('paid_orders', joinSql.replace('o.total_amount,', 'o.total,'));
    const unmasked = contacts('SELECT customer_id, email AS contact, updated_at FROM profiles');
    const fixedContacts = contacts(
      'SELECT customer_id, SHA2(CAST(email AS STRING), 256) AS contact, updated_at FROM profiles',
    );
    fake.answer(
      { content: { proposals: [wrongJoin, unmasked] } },
      { content: { proposals: [join('paid_orders', joinSql), fixedContacts] } },
    );
    const result = await run();
    assert.equal(result.calls, 2);
    assert.deepEqual(result.dropped, []);
    const feedback = fake.requests[1]!.messages.at(-1)!.content;
    assert.match(feedback, /orders\.paid_orders: .*Column 'total' not found in table 'o'/);
    assert.match(
      feedback,
      /customers\.customer_contacts: .*'contact' is personal data the spec masks \(hash\), but the SQL computes it from profiles\.email other than through SHA2/,
    );
    const byName = new Map(result.proposals.map((p) => [p.spec.name, p.spec]));
    assert.equal(byName.get('paid_orders')?.sql, joinSql);
    assert.match(
      byName.get('customer_contacts')?.sql ?? '',
      /SHA2\(CAST\(email AS STRING\), 256\) AS contact/,
    );
    // Accepted drafts pass the guard again as they are (what approval and deployment will run).
    for (const spec of byName.values()) {
      const again = await checkSpecSql({ gateway, connectors: config.flink }, spec);
      assert.deepEqual(again.problems, []);
      assert.equal(again.lineage.length, spec.schema.fields.length);
    }
  });

  it('runs in the discovery activity when it is given the gateway: a repaired draft starts, with its SQL', async () => {
    const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-llm-sql-'));
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'llm-sql-test' });
    const producer = kafka.producer();
    await producer.connect();
    const suffix = Date.now();
    const topics = [`_meshloop.catalog-llm-sql-${suffix}`, `_meshloop.proposals-llm-sql-${suffix}`];
    try {
      const profilesFile = path.join(workDir, 'profiles.json');
      await fs.writeFile(profilesFile, JSON.stringify({ profiles }));
      const meshFile = path.join(workDir, 'mesh.yaml');
      await fs.writeFile(
        meshFile,
        toYaml({
          domains: Object.fromEntries(
            Object.values(demoMesh.domains).map((d) => [
              d.name,
              { approvers: [...d.approvers], businessGoals: [...d.businessGoals] },
            ]),
          ),
        }),
      );
      const activities = createDiscoveryActivities({
        kafka,
        producer,
        log: createLogger('llm-sql-test', 'error'),
        dataDir: workDir,
        meshFile,
        llm: createLlmClient({
          apiKey: 'sk-test',
          baseURL: fake.baseURL,
          model: 'fake-model',
          timeoutMs: 10_000,
        }),
        catalogTopic: topics[0],
        proposalsTopic: topics[1],
        sqlGuard: { gateway, connectors: config.flink },
      });
      fake.answer(
        { content: { proposals: [join('paid_orders', joinSql.replace('p.amount AS', 'p.amount_paid AS'))] } },
        { content: { proposals: [join('paid_orders', joinSql)] } },
      );
      const batch = await activities.proposeDataProducts({
        runKey: `llm-sql-${suffix}`,
        profilesFile,
        agent: 'auto',
      });
      assert.equal(batch.agent, 'llm');
      assert.match(fake.requests[1]!.messages.at(-1)!.content, /Column 'amount_paid' not found in table 'p'/);
      assert.deepEqual(
        batch.starts.map((start) => [start.productId, start.spec.sql]),
        [['orders.paid_orders', joinSql]],
      );
      const report = JSON.parse(await fs.readFile(batch.reportFile, 'utf8')) as { dropped: unknown[] };
      assert.deepEqual(report.dropped, []);
    } finally {
      await producer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
      await fs.rm(workDir, { recursive: true, force: true });
    }
  });
});

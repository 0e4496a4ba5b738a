import assert from 'node:assert/strict';
import { SqlGatewayClient } from '../../src/adapters/flink';
import { createLlmClient } from '../../src/adapters/llm/client';
import type { CycleFigures, Neighbour } from '../../src/analysis/analyst';
import type { AnalystIdea } from '../../src/agents/llm-analyst';
import { proposeWithLlmAnalyst } from '../../src/agents/llm-analyst';
import type { MeshloopConfig } from '../../src/config';
import { checkSpecSql } from '../../src/creation/guard';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { FakeOpenAi } from '../helpers/fake-openai';
import { testPlatform } from '../helpers/platform';

const orders: ProductSpec = parseSpec({
  name: 'orders_curated',
  domain: 'orders',
  owner: 'orders-owner',
  kind: 'source-aligned',
  inputs: [
    {
      topic: 'orders.orders',
      as: 'orders',
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'customer_id', type: 'string' },
          { name: 'status', type: 'string' },
          { name: 'total_amount', type: 'double' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
    },
  ],
  sql: 'SELECT order_id, customer_id, status, total_amount, order_ts FROM orders',
  schema: {
    fields: [
      { name: 'order_id', type: 'string', nullable: false },
      { name: 'customer_id', type: 'string' },
      { name: 'status', type: 'string' },
      { name: 'total_amount', type: 'double' },
      { name: 'order_ts', type: 'timestamp' },
    ],
    key: ['order_id'],
    eventTimeField: 'order_ts',
  },
  quality: [{ rule: 'notNull', field: 'customer_id' }],
});

const customers: ProductSpec = parseSpec({
  name: 'profiles_masked',
  domain: 'customers',
  owner: 'customers-owner',
  kind: 'source-aligned',
  inputs: [{ topic: 'customers.profiles' }],
  schema: {
    fields: [
      { name: 'customer_id', type: 'string', nullable: false },
      { name: 'email', type: 'string', pii: true },
      { name: 'country', type: 'string' },
      { name: 'updated_at', type: 'timestamp' },
    ],
    key: ['customer_id'],
    eventTimeField: 'updated_at',
  },
  classification: { pii: true, level: 'confidential', masking: [{ field: 'email', strategy: 'hash' }] },
});

const figures: CycleFigures = {
  snapshotId: '5120794012345678901',
  rows: 12_000,
  fields: [
    { name: 'order_id', distinct: 12_000, nulls: 0 },
    { name: 'customer_id', distinct: 900, nulls: 0 },
    { name: 'status', distinct: 3, nulls: 0 },
    { name: 'total_amount', distinct: 4_000, nulls: 0 },
    { name: 'order_ts', distinct: 11_900, nulls: 0 },
  ],
  ruleHistory: { 'notNull:customer_id': [0, 0, 0] },
  query: 'SELECT count(*) AS "rows", approx_count_distinct("status") FROM t',
};

const neighbours: Neighbour[] = [
  {
    spec: customers,
    stage: 'active',
    overlaps: [{ field: 'customer_id', theirField: 'customer_id', containment: 0.99, query: 'SELECT …' }],
  },
];

const rollupSql = `SELECT CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start, status, COUNT(*) AS events,
  SUM(total_amount) AS revenue
FROM TABLE(TUMBLE(TABLE orders_curated, DESCRIPTOR(order_ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, status`;

const rollup = (name: string, sql: string): AnalystIdea => ({
  kind: 'aggregate',
  name,
  description: 'Orders per hour and status.',
  inputs: ['orders.orders_curated'],
  fields: [
    { name: 'window_start', type: 'timestamp', description: 'hour', sources: [] },
    {
      name: 'status',
      type: 'string',
      description: 'status',
      sources: [{ product: 'orders.orders_curated', field: 'status' }],
    },
    { name: 'events', type: 'long', description: 'orders', sources: [] },
    {
      name: 'revenue',
      type: 'double',
      description: 'sum of totals',
      sources: [{ product: 'orders.orders_curated', field: 'total_amount' }],
    },
  ],
  key: ['window_start', 'status'],
  eventTimeField: 'window_start',
  upsert: false,
  rule: null,
  insight: 'status has 3 distinct values over 12000 rows',
  reasoning: 'An hourly rollup per status serves dashboards.',
  confidence: 0.7,
  sql,
});

const joinSql =
  'SELECT o.order_id, o.total_amount, c.country FROM orders_curated o ' +
  'LEFT JOIN profiles_masked c ON o.customer_id = c.customer_id';

const join = (sql: string): AnalystIdea => ({
  kind: 'join',
  name: 'orders_with_country',
  description: 'Orders with their customer’s country.',
  inputs: ['orders.orders_curated', 'customers.profiles_masked'],
  fields: [
    {
      name: 'order_id',
      type: 'string',
      description: 'order',
      sources: [{ product: 'orders.orders_curated', field: 'order_id' }],
    },
    {
      name: 'total_amount',
      type: 'double',
      description: 'total',
      sources: [{ product: 'orders.orders_curated', field: 'total_amount' }],
    },
    {
      name: 'country',
      type: 'string',
      description: 'country',
      sources: [{ product: 'customers.profiles_masked', field: 'country' }],
    },
  ],
  key: ['order_id'],
  eventTimeField: null,
  upsert: true,
  rule: null,
  insight: '99 % of customer_id values are customers',
  reasoning: 'Orders read better with the customer’s country.',
  confidence: 0.6,
  sql,
});

/**
 * The LLM analyst's drafts through the real SQL guard (Flink SQL Gateway), the product inputs
 * bound from their specs as the catalog holds them; the model is the fake OpenAI-compatible
 * server spoken to by the real openai client.
 */
describe('LLM analyst drafts checked by the real SQL guard', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let gateway: SqlGatewayClient;
  let fake: FakeOpenAi;
  const catalog = new Map([orders, customers].map((spec) => [productIdOf(spec), spec]));
  const guard = (spec: ProductSpec) =>
    checkSpecSql({ gateway, connectors: config.flink }, spec, (id) => catalog.get(id));

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
  });
  beforeEach(async () => {
    fake = await FakeOpenAi.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  const run = () =>
    proposeWithLlmAnalyst({
      llm: createLlmClient({
        apiKey: 'sk-test',
        baseURL: fake.baseURL,
        model: 'fake-model',
        timeoutMs: 10_000,
      }),
      parent: orders,
      figures,
      neighbours,
      checkSql: async (spec) => [...(await guard(spec)).problems],
      log: createLogger('llm-analyst-test', 'error'),
    });

  it('drops a column that does not exist and SQL reading another table with the guard’s reasons, and keeps a valid idea', async () => {
    // Another idea (another output): its sum is of a column the product does not have.
    const discounts = rollup(
      'orders_discounts_hourly',
      rollupSql.replace('SUM(total_amount) AS revenue', 'SUM(discount) AS discounts'),
    );
    const missingColumn = {
      ...discounts,
      fields: discounts.fields.map((f) => (f.name === 'revenue' ? { ...f, name: 'discounts' } : f)),
    };
    const otherTable = join(joinSql.replace('LEFT JOIN profiles_masked c', 'LEFT JOIN customers_profiles c'));
    const good = rollup('orders_by_status_hourly', rollupSql);
    // The model never learns: the failing drafts come back as they were, twice.
    fake.answer(
      { content: { ideas: [missingColumn, otherTable, good] } },
      { content: { ideas: [missingColumn, otherTable] } },
      { content: { ideas: [missingColumn, otherTable] } },
    );
    const result = await run();
    assert.equal(fake.requests.length, 3, 'three attempts, then dropped');
    const reasons = Object.fromEntries(result.dropped.map((d) => [d.idea, d.reasons.join('\n')]));
    assert.deepEqual(Object.keys(reasons).sort(), [
      'orders.orders_discounts_hourly',
      'orders.orders_with_country',
    ]);
    assert.match(
      reasons['orders.orders_discounts_hourly']!,
      /Flink refused the SQL: .*Column 'discount' not found/,
    );
    assert.match(
      reasons['orders.orders_with_country']!,
      /Flink refused the SQL: .*Object 'customers_profiles' not found/,
    );
    for (const request of fake.requests.slice(1)) {
      const feedback = request.messages.at(-1)!.content;
      assert.match(feedback, /orders\.orders_discounts_hourly: .*Column 'discount' not found/);
      assert.ok(!feedback.includes('orders_by_status_hourly'), 'only failing ideas go back');
    }

    assert.deepEqual(
      result.proposals.map((p) => p.spec.name),
      ['orders_by_status_hourly'],
    );
    const { spec, insight } = result.proposals[0]!;
    assert.equal(spec.proposal?.parentProductId, 'orders.orders_curated');
    assert.deepEqual(spec.proposal?.proposedBy, { kind: 'agent', name: 'llm-analyst' });
    assert.equal(spec.sql, rollupSql);
    assert.equal(insight.figures.distinct_status, 3);
    assert.match(
      spec.proposal?.evidence.map((e) => e.summary).join('\n') ?? '',
      /status has 3 distinct values/,
    );
    // As it would be checked again before approval and deployment.
    const again = await guard(spec);
    assert.deepEqual(again.problems, []);
    assert.deepEqual(
      again.lineage.map((l) => [l.column, l.from.map((f) => `${f.input}.${f.field}`)]),
      [
        ['window_start', ['orders_curated.order_ts']],
        ['status', ['orders_curated.status']],
        ['events', []],
        ['revenue', ['orders_curated.total_amount']],
      ],
    );
  });

  it('keeps a join repaired on the second try, on an upsert topic', async () => {
    fake.answer(
      { content: { ideas: [join(joinSql.replace('c.country', 'c.region AS country'))] } },
      { content: { ideas: [join(joinSql)] } },
    );
    const result = await run();
    assert.deepEqual(result.dropped, []);
    assert.match(fake.requests[1]!.messages.at(-1)!.content, /Column 'region' not found/);
    const spec = result.proposals[0]!.spec;
    assert.equal(spec.sql, joinSql);
    assert.equal(spec.outputTopic.cleanupPolicy, 'compact');
    assert.deepEqual(
      spec.inputs.map((i) => ('product' in i ? i.product : i.topic)),
      ['orders.orders_curated', 'customers.profiles_masked'],
    );
  });
});

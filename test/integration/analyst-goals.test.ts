import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { createAnalysisCycleActivities } from '../../activities/analysis-cycle';
import { SqlGatewayClient } from '../../src/adapters/flink/sql-gateway';
import { ensureCatalogTopic, readCatalog } from '../../src/adapters/kafka/catalog';
import { createKafkaClient, MESHLOOP_TOPIC_PREFIX } from '../../src/adapters/kafka/client';
import { analysisLakeFromConfig } from '../../src/analysis/cycle-service';
import type { MeshloopConfig } from '../../src/config';
import { checkSpecSql } from '../../src/creation/guard';
import type { AnalysisProposals } from '../../src/domain/analysis';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { createProductTable, lakeTableSql, openLakeWriter, publishProduct } from '../helpers/lake-tables';
import { testPlatform } from '../helpers/platform';

/** The demo's orders goals (mesh.yaml): revenue per channel and region. */
const ordersGoals = [
  'Know daily revenue per channel and region within the hour.',
  'Spot abandoned and cancelled orders early enough to act on them.',
];

/**
 * The analyst over a real cycle (Iceberg tables written by DuckDB, the SQL guard in Flink's SQL
 * Gateway), in a domain whose goal is revenue: the rollup sums the amount per currency, never the
 * items; the join adds another source's columns; a product built from the same orders topic is
 * never joined.
 */
describe('the analyst serves the domain’s goals (real platform)', function () {
  this.timeout(300_000);
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const catalogTopic = `${MESHLOOP_TOPIC_PREFIX}catalog-goals-${suffix}`;
  const proposalsTopic = `${MESHLOOP_TOPIC_PREFIX}proposals-goals-${suffix}`;
  const log = createLogger('analyst-goals-test', 'warn');
  let config: MeshloopConfig;
  let kafka: Kafka;
  let producer: Producer;
  let gateway: SqlGatewayClient;
  let workDir: string;
  let proposals: AnalysisProposals;

  const orders: ProductSpec = parseSpec({
    name: `og_${suffix}`,
    domain: 'orders',
    owner: 'alice',
    description: 'Orders as placed.',
    kind: 'source-aligned',
    inputs: [{ topic: 'orders.orders', as: 'orders' }],
    sql: 'SELECT order_id, customer_id, status, items, total_amount, currency, order_ts FROM orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'status', type: 'string' },
        { name: 'items', type: 'long' },
        { name: 'total_amount', type: 'double' },
        { name: 'currency', type: 'string' },
        { name: 'order_ts', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'order_ts',
    },
  });
  // Built from the same orders topic (and payments): joining it to the orders adds nothing new.
  const ordersWithPayments: ProductSpec = parseSpec({
    name: `op_${suffix}`,
    domain: 'orders',
    owner: 'alice',
    description: 'Orders with their payment.',
    kind: 'aggregate',
    inputs: [
      { topic: 'orders.orders', as: 'orders' },
      { topic: 'payments.payments', as: 'payments' },
    ],
    sql: 'SELECT o.order_id, p.method FROM orders o JOIN payments p ON o.order_id = p.order_id',
    outputTopic: { cleanupPolicy: 'compact' },
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'method', type: 'string' },
      ],
      key: ['order_id'],
    },
  });
  const customers: ProductSpec = parseSpec({
    name: `cg_${suffix}`,
    domain: 'customers',
    owner: 'bob',
    description: 'Customers, one row per customer.',
    kind: 'source-aligned',
    inputs: [{ topic: 'customers.profiles', as: 'profiles' }],
    sql: 'SELECT customer_id, country FROM profiles',
    outputTopic: { cleanupPolicy: 'compact' },
    schema: {
      fields: [
        { name: 'customer_id', type: 'string', nullable: false },
        { name: 'country', type: 'string' },
      ],
      key: ['customer_id'],
    },
  });
  const ordersId = productIdOf(orders);

  before(async function () {
    this.timeout(15 * 60_000);
    const platform = await testPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-analyst-goals-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: {
          orders: { approvers: ['alice'], businessGoals: ordersGoals },
          customers: {
            approvers: ['bob'],
            businessGoals: ['Understand customer lifetime value by acquisition channel.'],
          },
          payments: {
            approvers: ['carol'],
            businessGoals: ['Reduce failed payments by payment method and provider.'],
          },
        },
      }),
    );
    config = { ...platform, meshFile };
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'analyst-goals-test' });
    producer = kafka.producer();
    await producer.connect();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
    await ensureCatalogTopic(kafka, catalogTopic);
    for (const spec of [orders, ordersWithPayments, customers]) {
      await createProductTable(config, spec);
      await publishProduct(producer, spec, 'active', catalogTopic);
    }
    const writer = await openLakeWriter(config);
    try {
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(orders)} SELECT 'o-' || i, 'c-' || (i % 20), ` +
          `['created', 'paid', 'shipped', 'cancelled'][1 + i % 4], 1 + i % 8, (i % 50) * 1.5 + 1, ` +
          `['EUR', 'USD', 'GBP'][1 + i % 3], now() - to_seconds(i * 30) FROM range(240) r(i)`,
      );
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(ordersWithPayments)} SELECT 'o-' || i, ['card', 'paypal'][1 + i % 2] FROM range(240) r(i)`,
      );
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(customers)} SELECT 'c-' || i, ['fr', 'de', 'it'][1 + i % 3] FROM range(30) r(i)`,
      );
    } finally {
      writer.close();
    }
    const activities = createAnalysisCycleActivities({
      ...analysisLakeFromConfig(config, log),
      kafka,
      producer,
      catalogTopic,
      proposalsTopic,
      log,
      meshFile,
      sqlGuard: { gateway, connectors: config.flink },
    });
    const cycleKey = `cycle-${suffix}`;
    const cycle = await activities.runAnalysisCycle({ productId: ordersId, cycleKey });
    assert.ok(cycle.snapshotId, JSON.stringify(cycle));
    proposals = await activities.proposeFromAnalysis({
      productId: ordersId,
      cycleKey,
      snapshotId: cycle.snapshotId,
    });
  });

  after(async () => {
    await producer?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [catalogTopic, proposalsTopic] }).catch(() => undefined);
    await admin.disconnect();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  const names = () => proposals.starts.map((s) => s.spec.name).sort();

  it('rolls up revenue per currency summing total_amount, not items, through the real SQL guard', async () => {
    const rollup = proposals.starts.find((s) => s.spec.name === `${orders.name}_by_currency_hourly`);
    assert.ok(rollup, JSON.stringify(names()));
    assert.match(rollup.spec.sql!, /SUM\(`total_amount`\) AS `total_amount`/);
    assert.doesNotMatch(rollup.spec.sql!, /items/);
    assert.match(rollup.spec.sql!, /GROUP BY window_start, window_end, `currency`/);
    assert.deepEqual(
      rollup.spec.schema.fields.map((f) => `${f.name}:${f.type}`),
      [
        'window_start:timestamp',
        'window_end:timestamp',
        'currency:string',
        'events:long',
        'total_amount:double',
      ],
    );
    assert.ok(
      rollup.spec.proposal!.reasoning.startsWith(
        `Serves the orders goal "${ordersGoals[0]}": it sums total_amount (an amount, not a count) per currency each hour; ` +
          `channel and region are not in ${ordersId}.`,
      ),
      rollup.spec.proposal!.reasoning,
    );
    const { view: catalog } = await readCatalog(kafka, { topic: catalogTopic });
    const verdict = await checkSpecSql({ gateway, connectors: config.flink }, rollup.spec, (id) =>
      catalog.specOf(id),
    );
    assert.equal(verdict.ok, true, verdict.problems.join('\n'));
  });

  it('joins the customers (another source) and never the product built from the same orders topic', () => {
    const joined = proposals.starts.flatMap((s) =>
      s.spec.inputs.flatMap((i) => ('product' in i && i.product !== ordersId ? [i.product] : [])),
    );
    assert.deepEqual(joined, [productIdOf(customers)], JSON.stringify(names()));
    const join = proposals.starts.find((s) => s.spec.inputs.length === 2)!;
    // The customers' country stands for the goal's region.
    assert.ok(
      join.spec.proposal!.reasoning.startsWith(
        `Serves the orders goal "${ordersGoals[0]}": it adds ${productIdOf(customers)}'s country to each row of ` +
          `${ordersId}; channel is not in ${ordersId}.`,
      ),
      join.spec.proposal!.reasoning,
    );
  });
});

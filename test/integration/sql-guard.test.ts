import assert from 'node:assert/strict';
import { SqlGatewayClient } from '../../src/adapters/flink';
import type { MeshloopConfig } from '../../src/config';
import { checkProductSql } from '../../src/creation/guard';
import { inputBindingsOf } from '../../src/creation/inputs';
import type { InputBinding, SqlCheckResult } from '../../src/domain/creation';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';
import { createSqlGuardActivities } from '../../activities/creation-guard';
import { ensureCatalogTopic, publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import { createLogger } from '../../src/log';
import { testPlatform } from '../helpers/platform';

/**
 * The SQL guard on the real Flink SQL Gateway: validation only (no job runs, no Kafka data read).
 */
describe('the SQL guard on the real Flink SQL Gateway', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let gateway: SqlGatewayClient;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
  });

  const ordersInput = {
    topic: 'orders.orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string' },
        { name: 'customer_id', type: 'string' },
        { name: 'total_amount', type: 'double' },
        { name: 'items', type: 'long' },
        { name: 'order_ts', type: 'timestamp' },
      ],
      eventTimeField: 'order_ts',
    },
  };
  const paymentsInput = {
    topic: 'payments.payments',
    schema: {
      fields: [
        { name: 'payment_id', type: 'string' },
        { name: 'order_id', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'paid_at', type: 'timestamp' },
      ],
      eventTimeField: 'paid_at',
    },
  };
  const joinedFields = [
    { name: 'order_id', type: 'string' },
    { name: 'total_amount', type: 'double' },
    { name: 'amount_paid', type: 'double' },
    { name: 'order_ts', type: 'timestamp' },
    { name: 'paid_at', type: 'timestamp' },
  ];
  // One event time per product: the payment's time is written as a plain instant (CAST).
  const joinSql = `SELECT o.order_id, o.total_amount, p.amount AS amount_paid, o.order_ts,
  CAST(p.paid_at AS TIMESTAMP_LTZ(3)) AS paid_at
FROM orders o
JOIN payments p
  ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`;

  function joined(overrides: Record<string, unknown> = {}): ProductSpec {
    return parseSpec({
      name: 'orders_with_payments',
      domain: 'orders',
      owner: 'orders-lead',
      kind: 'aggregate',
      inputs: [ordersInput, paymentsInput],
      schema: { fields: joinedFields, key: ['order_id'], eventTimeField: 'order_ts' },
      sql: joinSql,
      ...overrides,
    });
  }

  function bindingsOf(spec: ProductSpec): InputBinding[] {
    const { bindings, problems } = inputBindingsOf(spec, () => undefined);
    assert.deepEqual(problems, []);
    return bindings;
  }

  const check = (spec: ProductSpec, inputs = bindingsOf(spec)): Promise<SqlCheckResult> =>
    checkProductSql({ gateway, connectors: config.flink }, { spec, inputs });

  const refusedWith = async (spec: ProductSpec, reason: RegExp) => {
    const result = await check(spec);
    assert.equal(result.ok, false, `expected a refusal matching ${reason}`);
    assert.deepEqual(result.lineage, []);
    assert.match(result.problems.join('\n'), reason);
    return result;
  };

  it('accepts an interval join of two inputs, with Flink’s column types and the lineage of every column', async () => {
    const result = await check(joined());
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.columns.map((c) => `${c.name} ${c.type}`),
      [
        'order_id STRING',
        'total_amount DOUBLE',
        'amount_paid DOUBLE',
        'order_ts TIMESTAMP_LTZ(3) *ROWTIME*',
        'paid_at TIMESTAMP_LTZ(3)',
      ],
    );
    assert.deepEqual(result.lineage, [
      { column: 'order_id', from: [{ input: 'orders', field: 'order_id' }] },
      { column: 'total_amount', from: [{ input: 'orders', field: 'total_amount' }] },
      { column: 'amount_paid', from: [{ input: 'payments', field: 'amount' }] },
      { column: 'order_ts', from: [{ input: 'orders', field: 'order_ts' }] },
      { column: 'paid_at', from: [{ input: 'payments', field: 'paid_at' }] },
    ]);
  });

  it('refuses two event times in the output, saying which to CAST', async () => {
    await refusedWith(
      joined({ sql: joinSql.replace('CAST(p.paid_at AS TIMESTAMP_LTZ(3)) AS paid_at', 'p.paid_at') }),
      /more than one rowtime attribute column \[order_ts, paid_at\].*CAST\(<column> AS TIMESTAMP_LTZ\(3\)\)/,
    );
  });

  it("refuses the window TVF's TIMESTAMP(3) bounds for a timestamp field, with the CAST to write", async () => {
    await refusedWith(
      parseSpec({
        name: 'hourly_orders',
        domain: 'orders',
        owner: 'orders-lead',
        kind: 'aggregate',
        inputs: [ordersInput],
        schema: {
          fields: [
            { name: 'window_start', type: 'timestamp' },
            { name: 'orders', type: 'long' },
          ],
        },
        sql: `SELECT window_start, COUNT(*) AS orders
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end`,
      }),
      /'window_start' is TIMESTAMP\(3\) but the spec says timestamp .*CAST\(<ts> AS TIMESTAMP_LTZ\(3\)\)/,
    );
  });

  it('accepts a window TVF aggregate, widening INT counts into long, into an upsert topic', async () => {
    const spec = parseSpec({
      name: 'hourly_revenue',
      domain: 'orders',
      owner: 'orders-lead',
      kind: 'aggregate',
      inputs: [ordersInput],
      outputTopic: { cleanupPolicy: 'compact' },
      schema: {
        fields: [
          { name: 'window_start', type: 'timestamp' },
          { name: 'window_end', type: 'timestamp' },
          { name: 'order_count', type: 'long' },
          { name: 'revenue', type: 'double' },
          { name: 'items', type: 'long' },
        ],
        key: ['window_start'],
      },
      sql: `SELECT CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start,
       CAST(window_end AS TIMESTAMP_LTZ(3)) AS window_end, CAST(COUNT(*) AS INT) AS order_count,
       SUM(total_amount) AS revenue, SUM(items) AS items
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end;`,
    });
    const result = await check(spec);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(
      result.columns.find((c) => c.name === 'order_count'),
      {
        name: 'order_count',
        type: 'INT',
        nullable: false,
      },
    );
    assert.deepEqual(
      result.lineage.map((l) => `${l.column} <- ${l.from.map((f) => `${f.input}.${f.field}`).join(' ')}`),
      [
        'window_start <- orders.order_ts',
        'window_end <- orders.order_ts',
        'order_count <- ',
        'revenue <- orders.total_amount',
        'items <- orders.items',
      ],
    );
  });

  it('accepts a product input read by its alias, from the catalog’s spec', async () => {
    const upstream = joined();
    const spec = parseSpec({
      name: 'big_paid_orders',
      domain: 'orders',
      owner: 'orders-lead',
      kind: 'consumer-aligned',
      inputs: [{ product: 'orders.orders_with_payments', as: 'paid' }],
      schema: { fields: [{ name: 'order_id', type: 'string' }] },
      sql: 'SELECT order_id FROM paid WHERE amount_paid > 100',
    });
    const { bindings, problems } = inputBindingsOf(spec, (id) =>
      id === 'orders.orders_with_payments' ? upstream : undefined,
    );
    assert.deepEqual(problems, []);
    assert.equal(bindings[0]!.topic, 'orders.orders_with_payments');
    const result = await check(spec, bindings);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.lineage, [{ column: 'order_id', from: [{ input: 'paid', field: 'order_id' }] }]);
  });

  it('refuses reading a topic or table that is not a declared input (Flink: not found)', async () => {
    await refusedWith(
      joined({
        sql: 'SELECT order_id, total_amount, amount AS amount_paid, order_ts, order_ts AS paid_at FROM shipments',
      }),
      /Flink refused the SQL: .*Object 'shipments' not found/,
    );
    await refusedWith(
      joined({ sql: 'SELECT * FROM default_catalog.default_database.customers' }),
      /Object 'default_catalog\.default_database\.customers' not found|Object 'customers' not found/,
    );
  });

  it('refuses a masked personal field copied as it is, and accepts it hashed', async () => {
    const masked = (sql: string) =>
      parseSpec({
        name: 'profiles_masked',
        domain: 'customers',
        owner: 'customers-lead',
        kind: 'source-aligned',
        inputs: [
          {
            topic: 'customers.profiles',
            schema: {
              fields: [
                { name: 'customer_id', type: 'string' },
                { name: 'email', type: 'string' },
              ],
            },
          },
        ],
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'email', type: 'string', pii: true },
          ],
        },
        classification: { pii: true, level: 'confidential', masking: [{ field: 'email', strategy: 'hash' }] },
        sql,
      });
    await refusedWith(
      masked('SELECT customer_id, p.email FROM profiles p'),
      /'email' is personal data the spec masks \(hash\), but the SQL computes it from profiles\.email other than through SHA2.* on every path: write e\.g\. SHA2/,
    );
    const hashed = await check(masked('SELECT customer_id, SHA2(email, 256) AS email FROM profiles'));
    assert.deepEqual(hashed.problems, []);
    assert.deepEqual(hashed.lineage[1], { column: 'email', from: [{ input: 'profiles', field: 'email' }] });
  });

  it('refuses reading the raw source table behind an input', async () => {
    await refusedWith(joined({ sql: 'SELECT payload FROM meshloop_source_orders' }), /platform's own tables/);
  });

  it('refuses DDL, INSERT and two statements before Flink sees them', async () => {
    await refusedWith(
      joined({ sql: "CREATE TABLE stolen (a STRING) WITH ('connector' = 'kafka', 'topic' = 'secrets')" }),
      /must be a query starting with SELECT or WITH, not 'CREATE'/,
    );
    await refusedWith(joined({ sql: `INSERT INTO orders ${joinSql}` }), /not 'INSERT'/);
    await refusedWith(joined({ sql: `${joinSql};\nSELECT * FROM orders` }), /more than one statement/);
  });

  it('refuses an OPTIONS hint (and Flink would too: dynamic table options are off)', async () => {
    await refusedWith(
      joined({ sql: joinSql.replace('FROM orders o', "FROM orders /*+ OPTIONS('topic'='secrets') */ o") }),
      /OPTIONS.*remove the OPTIONS hint/,
    );
  });

  it('refuses a column that does not exist, with Flink’s words', async () => {
    await refusedWith(
      joined({ sql: joinSql.replace('CAST(p.paid_at', 'CAST(p.paid_on') }),
      /Flink refused the SQL: From line 2, column 10 to line 2, column 16: Column 'paid_on' not found in table 'p'/,
    );
  });

  it('refuses a wrong output type with a hint, and a TIMESTAMP without time zone', async () => {
    const result = await refusedWith(
      joined({
        sql: joinSql
          .replace('o.total_amount,', 'CAST(o.total_amount AS STRING) AS total_amount,')
          .replace('TIMESTAMP_LTZ(3)) AS paid_at', 'TIMESTAMP(3)) AS paid_at'),
      }),
      /'total_amount' is STRING but the spec says double \(DOUBLE\)/,
    );
    assert.match(
      result.problems.join('\n'),
      /'paid_at' is TIMESTAMP\(3\) but the spec says timestamp .*TO_TIMESTAMP_LTZ/,
    );
    assert.equal(result.columns.length, 5, 'Flink typed the columns');
  });

  it('refuses a missing, an extra and an unnamed output column', async () => {
    const result = await refusedWith(
      joined({ sql: joinSql.replace('p.amount AS amount_paid,', 'p.payment_id, o.items * 2,') }),
      /the spec's field 'amount_paid' \(double\) is not among the query's columns/,
    );
    const problems = result.problems.join('\n');
    assert.match(problems, /column 'payment_id' is not in the spec's schema/);
    assert.match(problems, /unnamed column EXPR\$3 \(BIGINT\): name it with AS/);
  });

  it('refuses an updating query into an append-only topic (Flink plans the real sink)', async () => {
    const spec = parseSpec({
      name: 'customer_totals',
      domain: 'orders',
      owner: 'orders-lead',
      kind: 'aggregate',
      inputs: [ordersInput],
      schema: {
        fields: [
          { name: 'customer_id', type: 'string' },
          { name: 'total', type: 'double' },
        ],
      },
      sql: 'SELECT customer_id, SUM(total_amount) AS total FROM orders GROUP BY customer_id',
    });
    await refusedWith(spec, /Flink cannot run it into the product topic: .*update/i);
  });

  it('says a missing SQL and an undeclared input schema are problems', async () => {
    const noSql = joined({ sql: undefined });
    await refusedWith(noSql, /sql: missing: .*\(orders, payments\)/);
    const { problems } = inputBindingsOf(
      joined({ inputs: [{ topic: 'orders.orders' }, paymentsInput] }),
      () => undefined,
    );
    assert.match(problems.join('\n'), /inputs\[0\] \(topic orders\.orders\): declare schema\.fields/);
    const missing = inputBindingsOf(joined({ inputs: [{ product: 'orders.nothing' }] }), () => undefined);
    assert.match(missing.problems.join('\n'), /product 'orders\.nothing' is not in the catalog/);
    const twice = inputBindingsOf(
      joined({ inputs: [ordersInput, { ...paymentsInput, as: 'orders' }] }),
      () => undefined,
    );
    assert.match(twice.problems.join('\n'), /both named 'orders'/);
  });

  it('throws (so the activity retries) when the gateway cannot be reached', async () => {
    const down = new SqlGatewayClient({ url: 'http://127.0.0.1:9', requestTimeoutMs: 2000 });
    await assert.rejects(
      checkProductSql(
        { gateway: down, connectors: config.flink },
        { spec: joined(), inputs: bindingsOf(joined()) },
      ),
      (error: Error & { retryable?: boolean }) => error.retryable === true,
    );
  });

  const approval = {
    by: 'alice',
    action: 'approve' as const,
    at: new Date().toISOString(),
    revision: 1,
    stage: 'provisioning' as const,
  };

  it('as an activity: reads a product input from the catalog, and says when one is missing', async () => {
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'sql-guard-test' });
    const catalogTopic = `_meshloop.catalog-guard-test-${Date.now()}`;
    await ensureCatalogTopic(kafka, catalogTopic);
    const producer = kafka.producer();
    await producer.connect();
    try {
      const upstream = joined();
      await publishCatalogRecord(
        producer,
        toCatalogDescriptor({
          spec: upstream,
          stage: 'active',
          decisions: [approval],
          resources: [],
          updatedAt: new Date(),
        }),
        catalogTopic,
      );
      const activities = createSqlGuardActivities({
        kafka,
        gateway,
        connectors: config.flink,
        log: createLogger('sql-guard-test', 'error'),
        catalogTopic,
      });
      const spec = parseSpec({
        name: 'paid_orders',
        domain: 'orders',
        owner: 'orders-lead',
        kind: 'consumer-aligned',
        inputs: [{ product: 'orders.orders_with_payments' }],
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'amount_paid', type: 'double' },
          ],
        },
        sql: 'SELECT order_id, amount_paid FROM orders_with_payments',
      });
      const accepted = await activities.checkProductSql({
        productId: 'orders.paid_orders',
        revision: 1,
        spec,
      });
      assert.deepEqual(accepted.problems, []);
      assert.deepEqual(
        accepted.lineage.map((l) => l.from),
        [
          [{ input: 'orders_with_payments', field: 'order_id' }],
          [{ input: 'orders_with_payments', field: 'amount_paid' }],
        ],
      );
      // Plain JSON: what goes through workflow history survives a round trip unchanged.
      assert.deepEqual(JSON.parse(JSON.stringify(accepted)), accepted);

      const orphan = parseSpec({ ...spec, inputs: [{ product: 'orders.not_there' }] });
      const missing = await activities.checkProductSql({
        productId: 'orders.paid_orders',
        revision: 2,
        spec: orphan,
      });
      assert.equal(missing.ok, false);
      assert.match(missing.problems.join('\n'), /product 'orders\.not_there' is not in the catalog/);
    } finally {
      await producer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [catalogTopic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});

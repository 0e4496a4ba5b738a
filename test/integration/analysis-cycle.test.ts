import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka, Producer } from 'kafkajs';
import { createAnalysisCycleActivities } from '../../activities/analysis-cycle';
import type { LlmAnalyst } from '../../src/analysis/cycle-service';
import { analysisLakeFromConfig } from '../../src/analysis/cycle-service';
import type { AnalysisProposals, CycleOutcome } from '../../src/domain/analysis';
import { analyseProduct } from '../../src/analysis/analyst';
import { proposeWithLlmAnalyst } from '../../src/agents/llm-analyst';
import { createLlmClient } from '../../src/adapters/llm/client';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { SqlGatewayClient } from '../../src/adapters/flink/sql-gateway';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { AnalysisResultsTable, ensureResultsTable } from '../../src/analysis/results-table';
import { ensureCatalogTopic, readCatalog } from '../../src/adapters/kafka/catalog';
import { CATALOG_TOPIC, createKafkaClient, MESHLOOP_TOPIC_PREFIX } from '../../src/adapters/kafka/client';
import type { MeshloopConfig } from '../../src/config';
import { checkSpecSql } from '../../src/creation/guard';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf, workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { queryProduct } from '../../src/query/product-query';
import { createProductTable, lakeTableSql, openLakeWriter, publishProduct } from '../helpers/lake-tables';
import { FakeOpenAi } from '../helpers/fake-openai';
import { testPlatform } from '../helpers/platform';
import type { analysisWorkflow } from '../../workflows/analysis';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { temporalConnectOptions } from '../../src/config';

/** The cycle's activities as the worker builds them (activities/index.ts), on this run's topics. */
function cycleActivities(
  config: MeshloopConfig,
  log: ReturnType<typeof createLogger>,
  clients: {
    kafka: Kafka;
    producer: Producer;
    gateway: SqlGatewayClient;
    catalogTopic: string;
    proposalsTopic: string;
    llmAnalyst?: LlmAnalyst;
  },
) {
  const { gateway, ...rest } = clients;
  return createAnalysisCycleActivities({
    ...analysisLakeFromConfig(config, log),
    ...rest,
    log,
    meshFile: config.meshFile,
    sqlGuard: { gateway, connectors: config.flink },
  });
}

/**
 * The analysis cycle's activities on the real platform: product tables in the Iceberg REST catalog
 * written by DuckDB, descriptors in a catalog topic of this run's own, the SQL guard in Flink's SQL
 * Gateway, results in `meshloop.analysis_results` read back with `meshloop query`'s code.
 */
describe('analysis cycle on the real platform: checks at a pinned snapshot, results table, proposals', function () {
  this.timeout(300_000);
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const catalogTopic = `${MESHLOOP_TOPIC_PREFIX}catalog-analysis-${suffix}`;
  const proposalsTopic = `${MESHLOOP_TOPIC_PREFIX}proposals-analysis-${suffix}`;
  const log = createLogger('analysis-cycle-test', 'warn');
  let config: MeshloopConfig;
  let kafka: Kafka;
  let producer: Producer;
  let activities: ReturnType<typeof cycleActivities>;
  let gateway: SqlGatewayClient;

  const orders: ProductSpec = parseSpec({
    name: `an_${suffix}`,
    domain: 'orders',
    owner: 'alice',
    description: 'Orders as placed, one row per order.',
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
            { name: 'coupon', type: 'string' },
            { name: 'total_amount', type: 'double' },
            { name: 'order_ts', type: 'timestamp' },
          ],
          eventTimeField: 'order_ts',
        },
      },
    ],
    sql: 'SELECT order_id, customer_id, status, coupon, total_amount AS amount, order_ts AS placed_at FROM orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'status', type: 'string' },
        { name: 'coupon', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'placed_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    quality: [
      { rule: 'notNull', field: 'customer_id' },
      { rule: 'range', field: 'amount', min: 0 },
      { rule: 'allowedValues', field: 'status', values: ['created', 'paid', 'shipped', 'refunded'] },
      // A plain row condition over a column the table does not have: DuckDB refuses it.
      { rule: 'custom', name: 'ghost', sql: 'ghost_column > 0' },
    ],
    sla: { freshness: '1h' },
  });
  const ordersId = productIdOf(orders);

  // A neighbour keyed by customer_id: every customer the orders name is one of its keys.
  const customers: ProductSpec = parseSpec({
    name: `cu_${suffix}`,
    domain: 'customers',
    owner: 'bob',
    description: 'Customers, one row per customer.',
    kind: 'source-aligned',
    inputs: [
      {
        topic: 'customers.profiles',
        as: 'profiles',
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'country', type: 'string' },
          ],
        },
      },
    ],
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

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'analysis-cycle-test' });
    producer = kafka.producer();
    await producer.connect();
    gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl });
    activities = cycleActivities(config, log, {
      kafka,
      producer,
      gateway,
      catalogTopic,
      proposalsTopic,
    });
    await ensureCatalogTopic(kafka, catalogTopic);
    for (const spec of [orders, customers]) {
      await createProductTable(config, spec);
      await publishProduct(producer, spec, 'active', catalogTopic);
    }
    const writer = await openLakeWriter(config);
    try {
      // 200 orders of 20 customers; three without a customer (the breach).
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(orders)} SELECT 'o-' || i, ` +
          `CASE WHEN i IN (7, 8, 9) THEN NULL ELSE 'c-' || (i % 20) END, ` +
          `['created', 'paid', 'shipped'][1 + i % 3], 'K' || i, (i % 50) * 1.5 + 1, now() - to_seconds(i) ` +
          `FROM range(200) r(i)`,
      );
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(customers)} SELECT 'c-' || i, ['fr', 'de', 'it'][1 + i % 3] FROM range(30) r(i)`,
      );
    } finally {
      writer.close();
    }
  });

  after(async () => {
    await producer?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({
        topics: [catalogTopic, proposalsTopic, `${proposalsTopic}-llm`, `${proposalsTopic}-openai`],
      })
      .catch(() => undefined);
    await admin.disconnect();
  });

  const resultsOf = async (cycleKey: string) =>
    (
      await queryProduct(config, 'meshloop.analysis_results', {
        sql:
          `SELECT rule, outcome, failing, examples, snapshot_id FROM t ` +
          `WHERE product_id = '${ordersId}' AND cycle_key = '${cycleKey}' ORDER BY rule`,
      })
    ).rows;

  let first: CycleOutcome;
  let second: CycleOutcome;
  const firstKey = `cycle-${suffix}-1`;
  const secondKey = `cycle-${suffix}-2`;

  it('a quality breach: the rule, its failing count and failing keys; the rows are in meshloop.analysis_results, written once', async () => {
    first = await activities.runAnalysisCycle({ productId: ordersId, cycleKey: firstKey });
    assert.equal(first.outcome, 'breach', JSON.stringify(first));
    assert.equal(first.rows, 200);
    assert.ok(first.snapshotId);
    const breach = first.breaches.find((b) => b.rule === 'notNull:customer_id');
    assert.ok(breach, JSON.stringify(first.breaches));
    assert.equal(breach.failing, 3);
    assert.deepEqual([...breach.examples].sort(), ['o-7', 'o-8', 'o-9']);
    assert.deepEqual(
      first.breaches.map((b) => b.rule),
      ['notNull:customer_id'],
      'the other rules and the freshness SLA pass',
    );

    const rows = await resultsOf(firstKey);
    const byRule = new Map(rows.map((r) => [r.rule as string, r]));
    assert.equal(byRule.get('cycle')?.outcome, 'breach');
    assert.equal(byRule.get('notNull:customer_id')?.outcome, 'fail');
    assert.equal(byRule.get('notNull:customer_id')?.failing, '3');
    assert.deepEqual((JSON.parse(byRule.get('notNull:customer_id')?.examples as string) as string[]).sort(), [
      'o-7',
      'o-8',
      'o-9',
    ]);
    assert.equal(byRule.get('range:amount')?.outcome, 'pass');
    assert.equal(byRule.get('sla:freshness')?.outcome, 'pass');
    assert.equal(byRule.get('drift')?.outcome, 'skipped', 'the first cycle has nothing to compare with');
    assert.equal(byRule.get('custom:ghost')?.outcome, 'uncheckable');
    assert.ok(
      first.findings.some((f) => f.startsWith('custom:ghost not checked:') && f.includes('ghost_column')),
      JSON.stringify(first.findings),
    );
    assert.ok(rows.every((r) => r.snapshot_id === first.snapshotId));

    // A retried activity returns the stored cycle and writes nothing more.
    const again = await activities.runAnalysisCycle({ productId: ordersId, cycleKey: firstKey });
    assert.deepEqual(again, first);
    assert.equal((await resultsOf(firstKey)).length, rows.length);
  });

  it('a later snapshot without the breach passes; a new value and new nulls are drift findings', async () => {
    const writer = await openLakeWriter(config);
    try {
      await writer.connection.run(`DELETE FROM ${lakeTableSql(orders)} WHERE customer_id IS NULL`);
      // 60 refunds: a status never seen before, and no coupon.
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(orders)} SELECT 'r-' || i, 'c-' || (i % 20), 'refunded', NULL, 5.0, now() - to_seconds(i) ` +
          `FROM range(60) r(i)`,
      );
    } finally {
      writer.close();
    }
    second = await activities.runAnalysisCycle({ productId: ordersId, cycleKey: secondKey });
    assert.equal(second.outcome, 'pass', JSON.stringify(second));
    assert.equal(second.rows, 257);
    assert.notEqual(second.snapshotId, first.snapshotId);
    assert.ok(
      second.findings.some((f) => f.startsWith('drift: status: new values') && f.includes("'refunded'")),
      JSON.stringify(second.findings),
    );
    assert.ok(
      second.findings.some((f) => f.startsWith('drift: coupon: nulls 0 %')),
      JSON.stringify(second.findings),
    );
    const rows = await resultsOf(secondKey);
    const drift = rows.find((r) => r.rule === 'drift');
    assert.equal(drift?.outcome, 'finding');
    assert.equal(rows.find((r) => r.rule === 'cycle')?.outcome, 'pass');
    assert.equal(rows.find((r) => r.rule === 'notNull:customer_id')?.failing, '0');
  });

  let proposals: AnalysisProposals;

  it('proposes an aggregate with its parent, evidence and SQL that passed the guard', async () => {
    proposals = await activities.proposeFromAnalysis({
      productId: ordersId,
      cycleKey: secondKey,
      snapshotId: second.snapshotId as string,
    });
    assert.ok(proposals.knownDomains.includes('orders'));
    const aggregate = proposals.starts.find((s) => s.spec.name === `${orders.name}_by_status_hourly`);
    assert.ok(aggregate, JSON.stringify(proposals.starts.map((s) => s.spec.name)));
    assert.equal(aggregate.spec.kind, 'aggregate');
    assert.equal(aggregate.spec.proposal?.parentProductId, ordersId);
    assert.deepEqual(aggregate.spec.inputs, [{ product: ordersId, as: aggregate.spec.inputs[0]?.as }]);
    const evidence = aggregate.spec.proposal?.evidence ?? [];
    assert.ok(
      evidence.some((e) => e.summary.includes('status has 4 distinct values')),
      JSON.stringify(evidence),
    );
    assert.ok(
      evidence.some((e) => e.summary.startsWith('query: SELECT')),
      JSON.stringify(evidence),
    );
    // The guard, asked again here on its own, agrees.
    const { view: catalog } = await readCatalog(kafka, { topic: catalogTopic });
    const verdict = await checkSpecSql({ gateway, connectors: config.flink }, aggregate.spec, (id) =>
      catalog.specOf(id),
    );
    assert.equal(verdict.ok, true, verdict.problems.join('\n'));
  });

  it('proposes a join with the neighbour whose keys hold the orders’ customers', () => {
    const join = proposals.starts.find((s) =>
      s.spec.inputs.some((i) => 'product' in i && i.product === productIdOf(customers)),
    );
    assert.ok(join, JSON.stringify(proposals.starts.map((s) => s.spec.name)));
    assert.equal(join.spec.proposal?.parentProductId, ordersId);
    assert.match(join.spec.sql ?? '', /LEFT JOIN/);
    assert.match(join.spec.sql ?? '', /`customer_id`/);
    assert.ok(join.spec.schema.fields.some((f) => f.name === 'country'));
    assert.ok(
      join.spec.proposal?.evidence.some((e) => e.summary.includes('100 %')),
      JSON.stringify(join.spec.proposal?.evidence),
    );
  });

  it('after the outcomes are recorded, the same ideas are not proposed again', async () => {
    assert.ok(proposals.starts.length >= 2);
    await activities.recordAnalysisProposalOutcomes({
      cycleKey: secondKey,
      outcomes: proposals.starts.map((s) => ({
        proposalId: s.proposalId,
        productId: s.productId,
        workflowId: s.workflowId,
        outcome: 'started' as const,
      })),
    });
    const again = await activities.proposeFromAnalysis({
      productId: ordersId,
      cycleKey: secondKey,
      snapshotId: second.snapshotId as string,
    });
    const before = new Set(proposals.starts.map((s) => s.proposalId));
    assert.deepEqual(
      again.starts.filter((s) => before.has(s.proposalId)).map((s) => s.spec.name),
      [],
    );
  });

  it('with an LLM analyst configured it proposes; a proposal whose SQL reads an undeclared table is refused by the guard', async () => {
    const seen: string[] = [];
    const withLlm = cycleActivities(config, log, {
      kafka,
      producer,
      gateway,
      catalogTopic,
      proposalsTopic: `${proposalsTopic}-llm`,
      // Stands in for src/agents/llm-analyst.ts: the deterministic ideas, plus one reading a table
      // the spec does not declare, as a model might write it.
      llmAnalyst: async (input) => {
        const result = analyseProduct({
          spec: input.parent,
          figures: input.figures,
          neighbours: input.neighbours,
        });
        const honest = result.proposals[0];
        assert.ok(honest);
        seen.push(...(await input.checkSql(honest.spec)));
        const sneaky = {
          ...honest,
          proposalId: `sneaky-${suffix}`,
          idea: 'sneaky',
          spec: { ...honest.spec, name: `${honest.spec.name}_sneaky`, sql: 'SELECT * FROM secrets' },
        };
        return { proposals: [honest, sneaky], dropped: [] };
      },
    });
    const answer = await withLlm.proposeFromAnalysis({
      productId: ordersId,
      cycleKey: secondKey,
      snapshotId: second.snapshotId as string,
    });
    assert.deepEqual(seen, [], 'the honest proposal passed the guard the analyst was given');
    assert.ok(answer.starts.some((s) => s.spec.name === `${orders.name}_by_status_hourly`));
    assert.ok(!answer.starts.some((s) => s.proposalId === `sneaky-${suffix}`), 'the guard refused it');
  });

  it('with an API key the LLM analyst proposes (fake OpenAI server): a draft reading another table is dropped with the guard’s reason', async () => {
    const fake = await FakeOpenAi.start();
    try {
      const alias = orders.name;
      const rollup = (name: string, from: string) => ({
        kind: 'aggregate',
        name,
        description: 'Orders per hour and status.',
        inputs: [ordersId],
        fields: [
          { name: 'window_start', type: 'timestamp', description: 'hour', sources: [] },
          {
            name: 'status',
            type: 'string',
            description: 'status',
            sources: [{ product: ordersId, field: 'status' }],
          },
          { name: 'events', type: 'long', description: 'orders', sources: [] },
          {
            name: 'revenue',
            type: 'double',
            description: 'sum',
            sources: [{ product: ordersId, field: 'amount' }],
          },
        ],
        key: ['window_start', 'status'],
        eventTimeField: 'window_start',
        upsert: false,
        rule: null,
        insight: 'status has 4 distinct values',
        reasoning: 'An hourly rollup per status serves dashboards.',
        confidence: 0.7,
        sql:
          `SELECT CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start, status, COUNT(*) AS events, SUM(amount) AS revenue ` +
          `FROM TABLE(TUMBLE(TABLE ${from}, DESCRIPTOR(placed_at), INTERVAL '1' HOUR)) GROUP BY window_start, window_end, status`,
      });
      const good = rollup(`${orders.name}_llm_hourly`, alias);
      // Another idea (another output column), reading a table that is not among its inputs.
      const other = rollup(`${orders.name}_elsewhere_hourly`, 'payments_raw');
      const elsewhere = {
        ...other,
        fields: other.fields.map((f) => (f.name === 'revenue' ? { ...f, name: 'turnover' } : f)),
        sql: other.sql.replace('AS revenue', 'AS turnover'),
      };
      // The model does not learn: the draft reading another table comes back twice, then is dropped.
      fake.answer(
        { content: { ideas: [good, elsewhere] } },
        { content: { ideas: [elsewhere] } },
        { content: { ideas: [elsewhere] } },
      );
      const llm = createLlmClient({
        apiKey: 'sk-test',
        baseURL: fake.baseURL,
        model: 'fake-model',
        timeoutMs: 10_000,
      });
      const withLlm = cycleActivities(config, log, {
        kafka,
        producer,
        gateway,
        catalogTopic,
        proposalsTopic: `${proposalsTopic}-openai`,
        llmAnalyst: (input) => proposeWithLlmAnalyst({ ...input, llm }),
      });
      const answer = await withLlm.proposeFromAnalysis({
        productId: ordersId,
        cycleKey: secondKey,
        snapshotId: second.snapshotId as string,
      });
      assert.equal(fake.requests.length, 3);
      assert.deepEqual(
        answer.starts.map((s) => [
          s.spec.name,
          s.spec.proposal?.proposedBy.name,
          s.spec.proposal?.parentProductId,
        ]),
        [[good.name, 'llm-analyst', ordersId]],
      );
      assert.match(fake.requests[1]?.messages.at(-1)?.content ?? '', /Object 'payments_raw' not found/);
    } finally {
      await fake.close().catch(() => undefined);
    }
  });

  it('volume: rows added per cycle against the recent cycles; a spike is a finding, not a breach', async () => {
    const steady = parseSpec({ ...orders, name: `vo_${suffix}`, quality: [] });
    const productId = productIdOf(steady);
    await createProductTable(config, steady);
    await publishProduct(producer, steady, 'active', catalogTopic);
    const writer = await openLakeWriter(config);
    const outcomes: CycleOutcome[] = [];
    try {
      // 100 rows before each of five cycles, then 1,000 before the sixth.
      for (const [i, added] of [100, 100, 100, 100, 100, 1000].entries()) {
        await writer.connection.run(
          `INSERT INTO ${lakeTableSql(steady)} SELECT 'v${i}-' || i, 'c-1', 'paid', 'K', 1.0, now() FROM range(${added}) r(i)`,
        );
        outcomes.push(await activities.runAnalysisCycle({ productId, cycleKey: `volume-${suffix}-${i}` }));
      }
    } finally {
      writer.close();
    }
    assert.deepEqual(
      outcomes.map((o) => [o.outcome, o.rows]),
      [100, 200, 300, 400, 500, 1500].map((rows) => ['pass', rows]),
    );
    assert.ok(outcomes.slice(0, 5).every((o) => !o.findings.some((f) => f.startsWith('volume'))));
    const spike = outcomes[5]?.findings.find((f) => f.startsWith('volume spike:'));
    assert.match(spike ?? '', /1000 rows added against a median of 100 over the last 4 cycles \(10\.00×/);
    const stored = (
      await queryProduct(config, 'meshloop.analysis_results', {
        sql: `SELECT outcome, figures FROM t WHERE product_id = '${productId}' AND rule = 'sla:volume' ORDER BY analysed_at`,
      })
    ).rows.map((r) => r.outcome);
    assert.deepEqual(stored, [
      'insufficientHistory',
      'insufficientHistory',
      'insufficientHistory',
      'insufficientHistory',
      'ok',
      'spike',
    ]);
  });

  it('a rule failing in three cycles in a row (read back from the results table) earns a valid-rows proposal', async () => {
    const leaky = parseSpec({
      ...orders,
      name: `vr_${suffix}`,
      quality: [{ rule: 'notNull', field: 'customer_id' }],
    });
    const productId = productIdOf(leaky);
    await createProductTable(config, leaky);
    await publishProduct(producer, leaky, 'active', catalogTopic);
    const writer = await openLakeWriter(config);
    let last: CycleOutcome | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        // 20 rows a cycle, two of them without a customer.
        await writer.connection.run(
          `INSERT INTO ${lakeTableSql(leaky)} SELECT 'l${i}-' || i, CASE WHEN i < 2 THEN NULL ELSE 'c-1' END, ` +
            `'paid', 'K', 1.0, now() FROM range(20) r(i)`,
        );
        last = await activities.runAnalysisCycle({ productId, cycleKey: `leaky-${suffix}-${i}` });
        assert.equal(last.breaches[0]?.failing, 2 * (i + 1));
      }
    } finally {
      writer.close();
    }
    const proposed = await activities.proposeFromAnalysis({
      productId,
      cycleKey: `leaky-${suffix}-2`,
      snapshotId: last?.snapshotId as string,
    });
    const valid = proposed.starts.find((s) => s.spec.name === `${leaky.name}_valid_notnull_customer_id`);
    assert.ok(valid, JSON.stringify(proposed.starts.map((s) => s.spec.name)));
    assert.match(valid.spec.sql ?? '', /WHERE `customer_id` IS NOT NULL/);
    assert.equal(valid.spec.proposal?.parentProductId, productId);
    assert.ok(
      valid.spec.proposal?.evidence.some((e) => e.summary.includes('over the last 3 cycles: 2, 4, 6')),
      JSON.stringify(valid.spec.proposal?.evidence),
    );
  });

  it('a product without a table yet is noData, recorded as such', async () => {
    const lonely = parseSpec({ ...orders, name: `nt_${suffix}` });
    await publishProduct(producer, lonely, 'active', catalogTopic);
    const outcome = await activities.runAnalysisCycle({
      productId: productIdOf(lonely),
      cycleKey: `cycle-${suffix}-lonely`,
    });
    assert.equal(outcome.outcome, 'noData');
    assert.equal(outcome.snapshotId, null);
    assert.match(outcome.findings[0] ?? '', /no Iceberg table yet/);
  });
});

/**
 * The orchestration worker as `npm start` runs it: `analysisWorkflow` finds the cycle's activities
 * registered, reads the real catalog topic, starts the analyst's proposals as product workflows and
 * records them in the ledger, so the next cycle does not propose them again.
 */
describe('analysisWorkflow through the orchestration worker (real activities, real platform)', function () {
  this.timeout(300_000);
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const taskQueue = `analysis-cycle-${suffix}`;
  let config: MeshloopConfig;
  let kafka: Kafka;
  let producer: Producer;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  const started: string[] = [];

  const spec: ProductSpec = parseSpec({
    name: `wf_${suffix}`,
    domain: 'orders',
    owner: 'alice',
    description: 'Orders as placed, one row per order.',
    kind: 'source-aligned',
    inputs: [
      {
        topic: 'orders.orders',
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
    sql: 'SELECT order_id, channel, total_amount AS amount, order_ts AS placed_at FROM orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'channel', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'placed_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    quality: [{ rule: 'range', field: 'amount', min: 0 }],
  });
  const productId = productIdOf(spec);

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'analysis-workflow-test' });
    producer = kafka.producer();
    await producer.connect();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    await ensureCatalogTopic(kafka);
    await createProductTable(config, spec);
    await publishProduct(producer, spec, 'active', CATALOG_TOPIC);
    const writer = await openLakeWriter(config);
    try {
      // Two negative amounts: a range breach.
      await writer.connection.run(
        `INSERT INTO ${lakeTableSql(spec)} SELECT 'w-' || i, ['web', 'app'][1 + i % 2], ` +
          `CASE WHEN i < 2 THEN -1.0 ELSE i * 1.0 END, now() - to_seconds(i) FROM range(100) r(i)`,
      );
    } finally {
      writer.close();
    }
    worker = await startOrchestrationWorker(config, createLogger('analysis-worker', 'warn'), { taskQueue });
  });

  after(async () => {
    for (const child of started) {
      await client.workflow
        .getHandle(workflowIdOf(child))
        .terminate('analysis test done')
        .catch(() => undefined);
    }
    // Out of the shared catalog again (tombstones), so later tests of the run do not meet them.
    await producer
      ?.send({
        topic: CATALOG_TOPIC,
        messages: [productId, ...started].map((key) => ({
          key,
          value: null,
        })),
      })
      .catch(() => undefined);
    await worker?.shutdown();
    await connection?.close();
    await producer?.disconnect();
  });

  const runCycle = () =>
    client.workflow.execute<typeof analysisWorkflow>('analysisWorkflow', {
      taskQueue,
      workflowId: `analysis:${productId}-test-${randomUUID().slice(0, 8)}`,
      args: [{ productId }],
    });

  it('reports the breach, starts the analyst’s proposals as product workflows; the next cycle proposes nothing again', async () => {
    const first = await runCycle();
    started.push(...first.started);
    assert.equal(first.summary.outcome, 'breach', JSON.stringify(first.summary));
    assert.deepEqual(
      first.summary.breaches.map((b) => [b.rule, b.failing]),
      [['range:amount', 2]],
    );
    assert.ok(first.started.includes(`orders.${spec.name}_by_channel_hourly`), JSON.stringify(first));
    assert.equal(first.summary.proposals.length, first.started.length + first.existing.length);
    const child = await client.workflow
      .getHandle(workflowIdOf(`orders.${spec.name}_by_channel_hourly`))
      .describe();
    assert.equal(child.type, 'dataProductWorkflow');

    const second = await runCycle();
    assert.deepEqual([second.started, second.existing, second.summary.proposals], [[], [], []]);
    assert.equal(second.summary.outcome, 'breach');
  });
});

describe('meshloop.analysis_results under concurrent writers', function () {
  this.timeout(300_000);

  it('every cycle lands exactly once when several processes append at the same time', async () => {
    const config = await testPlatform();
    const iceberg = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
    const ref = { catalog: 'lake', namespace: 'meshloop', name: `results_${randomUUID().slice(0, 8)}` };
    const table = await ensureResultsTable(iceberg, ref);
    const writers = ['a', 'b', 'c', 'd'];
    const cycles = 5;
    try {
      await Promise.all(
        writers.map(
          (who) =>
            new Promise<void>((resolve, reject) => {
              const child = spawn(
                process.execPath,
                [
                  '--import',
                  'tsx',
                  path.join(__dirname, '../helpers/append-cycles.ts'),
                  config.iceberg.catalogUrl,
                  config.stack.cacheDir,
                  table.location,
                  ref.namespace,
                  ref.name,
                  `p.${who}`,
                  String(cycles),
                ],
                { stdio: ['ignore', 'inherit', 'inherit'] },
              );
              child.once('error', reject);
              child.once('exit', (code) =>
                code === 0 ? resolve() : reject(new Error(`writer ${who} exited ${code}`)),
              );
            }),
        ),
      );
      const extensionDir = await ensureDuckDbExtensions(config.stack.cacheDir);
      const results = await AnalysisResultsTable.open({
        extensionDir,
        catalog: config.iceberg,
        table,
      });
      try {
        for (const who of writers)
          for (let i = 0; i < cycles; i++)
            assert.ok(await results.hasCycle(`p.${who}`, `k${i}`), `cycle k${i} of p.${who} is stored`);
      } finally {
        results.close();
      }
      const loaded = await iceberg.loadTable({ namespace: [ref.namespace], name: ref.name });
      assert.equal(loaded.currentSnapshot?.summary['total-records'], String(writers.length * cycles));
    } finally {
      await iceberg
        .dropTable({ namespace: [ref.namespace], name: ref.name }, { purge: true })
        .catch(() => undefined);
    }
  });
});

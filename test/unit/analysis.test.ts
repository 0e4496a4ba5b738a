import assert from 'node:assert/strict';
import type { CycleFigures, Neighbour } from '../../src/analysis/analyst';
import { analyseProduct, tablesReadBy } from '../../src/analysis/analyst';
import type { SnapshotSummary } from '../../src/analysis/drift';
import { compareSnapshots, fieldSummaryQueries } from '../../src/analysis/drift';
import { customRuleProblem, qualityRuleQueries } from '../../src/analysis/quality-queries';
import { checkVolume } from '../../src/analysis/volume';
import { parseSpec } from '../../src/domain/spec';
import type { ProductSpec } from '../../src/domain/spec';

const orders: ProductSpec = parseSpec({
  name: 'orders_curated',
  domain: 'orders',
  owner: 'orders-owner',
  kind: 'source-aligned',
  inputs: [{ topic: 'orders.orders', as: 'orders' }],
  sql: 'SELECT * FROM orders',
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
  quality: [
    { rule: 'notNull', field: 'customer_id' },
    { rule: 'unique', fields: ['order_id'] },
    { rule: 'range', field: 'total_amount', min: 0, max: 10_000 },
    { rule: 'allowedValues', field: 'status', values: ['created', "it's odd"] },
    { rule: 'freshness', maxDelay: '15m' },
    { rule: 'custom', name: 'positive', sql: 'total_amount > 0' },
  ],
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
      { name: 'status', type: 'string' },
    ],
    key: ['customer_id'],
  },
  classification: { pii: true, level: 'confidential', masking: [{ field: 'email', strategy: 'hash' }] },
});

const figures = (overrides: Partial<CycleFigures> = {}): CycleFigures => ({
  snapshotId: '5120794012345678901',
  rows: 120_000,
  fields: [
    { name: 'order_id', distinct: 120_000, nulls: 0 },
    { name: 'customer_id', distinct: 9_000, nulls: 12 },
    { name: 'status', distinct: 3, nulls: 0 },
    { name: 'total_amount', distinct: 40_000, nulls: 0 },
    { name: 'order_ts', distinct: 119_000, nulls: 0 },
  ],
  ruleHistory: {},
  query: 'SELECT count(*) AS "rows", approx_count_distinct("status") FROM t',
  ...overrides,
});

describe('quality rules as DuckDB queries', () => {
  const now = new Date('2026-03-01T12:00:00.000Z');
  const { queries, uncheckable } = qualityRuleQueries(orders, { now, maxExamples: 3 });
  const sqlOf = (rule: string) => queries.find((q) => q.rule === rule)?.sql ?? assert.fail(`no ${rule}`);

  it('turns every rule into one query over t with a failing count and a few keys', () => {
    assert.deepEqual(
      queries.map((q) => q.rule),
      [
        'notNull:customer_id',
        'unique:order_id',
        'range:total_amount',
        'allowedValues:status',
        'freshness:15m',
        'custom:positive',
      ],
    );
    assert.deepEqual(uncheckable, []);
    for (const q of queries) {
      assert.match(q.sql, /AS failing/);
      assert.match(q.sql, /AS examples/);
      assert.deepEqual(
        tablesReadBy(q.sql).filter((t) => !['failing', 'duplicated'].includes(t)),
        ['t'],
        q.sql,
      );
    }
    assert.match(sqlOf('notNull:customer_id'), /WHERE NOT "customer_id" IS NOT NULL/);
    assert.match(sqlOf('notNull:customer_id'), /CAST\("order_id" AS VARCHAR\) AS key/);
    assert.match(sqlOf('notNull:customer_id'), /LIMIT 3/);
    assert.match(sqlOf('range:total_amount'), /"total_amount" >= 0 AND "total_amount" <= 10000/);
    assert.match(sqlOf('allowedValues:status'), /IN \('created', 'it''s odd'\)/);
    assert.match(sqlOf('unique:order_id'), /GROUP BY "order_id" HAVING count\(\*\) > 1/);
    assert.match(sqlOf('freshness:15m'), /'2026-03-01T11:45:00\.000Z'/);
    assert.match(sqlOf('custom:positive'), /\(total_amount > 0\) IS NOT TRUE/);
  });

  it('quotes field names so a name cannot become SQL', () => {
    const spec = parseSpec({
      ...orders,
      schema: { fields: [{ name: 'a"; DROP TABLE t; --', type: 'string' }], key: [] },
      quality: [{ rule: 'notNull', field: 'a"; DROP TABLE t; --' }],
    });
    const [query] = qualityRuleQueries(spec, { now }).queries;
    assert.match(query!.sql, /"a""; DROP TABLE t; --" IS NOT NULL/);
  });

  it('refuses custom rules that are more than a row condition, and freshness without an event time', () => {
    for (const sql of [
      "1 = 1) OR (SELECT count(*) FROM read_csv('/etc/passwd')) > 0 OR (1 = 1",
      "total_amount > 0; ATTACH 'x.db'",
      "getenv('HOME') IS NOT NULL",
      'amount > 0 -- comment',
    ]) {
      assert.ok(customRuleProblem(sql), sql);
    }
    const spec = parseSpec({
      ...orders,
      schema: { ...orders.schema, eventTimeField: undefined },
      quality: [
        { rule: 'freshness', maxDelay: '1h' },
        { rule: 'custom', name: 'sneaky', sql: "read_text('/etc/passwd') IS NOT NULL" },
      ],
    });
    const result = qualityRuleQueries(spec, { now });
    assert.deepEqual(result.queries, []);
    assert.deepEqual(
      result.uncheckable.map((u) => u.rule),
      ['freshness:1h', 'custom:sneaky'],
    );
  });
});

describe('the SLA volume check', () => {
  it('needs a few cycles of history before it judges', () => {
    assert.equal(checkVolume(100, [90, 110]).outcome, 'insufficientHistory');
  });
  it('finds a drop below half and a spike above three times the recent median', () => {
    const recent = [100, 90, 120, 110, 5000];
    assert.equal(checkVolume(105, recent).outcome, 'ok');
    const drop = checkVolume(40, recent);
    assert.equal(drop.outcome, 'drop');
    assert.equal(drop.baseline, 110);
    assert.match(drop.summary, /40 rows added against a median of 110 over the last 5 cycles \(0\.36×/);
    assert.equal(checkVolume(400, recent).outcome, 'spike');
    assert.equal(checkVolume(0, [0, 0, 0]).outcome, 'ok');
    assert.equal(checkVolume(10, [0, 0, 0]).outcome, 'spike');
  });
});

describe('profile drift between snapshots', () => {
  const before: SnapshotSummary = {
    snapshotId: '1',
    rows: 1000,
    fields: [
      { name: 'order_id', type: 'string', rows: 1000, nulls: 0, distinct: 1000 },
      {
        name: 'status',
        type: 'string',
        rows: 1000,
        nulls: 0,
        distinct: 2,
        values: [
          { value: 'created', count: 900 },
          { value: 'cancelled', count: 100 },
        ],
      },
      { name: 'amount', type: 'double', rows: 1000, nulls: 0, distinct: 900, mean: 100, stddev: 20 },
      { name: 'legacy', type: 'string', rows: 1000, nulls: 0, distinct: 5 },
    ],
  };

  it('reports nothing when nothing changed', () => {
    assert.deepEqual(compareSnapshots(before, before), []);
  });

  it('reports new nulls, new values, shifted distributions, and added or dropped fields', () => {
    const after: SnapshotSummary = {
      snapshotId: '2',
      rows: 2000,
      fields: [
        { name: 'order_id', type: 'string', rows: 2000, nulls: 3, distinct: 1997 },
        {
          name: 'status',
          type: 'string',
          rows: 2000,
          nulls: 0,
          distinct: 3,
          values: [
            { value: 'created', count: 900 },
            { value: 'cancelled', count: 700 },
            { value: 'refunded', count: 400 },
          ],
        },
        { name: 'amount', type: 'double', rows: 2000, nulls: 0, distinct: 1800, mean: 160, stddev: 25 },
        { name: 'channel', type: 'string', rows: 2000, nulls: 0, distinct: 2 },
      ],
    };
    const findings = compareSnapshots(before, after).map((f) => `${f.kind}:${f.field}`);
    assert.deepEqual(findings.sort(), [
      'distributionShift:amount',
      'distributionShift:status',
      'droppedField:legacy',
      'newField:channel',
      'newNulls:order_id',
      'newValues:status',
    ]);
  });

  it('summarises a table with one counting query and a values query per text field', () => {
    const queries = fieldSummaryQueries(orders);
    assert.match(queries.counts, /avg\("total_amount"\) AS "mean_3"/);
    assert.deepEqual(Object.keys(queries.values), ['order_id', 'customer_id', 'status']);
    assert.deepEqual(tablesReadBy(queries.counts), ['t']);
  });
});

describe('the deterministic analyst', () => {
  const ordersFailing = figures({
    ruleHistory: { 'notNull:customer_id': [4, 7, 12], 'range:total_amount': [0, 3, 1] },
  });
  const neighbours: Neighbour[] = [
    {
      spec: customers,
      stage: 'active',
      overlaps: [
        { field: 'customer_id', theirField: 'customer_id', containment: 0.97, query: 'SELECT … FROM t, n' },
        { field: 'status', theirField: 'status', containment: 1, query: 'SELECT …' },
      ],
    },
  ];
  const result = analyseProduct({ spec: orders, figures: ordersFailing, neighbours });
  const byName = new Map(result.proposals.map((p) => [p.spec.name, p]));

  it('proposes an hourly aggregate, a join with an overlapping active product and valid rows for a failing rule', () => {
    assert.deepEqual(result.dropped, []);
    assert.deepEqual([...byName.keys()].sort(), [
      'orders_curated_by_status_hourly',
      'orders_curated_valid_notnull_customer_id',
      'orders_curated_with_profiles_masked',
    ]);
    for (const p of result.proposals) {
      assert.equal(p.spec.proposal?.parentProductId, 'orders.orders_curated');
      assert.equal(p.spec.domain, 'orders');
      const aliases = p.spec.inputs.map((i) => i.as);
      assert.deepEqual(tablesReadBy(p.spec.sql!).sort(), [...new Set(aliases)].sort(), p.spec.sql);
      assert.ok(p.insight.query.length > 0 && p.insight.summary.length > 0);
      assert.match(p.spec.proposal.evidence[0]!.source!, /^analysis:orders\.orders_curated@/);
    }
  });

  it('writes the aggregate with a tumbling window over the event time', () => {
    const p = byName.get('orders_curated_by_status_hourly')!;
    assert.equal(
      p.spec.sql,
      'SELECT\n' +
        '  CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start,\n' +
        '  CAST(window_end AS TIMESTAMP_LTZ(3)) AS window_end,\n' +
        '  `status`,\n' +
        '  COUNT(*) AS `events`,\n' +
        '  SUM(`total_amount`) AS `total_amount`\n' +
        "FROM TABLE(TUMBLE(TABLE orders_curated, DESCRIPTOR(`order_ts`), INTERVAL '1' HOUR))\n" +
        'GROUP BY window_start, window_end, `status`',
    );
    assert.deepEqual(p.spec.inputs, [{ product: 'orders.orders_curated', as: 'orders_curated' }]);
    assert.deepEqual(p.spec.schema.key, ['window_start', 'status']);
    // Typed as Flink types the window's bounds (cast from TIMESTAMP(3)) and the aggregates.
    assert.deepEqual(
      p.spec.schema.fields.map((f) => `${f.name}:${f.type}${f.nullable ? '?' : ''}`),
      [
        'window_start:timestamp',
        'window_end:timestamp',
        'status:string?',
        'events:long',
        'total_amount:double?',
      ],
    );
    assert.equal(p.insight.figures.distinct_status, 3);
  });

  it('joins on the overlapping key only, and keeps the neighbour’s personal fields masked', () => {
    const p = byName.get('orders_curated_with_profiles_masked')!;
    assert.match(
      p.spec.sql!,
      /LEFT JOIN profiles_masked ON orders_curated\.`customer_id` = profiles_masked\.`customer_id`/,
    );
    assert.match(p.spec.sql!, /profiles_masked\.`status` AS `profiles_masked_status`/);
    assert.equal(p.spec.classification.pii, true);
    assert.deepEqual(p.spec.classification.masking, [{ field: 'email', strategy: 'hash' }]);
    assert.equal(p.insight.figures.containment, 0.97);
  });

  it('filters valid rows only for a rule failing in each recent cycle', () => {
    const p = byName.get('orders_curated_valid_notnull_customer_id')!;
    assert.match(p.spec.sql!, /WHERE `customer_id` IS NOT NULL$/);
    assert.match(p.insight.summary, /4, 7, 12/);
    assert.equal(p.spec.kind, 'consumer-aligned');
  });

  it('never proposes the same idea twice, and gives another idea another id', () => {
    const again = analyseProduct({ spec: orders, figures: ordersFailing, neighbours });
    assert.deepEqual(
      again.proposals.map((p) => p.proposalId),
      result.proposals.map((p) => p.proposalId),
    );
    const known = new Set(result.proposals.map((p) => p.proposalId));
    assert.deepEqual(
      analyseProduct({ spec: orders, figures: ordersFailing, neighbours, alreadyProposed: known }).proposals,
      [],
    );
    assert.equal(new Set(known).size, 3);
  });

  it('proposes nothing without a dimension, an overlap, an active neighbour or a failing streak', () => {
    const quiet = analyseProduct({
      spec: orders,
      figures: figures({
        fields: figures().fields.map((f) => (f.name === 'status' ? { ...f, distinct: 500 } : f)),
        ruleHistory: { 'notNull:customer_id': [4, 0, 12] },
      }),
      neighbours: [{ ...neighbours[0]!, stage: 'retired' }],
    });
    assert.deepEqual(quiet.proposals, []);
  });
});

import assert from 'node:assert/strict';
import type { CycleMeasurement } from '../../src/analysis/cycle';
import {
  freshnessCheck,
  noDataOutcome,
  outcomeOf,
  resultRowsOf,
  snapshotSummaryOf,
  volumeFigures,
} from '../../src/analysis/cycle';
import { overlapCandidates, overlapQuery } from '../../src/analysis/neighbours';
import { CYCLE_ROW, outcomeOfCycleRow } from '../../src/analysis/results-table';
import { checkVolume } from '../../src/analysis/volume';
import { analysisCycleSummarySchema } from '../../src/domain/analysis';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';

const orders: ProductSpec = parseSpec({
  name: 'orders_curated',
  domain: 'orders',
  owner: 'alice',
  kind: 'source-aligned',
  schema: {
    fields: [
      { name: 'order_id', type: 'string', nullable: false },
      { name: 'customer_id', type: 'string' },
      { name: 'customer_no', type: 'long' },
      { name: 'email', type: 'string', pii: true },
      { name: 'status', type: 'string' },
      { name: 'amount', type: 'double' },
      { name: 'placed_at', type: 'timestamp' },
    ],
    key: ['order_id'],
    eventTimeField: 'placed_at',
  },
});

const keyedBy = (key: string[], type: 'string' | 'long' | 'double' = 'string') =>
  parseSpec({
    name: 'customers',
    domain: 'customers',
    owner: 'bob',
    kind: 'source-aligned',
    schema: {
      fields: [
        { name: 'customer_id', type, nullable: false },
        { name: 'region', type: 'string', nullable: false },
      ],
      key,
    },
  });

function measurement(overrides: Partial<CycleMeasurement> = {}): CycleMeasurement {
  return {
    productId: 'orders.orders_curated',
    cycleKey: 'analysis:orders.orders_curated-cycle-abc',
    snapshotId: '6308961363130664134',
    at: '2026-12-01T06:00:00.000Z',
    rows: 1000,
    rules: [{ rule: 'notNull:customer_id', failing: 0, examples: [] }],
    uncheckable: [],
    freshness: freshnessCheck({
      newestMs: Date.parse('2026-12-01T05:59:00Z'),
      nowMs: Date.parse('2026-12-01T06:00:00Z'),
      freshness: '1h',
      basis: 'eventTime',
    }),
    volume: checkVolume(100, []),
    drift: { findings: [], skipped: 'first cycle: nothing to compare with' },
    profile: { snapshotId: '6308961363130664134', rows: 1000, fields: [] },
    ...overrides,
  };
}

describe('analysis cycle: SLA freshness', () => {
  const now = Date.parse('2026-12-01T06:00:00Z');

  it('passes within the SLA and fails beyond it, saying how old the newest event is', () => {
    const fresh = freshnessCheck({
      newestMs: now - 10 * 60_000,
      nowMs: now,
      freshness: '15m',
      basis: 'eventTime',
    });
    assert.equal(fresh.outcome, 'pass');
    assert.equal(fresh.ageMs, 600_000);
    const stale = freshnessCheck({
      newestMs: now - 20 * 60_000,
      nowMs: now,
      freshness: '15m',
      basis: 'eventTime',
    });
    assert.equal(stale.outcome, 'fail');
    assert.match(stale.summary, /newest event 2026-12-01T05:40:00.000Z is 20 min old; the SLA allows 15m/);
  });

  it('an empty table fails; an event time a little ahead of our clock is not stale', () => {
    assert.equal(
      freshnessCheck({ newestMs: undefined, nowMs: now, freshness: '1h', basis: 'eventTime' }).outcome,
      'fail',
    );
    const ahead = freshnessCheck({ newestMs: now + 5000, nowMs: now, freshness: '1h', basis: 'eventTime' });
    assert.equal(ahead.outcome, 'pass');
    assert.equal(ahead.ageMs, 0);
  });

  it('without an event time field the last commit is measured, and the summary says so', () => {
    const check = freshnessCheck({
      newestMs: now - 7_200_000,
      nowMs: now,
      freshness: '1h',
      basis: 'lastCommit',
    });
    assert.equal(check.outcome, 'fail');
    assert.match(check.summary, /last commit \(no readable event time\)/);
  });
});

describe('analysis cycle: volume from past cycles', () => {
  it('rows added per cycle come from consecutive row counts; the latest against the previous cycle', () => {
    const past = [100, 150, 210, 260].map((rows, i) => ({
      cycleKey: `c${i}`,
      snapshotId: String(i),
      rows,
      at: `2026-12-01T0${i}:00:00Z`,
    }));
    assert.deepEqual(volumeFigures(past, 300), { added: 40, recent: [50, 60, 50] });
    // Rows that went away (retention, deletes) are not negative volume.
    assert.deepEqual(volumeFigures(past, 200), { added: 0, recent: [50, 60, 50] });
    assert.deepEqual(volumeFigures([], 75), { added: 75, recent: [] });
  });
});

describe('analysis cycle: profile from DuckDB rows', () => {
  it('reads BIGINTs given as strings, counts nulls, keeps value lists only when short', () => {
    const summary = snapshotSummaryOf(
      { schema: { fields: orders.schema.fields.slice(0, 2), key: ['order_id'] } },
      '42',
      { rows: '1000', present_0: '1000', distinct_0: '998', present_1: '990', distinct_1: '20' },
      {
        order_id: Array.from({ length: 21 }, (_, i) => ({ value: `o-${i}`, count: '1' })),
        customer_id: [{ value: 'c-1', count: '600' }],
      },
    );
    assert.equal(summary.rows, 1000);
    const [order, customer] = summary.fields;
    assert.deepEqual(
      { nulls: order?.nulls, distinct: order?.distinct, values: order?.values },
      { nulls: 0, distinct: 998, values: undefined },
    );
    assert.equal(customer?.nulls, 10);
    assert.deepEqual(customer?.values, [{ value: 'c-1', count: 600 }]);
  });
});

describe('analysis cycle: outcome and results rows', () => {
  it('passes when every rule and the SLA pass; a volume drop and drift are findings, not breaches', () => {
    const outcome = outcomeOf(
      measurement({
        volume: checkVolume(10, [100, 110, 90]),
        drift: {
          previousSnapshotId: '1',
          findings: [{ field: 'status', kind: 'newValues', summary: "status: new values 'refunded' (60)" }],
        },
      }),
    );
    assert.equal(outcome.outcome, 'pass');
    assert.deepEqual(outcome.breaches, []);
    assert.match(outcome.findings[0] ?? '', /^volume drop: 10 rows added against a median of 100/);
    assert.equal(outcome.findings[1], "drift: status: new values 'refunded' (60)");
  });

  it('a failing rule and a stale table are breaches with rule, failing count, examples and summary', () => {
    const outcome = outcomeOf(
      measurement({
        rules: [{ rule: 'notNull:customer_id', failing: 3, examples: ['o-7', 'o-8', 'o-9'] }],
        freshness: freshnessCheck({
          newestMs: 0,
          nowMs: Date.parse('2026-12-01T06:00:00Z'),
          freshness: '1h',
          basis: 'eventTime',
        }),
      }),
    );
    assert.equal(outcome.outcome, 'breach');
    assert.deepEqual(outcome.breaches[0], {
      rule: 'notNull:customer_id',
      failing: 3,
      examples: ['o-7', 'o-8', 'o-9'],
      summary: 'notNull:customer_id: 3 of 1000 rows fail',
    });
    assert.equal(outcome.breaches[1]?.rule, 'sla:freshness');
    assert.deepEqual(outcome.breaches[1]?.examples, ['1970-01-01T00:00:00.000Z']);
  });

  it('stays within the summary schema whatever the table holds', () => {
    const outcome = outcomeOf(
      measurement({
        rules: Array.from({ length: 30 }, (_, i) => ({
          rule: `custom:${'r'.repeat(300)}${i}`,
          failing: 1,
          examples: Array.from({ length: 15 }, () => 'x'.repeat(1000)),
        })),
        drift: {
          findings: Array.from({ length: 25 }, (_, i) => ({
            field: `f${i}`,
            kind: 'newNulls' as const,
            summary: `f${i}: ${'n'.repeat(600)}`,
          })),
        },
      }),
    );
    assert.ok(analysisCycleSummarySchema.safeParse({ ...outcome, proposals: [] }).success);
    assert.equal(outcome.breaches.length, 20);
    assert.equal(outcome.findings.length, 20);
    assert.match(outcome.findings[19] ?? '', /… and 6 more findings/);
    assert.ok(
      outcome.breaches.every((b) => b.examples.length === 10 && b.examples.every((e) => e.length <= 200)),
    );
  });

  it('one row per check and the cycle’s own, which carries the whole outcome back to a retried activity', () => {
    const m = measurement({
      rules: [
        { rule: 'notNull:customer_id', failing: 3, examples: ['o-7'] },
        { rule: 'unique:order_id', failing: 0, examples: [] },
      ],
      uncheckable: [{ rule: 'custom:odd', reason: 'not a row condition' }],
    });
    const outcome = outcomeOf(m);
    const rows = resultRowsOf(outcome, m);
    assert.deepEqual(
      rows.map((r) => [r.rule, r.outcome, r.failing]),
      [
        [CYCLE_ROW, 'breach', 1],
        ['notNull:customer_id', 'fail', 3],
        ['unique:order_id', 'pass', 0],
        ['custom:odd', 'uncheckable', 0],
        ['sla:freshness', 'pass', 0],
        ['sla:volume', 'insufficientHistory', 0],
        ['drift', 'skipped', 0],
      ],
    );
    assert.ok(rows.every((r) => r.cycleKey === m.cycleKey && r.snapshotId === m.snapshotId));
    assert.deepEqual(outcomeOfCycleRow(rows[0]?.figures ?? ''), outcome);
    assert.equal(outcomeOfCycleRow('{"outcome": {"productId": 1}}'), undefined);
    assert.equal(outcomeOfCycleRow('not json'), undefined);
  });

  it('the largest outcome the schema allows still round-trips through its cycle row', () => {
    const m = measurement({
      rules: Array.from({ length: 25 }, (_, i) => ({
        rule: `custom:${'r'.repeat(300)}${i}`,
        failing: 7,
        examples: Array.from({ length: 12 }, () => 'é'.repeat(400)),
      })),
      drift: {
        findings: Array.from({ length: 25 }, (_, i) => ({
          field: `f${i}`,
          kind: 'newNulls' as const,
          summary: 'n'.repeat(600),
        })),
      },
    });
    const outcome = outcomeOf(m);
    const cycleRow = resultRowsOf(outcome, m)[0];
    assert.ok((cycleRow?.figures.length ?? 0) > 32_000, 'larger than one figures cell elsewhere');
    assert.deepEqual(outcomeOfCycleRow(cycleRow?.figures ?? ''), outcome);
  });

  it('a cycle without data is one row, noData, with the reason', () => {
    const outcome = noDataOutcome(
      'orders.x',
      'k',
      new Date('2026-12-01T06:00:00Z'),
      'orders.x has no Iceberg table yet',
    );
    const rows = resultRowsOf(outcome);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.outcome, 'noData');
    assert.equal(rows[0]?.snapshotId, null);
    assert.equal(rows[0]?.summary, 'orders.x has no Iceberg table yet');
  });
});

describe('analysis cycle: which overlaps are measured', () => {
  it('our non-personal fields of the neighbour key’s family, against its single key', () => {
    assert.deepEqual(overlapCandidates(orders, keyedBy(['customer_id'])), [
      { field: 'order_id', theirField: 'customer_id' },
      { field: 'customer_id', theirField: 'customer_id' },
      { field: 'status', theirField: 'customer_id' },
    ]);
    assert.deepEqual(overlapCandidates(orders, keyedBy(['customer_id'], 'long')), [
      { field: 'customer_no', theirField: 'customer_id' },
    ]);
  });

  it('nothing for a composite or floating-point key, or for the product itself', () => {
    assert.deepEqual(overlapCandidates(orders, keyedBy(['customer_id', 'region'])), []);
    assert.deepEqual(overlapCandidates(orders, keyedBy(['customer_id'], 'double')), []);
    assert.deepEqual(overlapCandidates(orders, orders), []);
  });

  it('the overlap query quotes both names and reads only t and n', () => {
    const sql = overlapQuery('we"ird', 'customer_id');
    assert.match(sql, /CAST\("we""ird" AS VARCHAR\) AS v FROM t WHERE/);
    assert.match(sql, /FROM n WHERE "customer_id" IS NOT NULL/);
  });
});

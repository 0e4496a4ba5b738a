import assert from 'node:assert/strict';
import type { CriticFacts, InputFacts } from '../../src/agents/critic';
import { critique, goalTerms, sqlShapeOf } from '../../src/agents/critic';
import { agrees, checkFigures } from '../../src/agents/llm-critic';
import { signingOff } from '../../src/domain/approval-signing';
import { boundedPreview, critiqueCell } from '../../src/domain/critique';
import type { Critique, ProposalPreview } from '../../src/domain/critique';
import type { DomainGovernance } from '../../src/domain/governance';
import { proposedState } from '../../src/domain/product-state';
import type { DecideContext } from '../../src/domain/product-events';
import { applyOutcome, decide } from '../../src/domain/transitions';
import { validSpec } from '../helpers/specs';

const ordersGoals = [
  'Know daily revenue per channel and region within the hour.',
  'Spot abandoned and cancelled orders early enough to act on them.',
];

function input(alias: string, topic: string, extra: Partial<InputFacts> = {}): InputFacts {
  return {
    alias,
    topic,
    upstreamTopics: [topic],
    rate: {
      input: alias,
      topic,
      recordsPerSecond: 10,
      bytesPerSecond: 2000,
      windowSeconds: 900,
      bytesPerRecord: 200,
    },
    sampleRecords: 1000,
    fields: {
      order_id: { distinct: 1000, present: 1000, personal: false },
      currency: { distinct: 3, present: 1000, personal: false },
      channel: { distinct: 4, present: 1000, personal: false },
    },
    ...extra,
  };
}

const preview: ProposalPreview = {
  outcome: 'rows',
  columns: ['currency', 'revenue'],
  rows: [['EUR', '10.5']],
  rowCount: 12,
  capped: false,
  sampled: [{ input: 'orders', topic: 'orders', records: 1000 }],
  tookMs: 900,
  at: '2026-01-01T00:00:00Z',
};

function facts(overrides: Partial<CriticFacts>): CriticFacts {
  return {
    productId: 'orders.candidate',
    spec: validSpec(),
    inputs: [input('orders', 'orders')],
    existing: [],
    goals: ordersGoals,
    preview,
    parallelism: 1,
    inputsFingerprint: 'f',
    now: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

const rollup = (measure: string) =>
  validSpec({
    name: 'hourly_by_channel',
    inputs: [{ topic: 'orders' }],
    schema: {
      fields: [
        { name: 'window_start', type: 'timestamp' },
        { name: 'channel', type: 'string' },
        { name: 'revenue', type: 'double' },
      ],
      key: [],
    },
    sql: `SELECT window_start, channel, SUM(${measure}) AS revenue FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end, channel`,
  });

describe('the critic (rules)', () => {
  it('reads where a job keeps state from its SQL: windows, join intervals, group and join keys, sums', () => {
    const shape = sqlShapeOf(rollup('o.total_amount').sql!);
    assert.equal(shape.windowSeconds, 3600);
    assert.deepEqual(shape.groupBy, ['channel']);
    assert.deepEqual(shape.summed, ['total_amount']);
    const join = sqlShapeOf(
      "SELECT o.order_id FROM orders o JOIN payments p ON o.order_id = p.order_id AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR",
    );
    assert.equal(join.joins, 1);
    assert.equal(join.joinIntervalSeconds, 7200);
    assert.deepEqual(join.joinKeys, [['order_id', 'order_id']]);
  });

  it("reads a goal's measure and dimensions: revenue is an amount, per channel and region", () => {
    const terms = goalTerms(ordersGoals[0]!);
    assert.equal(terms.amount, true);
    assert.deepEqual(terms.dimensions, ['channel', 'region']);
  });

  it('dismisses a join with a product already derived from every topic it reads, naming the overlap', () => {
    const spec = validSpec({
      name: 'curated_with_payments',
      kind: 'consumer-aligned',
      inputs: [{ product: 'orders.orders_curated' }, { product: 'orders.orders_with_payments' }],
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'channel', type: 'string' },
          { name: 'total_amount', type: 'double' },
          { name: 'method', type: 'string' },
        ],
        key: ['order_id'],
      },
      sql: 'SELECT c.order_id, c.channel, w.total_amount, w.`method` FROM orders_curated c JOIN orders_with_payments w ON c.order_id = w.order_id',
    });
    const review = critique(
      facts({
        spec,
        inputs: [
          input('orders_curated', 'orders.orders_curated', {
            productId: 'orders.orders_curated',
            upstreamTopics: ['orders'],
          }),
          input('orders_with_payments', 'orders.orders_with_payments', {
            productId: 'orders.orders_with_payments',
            upstreamTopics: ['orders', 'payments'],
          }),
        ],
        existing: [
          {
            productId: 'orders.orders_curated',
            stage: 'active',
            upstreamTopics: ['orders'],
            columns: ['order_id', 'channel', 'total_amount'],
            keys: ['order_id'],
          },
          {
            productId: 'orders.orders_with_payments',
            stage: 'active',
            upstreamTopics: ['orders', 'payments'],
            columns: ['order_id', 'total_amount', 'method', 'payment_id'],
            keys: ['order_id'],
          },
        ],
      }),
    );
    assert.equal(review.verdict, 'dismiss');
    const reason = review.reasons.find((r) => r.startsWith('redundant:'));
    assert.ok(reason, review.reasons.join('; '));
    assert.match(
      reason,
      /orders\.orders_with_payments is already derived from every topic it reads \(orders, payments\)/,
    );
    const overlap = review.redundancy.find((o) => o.productId === 'orders.orders_with_payments');
    assert.deepEqual(overlap?.sharedColumns, ['order_id', 'total_amount', 'method']);
    assert.deepEqual(overlap?.sharedTopics, ['orders', 'payments']);
  });

  it('dismisses a copy of an existing product over the same topic, and proposes one that adds a new shape', () => {
    const copy = validSpec({
      name: 'orders_again',
      kind: 'source-aligned',
      inputs: [{ topic: 'orders' }],
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'channel', type: 'string' },
          { name: 'total_amount', type: 'double' },
        ],
        key: ['order_id'],
      },
      sql: 'SELECT order_id, channel, total_amount FROM orders',
    });
    const existing = [
      {
        productId: 'orders.orders_curated',
        stage: 'awaitingApproval',
        upstreamTopics: ['orders'],
        columns: ['order_id', 'channel', 'total_amount', 'status'],
        keys: ['order_id'],
      },
    ];
    assert.equal(critique(facts({ spec: copy, existing })).verdict, 'dismiss');
    const review = critique(facts({ spec: rollup('total_amount'), existing }));
    assert.equal(review.verdict, 'propose', review.reasons.join('; '));
    assert.equal(review.redundancy[0]?.productId, 'orders.orders_curated');
  });

  it('a rollup for a revenue goal must sum an amount: summing items is of no stated value', () => {
    const amount = critique(facts({ spec: rollup('total_amount') }));
    assert.equal(amount.verdict, 'propose');
    assert.equal(amount.value.goal, ordersGoals[0]);
    assert.match(amount.value.how, /sums total_amount \(an amount\) by channel/);
    const items = critique(
      facts({
        spec: validSpec({
          ...rollup('items'),
          schema: {
            fields: [
              { name: 'window_start', type: 'timestamp' },
              { name: 'currency', type: 'string' },
              { name: 'items', type: 'long' },
            ],
            key: [],
          },
          sql: "SELECT window_start, currency, SUM(items) AS items FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end, currency",
        }),
      }),
    );
    assert.equal(items.verdict, 'dismiss');
    assert.match(items.reasons.join(' '), /names an amount, but it sums items, a count of items/);
  });

  it('costs from the measured figures: output from the preview, state from key counts, slots', () => {
    const review = critique(facts({ spec: rollup('total_amount') }));
    // 10 records/s in; the preview made 12 rows from 1000 sampled records.
    assert.equal(review.cost.outputRecordsPerSecond, 0.12);
    // Groups per hourly window: the 4 channels the profile counted.
    assert.equal(review.cost.stateKeys, 4);
    assert.equal(review.cost.flinkSlots, 2);
    assert.ok(review.cost.icebergBytesPerDay > 0);
    assert.match(critiqueCell(review), /^propose 10→0\.12 rec\/s/);
  });

  it('weighs a failed or empty preview, and names personal inputs and late data as risks', () => {
    const failed = critique(
      facts({
        spec: rollup('total_amount'),
        preview: { ...preview, outcome: 'failed', rowCount: 0, rows: [], failure: 'Flink: boom' },
        inputs: [
          input('orders', 'orders', {
            lateSeconds: 120,
            fields: {
              email: { distinct: 10, present: 10, personal: true },
              channel: { distinct: 4, present: 10, personal: false },
            },
          }),
        ],
      }),
    );
    assert.match(failed.reasons.join(' '), /the preview failed: Flink: boom/);
    assert.match(failed.risk.lateData ?? '', /up to 120 s/);
    assert.match(failed.risk.notes.join(' '), /orders\.email/);
  });

  it('bounds the preview it keeps', () => {
    const big = boundedPreview({
      ...preview,
      rows: Array.from({ length: 100 }, () => ['x'.repeat(1000), null]),
    });
    assert.equal(big.rows.length, 20);
    assert.ok((big.rows[0]![0] ?? '').length <= 200);
    assert.equal(big.rows[0]![1], null);
  });
});

describe('the LLM critic figures check', () => {
  const cost: Critique['cost'] = critique(facts({ spec: rollup('total_amount') })).cost;

  it('takes figures within 2× of the measured ones and corrects the others', () => {
    assert.equal(agrees(0.2, 0.12), true);
    assert.equal(agrees(5, 0.12), false);
    const corrections = checkFigures(
      {
        verdict: 'propose',
        reasons: [],
        goal: null,
        value: '',
        figures: {
          inputRecordsPerSecond: 10,
          outputRecordsPerSecond: 500,
          stateBytes: null,
          icebergBytesPerDay: null,
          flinkSlots: 2,
        },
      },
      cost,
    );
    assert.equal(corrections.length, 1);
    assert.match(corrections[0]!, /outputRecordsPerSecond: the model said 500, measured 0\.12: corrected/);
  });
});

describe('the critic in the lifecycle', () => {
  const governance: DomainGovernance = {
    domain: 'orders',
    known: true,
    approvers: ['bob'],
    operators: ['ops'],
    requiredApprovals: 1,
    approvalDeadlineMs: 60_000,
    reminderIntervalMs: 10_000,
    jobWatchIntervalMs: 1_000,
    knownDomains: ['orders'],
    approvalSigning: signingOff,
    slackUsers: {},
  };
  const context: DecideContext = { governance, now: Date.parse('2026-01-01T00:00:00Z'), degradeCauses: true };
  const review = (verdict: 'propose' | 'dismiss'): Critique => ({
    ...critique(facts({ spec: rollup('total_amount') })),
    verdict,
    reasons: verdict === 'dismiss' ? ['redundant: orders.x already offers it'] : [],
  });

  it('a passing SQL guard waits for the critic; a dismissal ends the proposal with its reasons', () => {
    const state = proposedState(validSpec(), '2026-01-01T00:00:00Z');
    const observed = { stage: state.stage, revision: state.revision };
    const checked = decide(
      state,
      { kind: 'sqlChecked', observed, problems: [], criticFollows: true },
      context,
    );
    assert.equal(checked.next, undefined);
    applyOutcome(state, checked, '2026-01-01T00:00:00Z');
    const dismissed = decide(
      state,
      { kind: 'criticReviewed', observed, critique: review('dismiss'), preview },
      context,
    );
    assert.equal(dismissed.next, 'dismissed');
    applyOutcome(state, dismissed, '2026-01-01T00:00:01Z');
    assert.equal(state.critique?.verdict, 'dismiss');
    assert.equal(state.preview?.rowCount, 12);
    assert.match(
      state.decisions.at(-1)!.comment!,
      /dismissed by the critic \(rules\): redundant: orders\.x already offers it/,
    );
  });

  it('a proposal the critic puts forward, or could not review, goes to its approvers', () => {
    for (const event of [{ critique: review('propose') }, { unavailable: 'Flink unreachable' }]) {
      const state = proposedState(validSpec(), '2026-01-01T00:00:00Z');
      const observed = { stage: state.stage, revision: state.revision };
      const outcome = decide(state, { kind: 'criticReviewed', observed, ...event }, context);
      assert.equal(outcome.next, 'awaitingApproval');
    }
  });
});

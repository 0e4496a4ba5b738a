import assert from 'node:assert/strict';
import type { CycleFigures, Neighbour } from '../../src/analysis/analyst';
import { analyseProduct } from '../../src/analysis/analyst';
import { chooseMeasure, intentOf, upstreamTopicsOf } from '../../src/analysis/goals';
import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';

/** The demo mesh's orders goals (mesh.yaml). */
const ordersGoals = [
  'Know daily revenue per channel and region within the hour.',
  'Spot abandoned and cancelled orders early enough to act on them.',
];

const product = (
  input: Partial<ProductSpecInput> & Pick<ProductSpecInput, 'name' | 'domain' | 'inputs' | 'schema'>,
) => parseSpec({ owner: `${input.domain}-owner`, kind: 'source-aligned', sql: 'SELECT 1', ...input });

const ordersCurated: ProductSpec = product({
  name: 'orders_curated',
  domain: 'orders',
  inputs: [{ topic: 'orders.orders', as: 'orders' }],
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

const ordersWithPayments: ProductSpec = product({
  name: 'orders_with_payments',
  domain: 'orders',
  kind: 'aggregate',
  inputs: [
    { topic: 'orders.orders', as: 'orders' },
    { topic: 'payments.payments', as: 'payments' },
  ],
  schema: {
    fields: [
      { name: 'order_id', type: 'string', nullable: false },
      { name: 'method', type: 'string' },
      { name: 'paid_at', type: 'timestamp' },
    ],
    key: ['order_id'],
  },
});

const customers: ProductSpec = product({
  name: 'profiles_masked',
  domain: 'customers',
  inputs: [{ topic: 'customers.profiles' }],
  schema: {
    fields: [
      { name: 'customer_id', type: 'string', nullable: false },
      { name: 'country', type: 'string' },
      { name: 'acquisition_channel', type: 'string' },
    ],
    key: ['customer_id'],
  },
});

const figures = (distinct: Record<string, number>): CycleFigures => ({
  snapshotId: '42',
  rows: 10_000,
  fields: Object.entries(distinct).map(([name, n]) => ({ name, distinct: n, nulls: 0 })),
  ruleHistory: {},
  query: 'SELECT count(*) FROM t',
});
const ordersFigures = figures({
  order_id: 10_000,
  customer_id: 900,
  status: 5,
  items: 8,
  total_amount: 9000,
  currency: 4,
});
const neighbour = (spec: ProductSpec, field: string, theirField: string): Neighbour => ({
  spec,
  stage: 'active',
  overlaps: [{ field, theirField, containment: 1, query: 'SELECT … FROM t, n' }],
});
const specs = new Map([ordersCurated, ordersWithPayments, customers].map((s) => [productIdOf(s), s]));
const specOf = (id: string) => specs.get(id);

describe('goals as the analyst reads them', () => {
  it('tells money goals and the dimensions a goal names', () => {
    assert.deepEqual(intentOf(ordersGoals[0]!), {
      goal: ordersGoals[0],
      wantsAmount: true,
      dimensions: ['channel', 'region'],
      words: ['know', 'revenue', 'channel', 'region', 'hour'],
    });
    assert.equal(intentOf(ordersGoals[1]!).wantsAmount, false);
    assert.deepEqual(intentOf('Reduce failed payments by payment method and provider.').dimensions, [
      'payment',
      'method',
      'provider',
    ]);
    assert.equal(intentOf('Understand customer lifetime value by acquisition channel.').wantsAmount, true);
  });

  it('picks an amount, never a count of items, for a money goal; none when there is no amount', () => {
    const fields = ordersCurated.schema.fields.filter((f) => f.type === 'long' || f.type === 'double');
    const intents = ordersGoals.map(intentOf);
    assert.equal(chooseMeasure(fields, intents)?.field.name, 'total_amount');
    assert.equal(
      chooseMeasure(
        fields.filter((f) => f.name === 'items'),
        intents,
      ),
      undefined,
    );
    assert.equal(
      chooseMeasure(
        fields.filter((f) => f.name === 'items'),
        [intentOf(ordersGoals[1]!)],
      )?.field.name,
      'items',
    );
  });

  it('follows lineage through product inputs', () => {
    const rollup = product({
      name: 'orders_by_currency',
      domain: 'orders',
      inputs: [{ product: 'orders.orders_curated', as: 'orders_curated' }],
      schema: { fields: [{ name: 'currency', type: 'string' }], key: [] },
    });
    assert.deepEqual([...upstreamTopicsOf(rollup, specOf)].sort(), [
      'orders.orders',
      'product:orders.orders_curated',
    ]);
  });
});

describe('the deterministic analyst serves the domain', () => {
  const result = analyseProduct({
    spec: ordersCurated,
    figures: ordersFigures,
    neighbours: [
      neighbour(ordersWithPayments, 'order_id', 'order_id'),
      neighbour(customers, 'customer_id', 'customer_id'),
    ],
    goals: ordersGoals,
    specOf,
  });
  const byName = new Map(result.proposals.map((p) => [p.spec.name, p.spec]));

  it('rolls up revenue per currency summing total_amount, not items, and says which goal it serves', () => {
    const rollup = byName.get('orders_curated_by_currency_hourly');
    assert.ok(rollup, [...byName.keys()].join(', '));
    assert.match(rollup.sql!, /SUM\(`total_amount`\) AS `total_amount`/);
    assert.doesNotMatch(rollup.sql!, /items/);
    assert.deepEqual(rollup.schema.key, ['window_start', 'currency']);
    assert.equal(
      rollup.proposal!.reasoning.split(/(?<=\.) /)[0],
      'Serves the orders goal "Know daily revenue per channel and region within the hour.": it sums total_amount ' +
        '(an amount, not a count) per currency each hour; channel and region are not in orders.orders_curated.',
    );
    assert.match(rollup.proposal!.reasoning, /amounts are summed per currency/);
    assert.ok(
      rollup.proposal!.evidence.some(
        (e) => e.source === 'mesh.yaml:orders' && e.summary.startsWith('goal: Serves'),
      ),
    );
  });

  it('joins only a product that adds columns from another upstream source', () => {
    assert.deepEqual([...byName.keys()].sort(), [
      'orders_curated_by_currency_hourly',
      'orders_curated_with_profiles_masked',
    ]);
    assert.deepEqual(result.dropped, [
      {
        idea: 'join:orders.orders_with_payments',
        reasons: [
          'orders.orders_with_payments is built from orders.orders too, like orders.orders_curated: joining them adds ' +
            'no column from another upstream source',
        ],
      },
    ]);
    assert.match(
      byName.get('orders_curated_with_profiles_masked')!.proposal!.reasoning,
      /^Serves the orders goal "Know daily revenue per channel and region within the hour\.": it adds customers\.profiles_masked's country, acquisition_channel to each row of orders\.orders_curated\. /,
    );
  });

  it('never joins a product with its own upstream product', () => {
    const rollup = product({
      name: 'orders_enriched',
      domain: 'orders',
      inputs: [{ product: 'orders.orders_curated', as: 'orders_curated' }],
      schema: { fields: [{ name: 'order_id', type: 'string', nullable: false }], key: ['order_id'] },
    });
    const derived = analyseProduct({
      spec: rollup,
      figures: figures({ order_id: 10 }),
      neighbours: [neighbour(ordersCurated, 'order_id', 'order_id')],
      goals: ordersGoals,
      specOf,
    });
    assert.deepEqual(derived.proposals, []);
    assert.match(derived.dropped[0]!.reasons[0]!, /one another's lineage/);
  });

  it('groups by the dimensions a goal names first, and leaves out a rollup a money goal cannot use', () => {
    const shipments = product({
      name: 'shipments_curated',
      domain: 'shipments',
      inputs: [{ topic: 'shipments.shipments' }],
      schema: {
        fields: [
          { name: 'shipment_id', type: 'string', nullable: false },
          { name: 'status', type: 'string' },
          { name: 'carrier', type: 'string' },
          { name: 'parcels', type: 'long' },
          { name: 'shipped_at', type: 'timestamp' },
        ],
        key: ['shipment_id'],
        eventTimeField: 'shipped_at',
      },
    });
    const shipped = analyseProduct({
      spec: shipments,
      figures: figures({ shipment_id: 10_000, status: 2, carrier: 6, parcels: 5 }),
      neighbours: [],
      goals: ['Measure on-time delivery per carrier and region.'],
    });
    // status has fewer values, but the goal names the carrier.
    assert.deepEqual(
      shipped.proposals.map((p) => p.spec.name),
      ['shipments_curated_by_carrier_hourly'],
    );
    assert.match(
      shipped.proposals[0]!.spec.proposal!.reasoning,
      /^Serves the shipments goal "Measure on-time delivery per carrier and region\.": it sums parcels per carrier each hour; region is not in shipments\.shipments_curated\./,
    );
    const unpaid = analyseProduct({
      spec: shipments,
      figures: figures({ shipment_id: 10_000, status: 2, carrier: 6, parcels: 5 }),
      neighbours: [],
      goals: ['Grow shipping revenue per carrier.'],
    });
    assert.deepEqual(unpaid.proposals, []);
    assert.match(
      unpaid.dropped[0]!.reasons[0]!,
      /goals are about money, and shipments\.shipments_curated has no amount to sum \(its numeric fields: parcels\)/,
    );
  });
});

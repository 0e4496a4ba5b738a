import assert from 'node:assert/strict';
import { findJoinKeys } from '../../src/agents/join-keys';
import { planProposals } from '../../src/agents/planner';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { profileMessages } from '../../src/profile';
import type { ProfiledMessage, TopicProfile } from '../../src/profile';
import { BottomKSketch, hashString, keyOverlap } from '../../src/profile/sketch';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';
import { lendingRecords, lendingStart as start } from '../helpers/lending';

const toMessages = (records: readonly object[]): ProfiledMessage[] =>
  records.map((value, i) => ({
    partition: 0,
    offset: String(i),
    key: null,
    value: Buffer.from(JSON.stringify(value)),
    timestamp: start + i * 1000,
  }));

function lendingProfiles(): TopicProfile[] {
  return Object.entries(lendingRecords()).map(([topic, records]) =>
    profileMessages(topic, toMessages(records)),
  );
}

const lendingMesh = parseMeshConfig({
  domains: Object.fromEntries(
    ['lending', 'risk', 'archive'].map((name) => [
      name,
      { approvers: [`${name}-owner`], businessGoals: [`Lend well in ${name}`] },
    ]),
  ),
});

describe('key sketches', () => {
  it('keep the k smallest distinct hashes, ignoring repeats', () => {
    const sketch = new BottomKSketch(8);
    const hashes = Array.from({ length: 200 }, (_, i) => hashString(`v${i % 100}`));
    for (const h of hashes) sketch.add(h);
    const expected = [...new Set(hashes)].sort((a, b) => a - b).slice(0, 8);
    assert.deepEqual(sketch.toJSON(), { k: 8, hashes: expected });
  });

  it('measure overlap exactly on small sets and closely on large ones', () => {
    const sketchOf = (values: Iterable<string>) => {
      const sketch = new BottomKSketch();
      for (const v of values) sketch.add(hashString(v));
      return sketch.toJSON();
    };
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `id-${from + i}`);
    const small = keyOverlap(sketchOf(range(0, 100)), sketchOf(range(20, 300)));
    assert.equal(small.exact, true);
    assert.equal(small.containment, 0.8);
    assert.equal(small.coverage, 80 / 280);
    // 40,000 child values, 75 % of them among 100,000 parent keys.
    const large = keyOverlap(sketchOf(range(0, 40_000)), sketchOf(range(10_000, 110_000)));
    assert.equal(large.exact, false);
    assert.ok(Math.abs(large.containment - 0.75) < 0.1, `containment ${large.containment}`);
    assert.ok(Math.abs(large.coverage - 0.3) < 0.1, `coverage ${large.coverage}`);
    assert.ok(large.sampled.child >= 100, `sampled ${large.sampled.child}`);
    const disjoint = keyOverlap(sketchOf(range(0, 5000)), sketchOf(range(5000, 10_000)));
    assert.equal(disjoint.containment, 0);
  });

  it('are profiled for key-like fields only, never for personal data or few values', () => {
    const [apps, pulls] = lendingProfiles();
    const sketched = (p: TopicProfile | undefined) =>
      (p?.fields ?? []).filter((f) => f.keySketch).map((f) => f.name);
    assert.deepEqual(sketched(apps), ['loan_id', 'amount']);
    assert.deepEqual(sketched(pulls), ['pull_id', 'application_ref', 'score']);
    const people = profileMessages(
      'crm.people',
      toMessages(Array.from({ length: 200 }, (_, i) => ({ email: `p${i}@example.com`, id: `p-${i}` }))),
    );
    assert.deepEqual(sketched(people), ['id']);
  });
});

describe('the join finder', () => {
  it('joins topics on a key shared under names unlike the topics’ or each other’s', () => {
    const joins = findJoinKeys(lendingProfiles());
    assert.deepEqual(
      joins.map((j) => `${j.parent}.${j.parentField} ← ${j.child}.${j.childField}`),
      ['lending.applications.loan_id ← risk.credit-pulls.application_ref'],
    );
    assert.equal(joins[0]!.overlap.containment, 1);
    assert.ok(joins[0]!.overlap.coverage > 0.7 && joins[0]!.overlap.coverage < 0.9);
  });

  it('proposes the join with the overlap as evidence', () => {
    const { proposals } = planProposals(lendingProfiles(), lendingMesh);
    const join = proposals.find((p) => p.spec.name === 'applications_with_credit_pulls');
    assert.ok(join, proposals.map((p) => p.spec.name).join(', '));
    assert.deepEqual(
      join.spec.inputs.map(({ as, ...input }) => ({
        ...('topic' in input ? { topic: input.topic } : input),
        as,
      })),
      [
        { topic: 'lending.applications', as: 'applications' },
        { topic: 'risk.credit-pulls', as: 'credit_pulls' },
      ],
    );
    assert.match(
      join.spec.sql!,
      /^FROM applications\nJOIN credit_pulls\n {2}ON applications.`loan_id` = credit_pulls.`application_ref`$/m,
    );
    assert.deepEqual(join.spec.schema.key, ['loan_id']);
    assert.ok(!join.spec.schema.fields.some((f) => f.name === 'application_ref'));
    assert.match(
      join.spec.proposal!.evidence.map((e) => e.summary).join('\n'),
      /100 % of risk\.credit-pulls\.application_ref's values \(\d+ sampled\) are lending\.applications\.loan_id keys/,
    );
    assert.ok(
      !proposals.some(
        (p) =>
          p.spec.inputs.some((i) => 'topic' in i && i.topic === 'archive.loans') && p.spec.inputs.length > 1,
      ),
    );
  });

  it('does not join fields that share a name but not their values', () => {
    const profiles = lendingProfiles();
    const renamed = profileMessages(
      'risk.scores',
      toMessages(
        Array.from({ length: 1000 }, (_, i) => ({
          loan_id: `other-${i}`,
          scored_at: new Date(start + i * 1000).toISOString(),
        })),
      ),
    );
    const joins = findJoinKeys([...profiles, renamed]);
    assert.ok(!joins.some((j) => j.child === 'risk.scores' || j.parent === 'risk.scores'));
  });

  it('keeps the demo joins: orders own order_id, payments and shipments refer to it', () => {
    const joins = findJoinKeys(demoProfiles().filter((p) => p.pii.length === 0 && p.drift.length === 0));
    const described = joins.map((j) => `${j.parent}.${j.parentField} ← ${j.child}.${j.childField}`);
    assert.ok(
      described.includes('orders.orders.order_id ← payments.payments.order_id'),
      described.join('\n'),
    );
    assert.ok(
      described.includes('orders.orders.order_id ← shipments.shipments.order_id'),
      described.join('\n'),
    );
    assert.ok(!described.some((d) => d.startsWith('payments.payments.order_id')), described.join('\n'));
  });
});

describe('discovery over products’ output topics', () => {
  const profiles = demoProfiles().map((p) =>
    p.topic === 'orders.orders' ? { ...p, topic: 'orders.orders_curated' } : p,
  );

  it('builds on an active product as a product input and never proposes a curated copy of it', () => {
    const { proposals, skipped } = planProposals(profiles, demoMesh, {
      products: [{ productId: 'orders.orders_curated', topic: 'orders.orders_curated', stage: 'active' }],
    });
    const names = proposals.map((p) => `${p.spec.domain}.${p.spec.name}`);
    assert.ok(!names.includes('orders.orders_curated_curated'), names.join(', '));
    const join = proposals.find((p) => p.spec.name === 'orders_curated_with_payments');
    assert.ok(join, names.join(', '));
    assert.deepEqual(join.spec.inputs[0], { product: 'orders.orders_curated', as: 'orders_curated' });
    assert.equal('topic' in join.spec.inputs[1]! && join.spec.inputs[1].topic, 'payments.payments');
    assert.match(join.spec.description, /product orders\.orders_curated joined with payments\.payments/);
    assert.deepEqual(skipped, [
      'inventory.stock: schema drifts, fields changed type for more than 1.0 % of their values (quantity: long in 999 (84.7 %), string in 180 (15.3 %)); fix the producer first',
    ]);
  });

  it('joins the product rather than the raw topic it reads, and never the product with its source', () => {
    const both = [...demoProfiles(), ...profiles.filter((p) => p.topic === 'orders.orders_curated')];
    const { proposals } = planProposals(both, demoMesh, {
      products: [
        {
          productId: 'orders.orders_curated',
          topic: 'orders.orders_curated',
          stage: 'active',
          inputTopics: ['orders.orders'],
        },
      ],
    });
    const joins = proposals
      .filter((p) => p.spec.inputs.length > 1)
      .map((p) =>
        p.spec.inputs.map((i) => ('topic' in i ? `topic:${i.topic}` : `product:${i.product}`)).join(' '),
      );
    assert.deepEqual(joins.sort(), [
      'product:orders.orders_curated topic:payments.payments',
      'product:orders.orders_curated topic:shipments.shipments',
    ]);
  });

  it('leaves a product that is not running out, saying why', () => {
    const { proposals, skipped } = planProposals(profiles, demoMesh, {
      products: [
        { productId: 'orders.orders_curated', topic: 'orders.orders_curated', stage: 'provisioning' },
      ],
    });
    assert.ok(!proposals.some((p) => JSON.stringify(p.spec.inputs).includes('orders.orders_curated')));
    assert.ok(
      skipped.includes(
        'orders.orders_curated: output of product orders.orders_curated, which is provisioning',
      ),
    );
  });
});

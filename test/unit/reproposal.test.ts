import assert from 'node:assert/strict';
import {
  inputsFingerprintOf,
  ledgerBesidesDismissed,
  sortOutProposals,
} from '../../src/creation/inputs-fingerprint';
import type { CatalogDescriptor, Dismissal } from '../../src/domain/catalog';
import { parseCatalogDescriptor, toCatalogDescriptor } from '../../src/domain/catalog';
import { CatalogView } from '../../src/domain/catalog-view';
import type { Stage } from '../../src/domain/lifecycle';
import { checkDismissed, withReproposal } from '../../src/domain/proposals';
import type { ProductSpec } from '../../src/domain/spec';
import { productIdOf } from '../../src/domain/spec';
import { validSpec } from '../helpers/specs';

/** The decision on a dismissed idea: proposed again when its inputs changed, never otherwise. */
describe('proposals: a dismissed idea proposed again only when its inputs changed', () => {
  const upstream = (sql: string) =>
    validSpec({
      name: 'orders_curated',
      kind: 'source-aligned',
      inputs: [
        {
          topic: 'orders.placed',
          as: 'o',
          schema: { fields: [{ name: 'order_id', type: 'string' }] },
        },
      ],
      schema: { fields: [{ name: 'order_id', type: 'string' }], key: ['order_id'] },
      sql,
    });
  const live = (spec: ProductSpec): CatalogDescriptor =>
    toCatalogDescriptor({
      spec,
      stage: 'active',
      decisions: [
        {
          by: 'alice',
          action: 'approve',
          at: '2026-12-01T06:00:00.000Z',
          revision: 1,
          stage: 'provisioning',
        },
      ],
      resources: [],
      updatedAt: '2026-12-01T06:00:00.000Z',
    });
  const idea = validSpec({
    name: 'curated_rollup',
    inputs: [{ product: 'orders.orders_curated', as: 'c' }],
    sql: 'SELECT order_id FROM c',
  });
  const dismissed = (dismissal?: Dismissal, stage: Stage = 'dismissed'): CatalogDescriptor =>
    toCatalogDescriptor({
      spec: idea,
      stage,
      decisions: [
        {
          by: 'meshloop',
          action: 'critique',
          at: '2026-12-02T08:00:00.000Z',
          revision: 1,
          stage: 'dismissed',
          comment: 'dismissed by the critic (rules): redundant: the same as orders.orders_curated',
        },
      ],
      resources: [],
      updatedAt: '2026-12-02T08:00:00.000Z',
      ...(dismissal ? { dismissal } : {}),
    });
  const before = new CatalogView([live(upstream('SELECT order_id FROM o'))]);
  const dismissal: Dismissal = {
    at: '2026-12-02T08:00:00.000Z',
    by: 'rules',
    reasons: ['redundant: the same as orders.orders_curated'],
    inputsFingerprint: inputsFingerprintOf(idea, before),
  };
  const proposal = { proposalId: 'p-rollup', spec: idea };
  const ledger = new Set(['p-rollup']);

  it('leaves out a dismissed idea whose inputs are unchanged, saying when, by whom and why', () => {
    const view = new CatalogView([...before.all(), dismissed(dismissal)]);
    const sorted = sortOutProposals([proposal], ledger, view);
    assert.deepEqual(sorted.fresh, []);
    assert.deepEqual(sorted.dismissedUnchanged, [
      'orders.curated_rollup: dismissed on 2026-12-02T08:00:00.000Z by the critic (rules): ' +
        'redundant: the same as orders.orders_curated; inputs unchanged',
    ]);
    // Not in the ledger (a reworded idea for the same product): still left out.
    assert.deepEqual(sortOutProposals([proposal], new Set(), view).fresh, []);
  });

  it('proposes it again once an upstream product’s SQL changed, naming both fingerprints', () => {
    const view = new CatalogView([
      live(upstream("SELECT order_id FROM o WHERE order_id <> ''")),
      dismissed(dismissal),
    ]);
    const sorted = sortOutProposals([proposal], ledger, view);
    assert.deepEqual(sorted.fresh, [proposal]);
    assert.deepEqual(sorted.dismissedUnchanged, []);
    const reproposal = sorted.reproposals.get('p-rollup');
    assert.ok(reproposal);
    assert.equal(reproposal.previousFingerprint, dismissal.inputsFingerprint);
    assert.equal(reproposal.currentFingerprint, inputsFingerprintOf(idea, view));
    assert.notEqual(reproposal.currentFingerprint, reproposal.previousFingerprint);
    const spec = withReproposal(idea, reproposal);
    const note =
      'Proposed again: its inputs changed since the critic dismissed it on 2026-12-02T08:00:00.000Z ' +
      `(inputs fingerprint ${reproposal.previousFingerprint} then, ${reproposal.currentFingerprint} now).`;
    assert.ok(spec.proposal?.reasoning.startsWith(note), spec.proposal?.reasoning);
    assert.deepEqual(spec.proposal?.evidence[0], { summary: note, source: 'critic' });
    assert.equal(productIdOf(spec), productIdOf(idea));
  });

  it('a changed declared field of a topic input changes the fingerprint; the same inputs give the same one', () => {
    const withType = (type: string) =>
      validSpec({
        inputs: [{ topic: 'orders.placed', schema: { fields: [{ name: 'amount', type }] } }],
      });
    assert.equal(
      inputsFingerprintOf(withType('double'), CatalogView.empty),
      inputsFingerprintOf(withType('double'), CatalogView.empty),
    );
    assert.notEqual(
      inputsFingerprintOf(withType('double'), CatalogView.empty),
      inputsFingerprintOf(withType('string'), CatalogView.empty),
    );
  });

  it('a product not dismissed: the ledger decides, as before', () => {
    const view = new CatalogView([...before.all(), dismissed(undefined, 'rejected')]);
    assert.deepEqual(sortOutProposals([proposal], ledger, view).fresh, []);
    assert.deepEqual(sortOutProposals([proposal], new Set(), view).fresh, [proposal]);
    assert.deepEqual(
      checkDismissed('x.y', undefined, () => assert.fail('not computed')),
      { kind: 'open' },
    );
  });

  it('a dismissal recorded without a fingerprint (an older catalog record) stays dismissed, with the decision’s comment', () => {
    const check = checkDismissed(productIdOf(idea), dismissed(), () => assert.fail('not computed'));
    assert.equal(check.kind, 'skip');
    assert.match(
      check.kind === 'skip' ? check.line : '',
      /^orders\.curated_rollup: dismissed on 2026-12-02T08:00:00\.000Z by the critic: dismissed by the critic \(rules\): redundant: .*; its inputs' fingerprint was not recorded, so it is not proposed again$/,
    );
  });

  it('the catalog keeps the dismissal through JSON; a malformed one is left out, not the product', () => {
    const stored = JSON.parse(JSON.stringify(dismissed(dismissal))) as Record<string, unknown>;
    const read = parseCatalogDescriptor(stored);
    assert.ok(read.ok);
    assert.deepEqual(read.descriptor.dismissal, dismissal);
    const bad = parseCatalogDescriptor({ ...stored, dismissal: { at: 1, reasons: 'no' } });
    assert.ok(bad.ok);
    assert.equal(bad.descriptor.dismissal, undefined);
  });

  it('the analyst sees the ledger without the ideas of dismissed products (they are decided from their inputs)', () => {
    const view = new CatalogView([...before.all(), dismissed(dismissal)]);
    const entries = new Map<string, string | undefined>([
      ['p-rollup', productIdOf(idea)],
      ['p-curated', 'orders.orders_curated'],
      ['p-old', undefined],
    ]);
    assert.deepEqual([...ledgerBesidesDismissed(entries, view)].sort(), ['p-curated', 'p-old']);
  });
});

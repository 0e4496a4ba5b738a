import { createHash } from 'node:crypto';
import type { CatalogView } from '../domain/catalog-view';
import type { InputBinding } from '../domain/creation';
import type { DismissedCheck, Reproposal } from '../domain/proposals';
import { checkDismissed } from '../domain/proposals';
import type { ProductSpec } from '../domain/spec';
import { productIdOf } from '../domain/spec';
import { inputBindingsOf, upstreamFromCatalog } from './inputs';

/**
 * What a proposal's inputs are, as a hash: their topics, declared fields and the SQL of upstream
 * products. The critic records it on every review; discovery and the analyst compare it with a
 * dismissal's to propose a dismissed idea again only when its inputs changed.
 */

/** What the inputs are, as far as the critic saw them: a new fingerprint means new inputs. */
export function fingerprintOf(bindings: readonly InputBinding[], view: CatalogView): string {
  const shape = bindings
    .map((b) => ({
      topic: b.topic,
      fields: b.fields.map((f) => `${f.name}:${f.type}`),
      product: b.productId ? { id: b.productId, version: view.get(b.productId)?.spec.sql ?? '' } : null,
    }))
    .sort((a, b) => a.topic.localeCompare(b.topic));
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 32);
}

/** A spec's inputs' fingerprint against the catalog now: the bindings the critic would see, hashed alike. */
export function inputsFingerprintOf(spec: Pick<ProductSpec, 'inputs'>, view: CatalogView): string {
  const { bindings } = inputBindingsOf(spec, (productId) => upstreamFromCatalog(view.get(productId)));
  return fingerprintOf(bindings, view);
}

/** Is this idea's product dismissed, and if so did its inputs change since? (src/domain/proposals.ts) */
export function dismissedCheckOf(spec: ProductSpec, view: CatalogView): DismissedCheck {
  const productId = productIdOf(spec);
  return checkDismissed(productId, view.get(productId), () => inputsFingerprintOf(spec, view));
}

/**
 * The ideas to start: new ones (not in the ledger, product not dismissed) and dismissed ones whose
 * inputs changed since their dismissal (`reproposals`, by proposal id); a dismissed idea with the
 * same inputs is left out with a line saying when and why it was dismissed.
 */
export function sortOutProposals<P extends { proposalId: string; spec: ProductSpec }>(
  proposals: readonly P[],
  ledger: ReadonlySet<string>,
  catalogView: CatalogView,
): { fresh: P[]; reproposals: Map<string, Reproposal>; dismissedUnchanged: string[] } {
  const fresh: P[] = [];
  const reproposals = new Map<string, Reproposal>();
  const dismissedUnchanged: string[] = [];
  for (const proposal of proposals) {
    const check = dismissedCheckOf(proposal.spec, catalogView);
    if (check.kind === 'skip') dismissedUnchanged.push(check.line);
    else if (check.kind === 'propose') {
      reproposals.set(proposal.proposalId, check.reproposal);
      fresh.push(proposal);
    } else if (!ledger.has(proposal.proposalId)) fresh.push(proposal);
  }
  return { fresh, reproposals, dismissedUnchanged };
}

/**
 * The proposal ids an analyst leaves out: the ledger's, but for ideas whose product the critic
 * dismissed (`sortOutProposals` then decides on those from their inputs).
 */
export function ledgerBesidesDismissed(
  entries: ReadonlyMap<string, string | undefined>,
  catalogView: CatalogView,
): ReadonlySet<string> {
  return new Set(
    [...entries]
      .filter(([, productId]) => productId === undefined || catalogView.get(productId)?.stage !== 'dismissed')
      .map(([proposalId]) => proposalId),
  );
}

import type { CatalogDescriptor } from './catalog';
import { Stage } from './lifecycle';
import type { DomainConfig } from './mesh-config';
import type { ProductSpec } from './spec';

/**
 * What discovery and analysis propose, and what became of it: a proposal starts one product
 * workflow (which then waits for its approvers), and the outcome goes to the proposals ledger.
 */

export type ProposalStart = {
  proposalId: string;
  productId: string;
  workflowId: string;
  spec: ProductSpec;
  domain: DomainConfig;
  /** Set when the product was dismissed by the critic and its inputs changed since: started again. */
  reproposal?: Reproposal;
};

/** A dismissed idea proposed again: when it was dismissed, and its inputs' fingerprints then and now. */
export type Reproposal = {
  dismissedAt: string;
  previousFingerprint: string;
  currentFingerprint: string;
};

/**
 * What to do with an idea whose product the catalog holds: `open` when it was not dismissed (the
 * proposals ledger decides), `skip` when the critic dismissed it and its inputs are unchanged
 * (`line` says so), `propose` when they changed since the dismissal.
 */
export type DismissedCheck =
  { kind: 'open' } | { kind: 'skip'; line: string } | { kind: 'propose'; reproposal: Reproposal };

/**
 * A dismissed product is proposed again only when its inputs changed: `currentFingerprint` is
 * the fingerprint of its inputs now, computed as the critic does (src/creation/inputs-fingerprint.ts).
 * A dismissal recorded without a fingerprint (an older catalog record) is left dismissed.
 */
export function checkDismissed(
  productId: string,
  descriptor: Pick<CatalogDescriptor, 'stage' | 'dismissal' | 'decisions'> | undefined,
  currentFingerprint: () => string,
): DismissedCheck {
  if (descriptor?.stage !== Stage.dismissed) return { kind: 'open' };
  const { dismissal } = descriptor;
  const at = dismissal?.at ?? descriptor.decisions.at(-1)?.at ?? 'an unknown date';
  const why = dismissal
    ? dismissal.reasons.join('; ')
    : (descriptor.decisions.at(-1)?.comment ?? 'no reason kept');
  const by = dismissal ? `the critic (${dismissal.by})` : 'the critic';
  if (!dismissal) {
    return {
      kind: 'skip',
      line: `${productId}: dismissed on ${at} by ${by}: ${why}; its inputs' fingerprint was not recorded, so it is not proposed again`,
    };
  }
  const current = currentFingerprint();
  if (current === dismissal.inputsFingerprint)
    return { kind: 'skip', line: `${productId}: dismissed on ${at} by ${by}: ${why}; inputs unchanged` };
  return {
    kind: 'propose',
    reproposal: {
      dismissedAt: at,
      previousFingerprint: dismissal.inputsFingerprint,
      currentFingerprint: current,
    },
  };
}

/** The sentence a proposal made again carries in its reasoning and evidence. */
export function reproposalNote(reproposal: Reproposal): string {
  return (
    `Proposed again: its inputs changed since the critic dismissed it on ${reproposal.dismissedAt} ` +
    `(inputs fingerprint ${reproposal.previousFingerprint} then, ${reproposal.currentFingerprint} now).`
  );
}

/** The spec with the reproposal said in its reasoning and evidence (both kept within their bounds). */
export function withReproposal(spec: ProductSpec, reproposal: Reproposal): ProductSpec {
  const note = reproposalNote(reproposal);
  // Discovery's and the analyst's specs carry their proposal; one written by hand is its owner's.
  const proposal = spec.proposal ?? {
    proposedBy: { kind: 'person' as const, name: spec.owner },
    reasoning: '',
    evidence: [],
  };
  const reasoning = proposal.reasoning ? `${note} ${proposal.reasoning}` : note;
  return {
    ...spec,
    proposal: {
      ...proposal,
      reasoning: reasoning.slice(0, 4000),
      evidence: [{ summary: note, source: 'critic' }, ...proposal.evidence].slice(0, 50),
    },
  };
}

export type ProposalOutcome = {
  proposalId: string;
  productId: string;
  workflowId: string;
  /** `started`: a product workflow now waits for approval; `exists`: that product id was taken. */
  outcome: 'started' | 'exists';
};

/** Specs travel through workflow history: beyond this many bytes of JSON they go by reference. */
export const MAX_INLINE_STARTS_BYTES = 256 * 1024;

/** Cut starts into pages of at most `maxBytes` of JSON each (a page holds at least one start). */
export function pageOfStarts(
  starts: readonly ProposalStart[],
  offset: number,
  maxBytes: number,
): ProposalStart[] {
  const page: ProposalStart[] = [];
  let bytes = 0;
  for (let i = offset; i < starts.length; i++) {
    const start = starts[i]!;
    const size = JSON.stringify(start).length;
    if (page.length > 0 && bytes + size > maxBytes) break;
    page.push(start);
    bytes += size;
  }
  return page;
}

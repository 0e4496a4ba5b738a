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
};

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

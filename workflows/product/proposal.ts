import { Stage } from '../../src/domain/lifecycle';
import { checkPolicies } from '../../src/domain/policies';
import { SYSTEM } from '../../src/domain/product-state';
import type { Product } from './product';
import { nowIso } from './product';
import { describeActivityFailure, proposalChecking } from './proxies';

/** Proposed: recorded once, when the product's workflow starts (not on continue-as-new). */
export function propose(product: Product): void {
  const spec = product.state.spec;
  product.record({
    by: spec.proposal?.proposedBy.name ?? spec.owner,
    action: 'propose',
    comment: spec.proposal?.reasoning,
  });
}

/**
 * Before anyone is asked to approve: the policies, then the SQL guard (Flink validates the SELECT
 * over the declared inputs only).
 */
export async function checkProposal(product: Product): Promise<void> {
  const state = product.state;
  const violations = checkPolicies(state.spec, { knownDomains: product.governance?.knownDomains });
  state.policyViolations = violations;
  if (violations.length > 0) {
    state.lastError = { type: 'PolicyDenied', message: violations.join('; '), at: nowIso() };
    product.transition(Stage.changesRequested, {
      by: SYSTEM,
      action: 'policyCheck',
      comment: `policy violations: ${violations.join('; ')}`,
    });
    return;
  }
  const revision = state.revision;
  let problems: readonly string[];
  try {
    const result = await proposalChecking.checkProductSql(product.jobInput());
    problems = result.ok ? [] : result.problems;
    if (result.ok) state.lineage = [...result.lineage];
  } catch (error) {
    problems = [`the SQL could not be checked: ${describeActivityFailure(error).message}`];
  }
  // A message may have moved the product meanwhile (a rejection): then this check is moot.
  if (product.stage !== Stage.proposed || state.revision !== revision) return;
  state.sqlProblems = [...problems];
  if (problems.length > 0) {
    state.lastError = { type: 'SqlRefused', message: problems.join('; '), at: nowIso() };
    product.transition(Stage.changesRequested, {
      by: SYSTEM,
      action: 'policyCheck',
      comment: `the SQL guard refused the SQL: ${problems.join('; ')}`,
    });
  } else {
    product.transition(Stage.awaitingApproval, {
      by: SYSTEM,
      action: 'policyCheck',
      comment: 'policies and the SQL guard passed',
    });
  }
}

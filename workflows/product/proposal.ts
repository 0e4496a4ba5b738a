import { checkPolicies } from '../../src/domain/policies';
import type { Product } from './product';
import { describeActivityFailure, proposalChecking } from './proxies';

/**
 * Before anyone is asked to approve: the policies, then the SQL guard (Flink validates the SELECT
 * over the declared inputs only).
 */
export async function checkProposal(product: Product): Promise<void> {
  const violations = checkPolicies(product.state.spec, { knownDomains: product.governance?.knownDomains });
  if (product.report({ kind: 'policiesChecked', violations }).next) return;
  const observed = product.observe();
  let problems: readonly string[];
  try {
    const result = await proposalChecking.checkProductSql(product.jobInput());
    problems = result.ok ? [] : result.problems;
    if (result.ok) product.state.lineage = [...result.lineage];
  } catch (error) {
    problems = [`the SQL could not be checked: ${describeActivityFailure(error).message}`];
  }
  // A message may have moved the product meanwhile (a rejection): then the event is stale.
  product.report({ kind: 'sqlChecked', observed, problems });
}

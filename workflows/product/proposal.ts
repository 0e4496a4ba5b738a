import * as wf from '@temporalio/workflow';
import { outputSchemaRefusal } from '../../src/domain/creation';
import { boundedCritique, boundedPreview } from '../../src/domain/critique';
import { bounded } from '../../src/domain/messages';
import { checkPolicies } from '../../src/domain/policies';
import type { Product } from './product';
import { describeActivityFailure, proposalChecking, proposalReviewing } from './proxies';
import { showCritique } from './critic-details';

/**
 * Before anyone is asked to approve: the policies, the output schema against the Schema Registry
 * (an amendment it would refuse goes back with its reason), then the SQL guard (Flink validates the
 * SELECT over the declared inputs only).
 */
export async function checkProposal(product: Product): Promise<void> {
  const violations = checkPolicies(product.state.spec, { knownDomains: product.governance?.knownDomains });
  if (product.report({ kind: 'policiesChecked', violations }).next) return;
  // Histories recorded before output schemas were registered go straight to the SQL guard.
  if (wf.patched('output-schema-check') && !(await outputSchemaTaken(product))) return;
  const observed = product.observe();
  // Recorded histories go from the SQL guard straight to the approvers.
  const criticFollows = wf.patched('proposal-critic');
  let problems: readonly string[];
  try {
    const result = await proposalChecking.checkProductSql(product.jobInput());
    problems = result.ok ? [] : result.problems;
    if (result.ok) product.state.lineage = [...result.lineage];
  } catch (error) {
    problems = [`the SQL could not be checked: ${describeActivityFailure(error).message}`];
  }
  // A message may have moved the product meanwhile (a rejection): then the event is stale.
  product.report({ kind: 'sqlChecked', observed, problems, ...(criticFollows ? { criticFollows } : {}) });
  if (criticFollows && problems.length === 0 && product.stage === observed.stage) await review(product);
}

/**
 * The critic, after the SQL guard and before any approver is asked: the SQL runs once over a
 * sample of its inputs (the preview), then the critic weighs the measured cost, what exists
 * already, the domain's goals and the risks. Redundant or of no stated value: dismissed. When
 * the critic cannot run (Flink or Kafka down for minutes), the approvers are asked without it.
 */
async function review(product: Product): Promise<void> {
  const observed = product.observe();
  // What comes back is bounded again here: it is kept in the state and carried across runs.
  const preview = await proposalReviewing
    .previewProposal(product.jobInput())
    .then(boundedPreview)
    .catch((error: unknown) => {
      // The critic weighs the proposal without a preview; the approvers see why there is none.
      wf.log.warn('preview failed', { productId: product.productId, error: describeActivityFailure(error) });
      return undefined;
    });
  try {
    const critique = boundedCritique(
      await proposalReviewing.critiqueProposal({ ...product.jobInput(), ...(preview ? { preview } : {}) }),
    );
    product.report({ kind: 'criticReviewed', observed, critique, ...(preview ? { preview } : {}) });
  } catch (error) {
    const unavailable = describeActivityFailure(error).message;
    product.report({ kind: 'criticReviewed', observed, unavailable, ...(preview ? { preview } : {}) });
  }
  showCritique(product);
}

/**
 * Ask the registry whether it would take this revision's output schema; false when the product
 * went back for changes (or moved meanwhile). An unreachable registry is retried (the proposal
 * waits, as for Flink); one that refuses the question sends the revision back with its answer.
 */
async function outputSchemaTaken(product: Product): Promise<boolean> {
  const observed = product.observe();
  let refusal: { type: string; message: string } | undefined;
  try {
    refusal = outputSchemaRefusal(await proposalChecking.checkOutputSchemaCompatibility(product.jobInput()));
  } catch (error) {
    const failure = describeActivityFailure(error);
    refusal = {
      type: 'SchemaUnchecked',
      message: bounded(
        `the output schema could not be checked in the Schema Registry: ${failure.message}`,
        4000,
      ),
    };
  }
  const outcome = product.report({ kind: 'schemaChecked', observed, ...(refusal ? { refusal } : {}) });
  const moved = product.stage !== observed.stage || product.state.revision !== observed.revision;
  return outcome.next === undefined && !moved;
}

import { checkSignature, SigningMode } from './approval-signing';
import type { DomainGovernance, Refusal } from './governance';
import { isApprover, samePerson, Stage } from './lifecycle';
import { materializationJobName } from './materialization';
import { productJobNameOf } from './creation';
import type { CarriedState } from './product-state';
import { approvalSigningOf, approversOf, requiredApprovalsOf } from './product-state';
import { boundAct } from './permissions';
import { productIdOf } from './spec';

/**
 * Carried state is a claim, not a fact. Anyone who can run a worker against the namespace can run
 * their own workflow under a product's id and continue it as new *as* the product's workflow with
 * any state they like. So each run started from carried state verifies, against mesh.yaml as read
 * now (approvers, required approvals, signing keys) and the run's own lifetime (its chain's first
 * run id, which Temporal sets and no input can), every carried claim that leads to a side effect:
 *
 * - each approval of the current revision is by an approver of the domain now, and, with signing
 *   required, carries its v2 signature by a key trusted now, over this product, this lifetime, this
 *   revision and the content hash of the carried spec;
 * - a stage that only approval leads to (provisioning, active, degraded, failed, deprecated) has
 *   the approvals mesh.yaml requires now;
 * - the Flink jobs it would stop are this product's own (their names derive from its id).
 *
 * What is not verified is harmless or re-derived: the audit trail (decisions, ignored messages) is a
 * record, checks (policies, SQL, schema) run again before the stages that need them, and the job and
 * table are looked at again before anything is decided about them.
 */

/** Stages a product reaches only once its current revision is approved. */
const approvedStages: ReadonlySet<Stage> = new Set([
  Stage.provisioning,
  Stage.active,
  Stage.degraded,
  Stage.failed,
  Stage.deprecated,
]);

const refusal = (message: string): Refusal => ({
  type: 'UnverifiedCarriedState',
  message: `the carried state does not verify: ${message}. The run stops before any side effect; propose the product again (meshloop propose) so its approvers decide on it`,
});

/** Does the carried state verify (undefined) or not (why, naming no one)? */
export function carriedStateRefusal(
  state: CarriedState,
  governance: DomainGovernance,
  lifetime: string,
): Refusal | undefined {
  const productId = productIdOf(state.spec);
  const approvals = distinct(state.approvals);
  if (approvals.length !== state.approvals.length) return refusal('an approval is listed twice');
  const approvers = approversOf(governance);
  if (approvals.some((name) => !isApprover(approvers, name))) {
    return refusal(`it claims an approval by someone who is not an approver of domain ${governance.domain}`);
  }
  const signing = approvalSigningOf(governance);
  if (signing.mode === SigningMode.required) {
    const problem = unsignedApproval(state, governance, lifetime, approvals);
    if (problem) return refusal(problem);
  }
  if (approvedStages.has(state.stage) && approvals.length < requiredApprovalsOf(governance)) {
    return refusal(
      `it is ${state.stage} with ${approvals.length} approval(s) of revision ${state.revision}; domain ${governance.domain} requires ${requiredApprovalsOf(governance)}`,
    );
  }
  return foreignJob(state, productId);
}

/**
 * A product still waiting for approvals keeps only those by approvers `mesh.yaml` lists now (an
 * approval by someone since removed stops counting, as at every decision); a stage only approval
 * reaches keeps them all, so that `carriedStateRefusal` judges the claim as made.
 */
export function withoutLapsedApprovals(state: CarriedState, governance: DomainGovernance): CarriedState {
  if (approvedStages.has(state.stage)) return state;
  const approvers = approversOf(governance);
  const approvals = state.approvals.filter((name) => isApprover(approvers, name));
  if (approvals.length === state.approvals.length) return state;
  const proofs = state.approvalProofs?.filter((proof) => isApprover(approvers, proof.by));
  return { ...state, approvals, ...(proofs ? { approvalProofs: proofs } : {}) };
}

function distinct(names: readonly string[]): string[] {
  const kept: string[] = [];
  for (const name of names) if (!kept.some((k) => samePerson(k, name))) kept.push(name);
  return kept;
}

/** The first approval whose kept signature does not verify now, described. */
function unsignedApproval(
  state: CarriedState,
  governance: DomainGovernance,
  lifetime: string,
  approvals: readonly string[],
): string | undefined {
  const signing = approvalSigningOf(governance);
  for (const name of approvals) {
    const proof = (state.approvalProofs ?? []).find((p) => samePerson(p.by, name));
    if (!proof) return 'an approval carries no signature, and this mesh requires signed approvals';
    const act = boundAct(state, { lifetime }, { kind: 'approval', action: 'approve', by: name });
    const { by: _by, ...signature } = proof;
    // No time window: the signature was fresh when taken; what it binds must still hold.
    const check = checkSignature(signing, act, { version: 2, ...signature });
    if (!check.ok) return `an approval's signature does not verify (${check.reason})`;
  }
  return undefined;
}

function foreignJob(state: CarriedState, productId: string): Refusal | undefined {
  const job = state.job;
  if (job && (job.revision > state.revision || job.name !== productJobNameOf(productId, job.revision))) {
    return refusal(`its job ${job.name} is not one of ${productId}'s`);
  }
  const table = state.materialization;
  if (
    table &&
    (table.revision > state.revision || table.jobName !== materializationJobName(productId, table.revision))
  ) {
    return refusal(`its materialization ${table.jobName} is not one of ${productId}'s`);
  }
  return undefined;
}

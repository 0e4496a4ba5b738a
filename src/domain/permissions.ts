import type { BoundAct, SignatureCheck } from './approval-signing';
import { checkSignature, specHashOf } from './approval-signing';
import { InvalidSpecError } from './errors';
import type { DomainGovernance, Refusal } from './governance';
import { operatorRefusal } from './governance';
import { canTransition, isApprover, isRetirable, samePerson, Stage } from './lifecycle';
import { checkSchemaEvolution } from './materialization';
import type { AmendRequest, OperatorRequest, ReviewRequest } from './messages';
import { checkPolicies } from './policies';
import type { CarriedState } from './product-state';
import { approvalSigningOf, approversOf, requiredApprovalsOf, standingApprovals } from './product-state';
import type { ProductSpec } from './spec';
import { parseSpec, productIdOf } from './spec';

/**
 * Who may do what to a product, now: pure checks over its state, mesh.yaml as last read
 * (`governance`, undefined until the first read), the request and the time. Undefined means
 * allowed; a refusal says why. The workflow asks them in update validators (refused at once),
 * again when a handler runs with mesh.yaml read at decision time, and for signals (ignored).
 */

/**
 * What a signature is checked against besides the request: the product's lifetime (its chain's
 * first run id), workflow time, and whether this run takes only v2 signatures and signed operator
 * acts (`hardened`: false only when replaying a run recorded before they existed).
 */
export type SignatureContext = Readonly<{ lifetime: string; now: number; hardened: boolean }>;

/** The fields a signature over an act on this product binds (the signer computes the same). */
export function boundAct(
  state: Pick<CarriedState, 'spec' | 'revision'>,
  context: Pick<SignatureContext, 'lifetime'>,
  act: Pick<BoundAct, 'kind' | 'action' | 'by'> & { detail?: string },
): BoundAct {
  return {
    kind: act.kind,
    productId: productIdOf(state.spec),
    lifetime: context.lifetime,
    revision: state.revision,
    specHash: specHashOf(state.spec),
    action: act.action,
    by: act.by.trim(),
    detail: act.detail ?? '',
  };
}

/** Check a fresh signature on a message (the window, the nonce unused) against mesh.yaml. */
export function freshSignature(
  state: CarriedState,
  governance: DomainGovernance,
  context: SignatureContext,
  act: Pick<BoundAct, 'kind' | 'action' | 'by'> & { detail?: string },
  signature: unknown,
): SignatureCheck {
  return checkSignature(approvalSigningOf(governance), boundAct(state, context, act), signature, {
    nowMs: context.now,
    acceptV1: !context.hardened,
    isUsed: (nonce) => (state.usedNonces ?? []).some((used) => used.nonce === nonce),
  });
}

export const notReady: Refusal = {
  type: 'NotReady',
  message: 'the product is still reading mesh.yaml; try again',
};

/** A proposal the critic is still reviewing (seconds, or as long as an LLM critic takes): clients wait. */
export const underReview: Refusal = {
  type: 'UnderReview',
  message: "the proposal is still under the critic's review; try again in a moment",
};

/** The stages each review action applies in. */
const reviewableIn: Readonly<Record<ReviewRequest['action'], readonly Stage[]>> = {
  approve: [Stage.awaitingApproval],
  reject: [Stage.awaitingApproval, Stage.changesRequested],
  requestChanges: [Stage.awaitingApproval, Stage.changesRequested, Stage.active, Stage.degraded],
};

/** May `request.by` approve, reject or request changes now? `request` is parsed (messages.ts). */
export function reviewRefusal(
  state: CarriedState,
  governance: DomainGovernance | undefined,
  request: ReviewRequest,
  context: SignatureContext,
): Refusal | undefined {
  const by = request.by.trim();
  if (!governance) return notReady;
  const approvers = approversOf(governance);
  if (!isApprover(approvers, by)) {
    // Names no one: not who asked, not who may (mesh.yaml says that to those who may read it).
    return { type: 'NotAnApprover', message: `the sender is not an approver of domain ${state.spec.domain}` };
  }
  if (state.stage === Stage.proposed) return underReview;
  if (!reviewableIn[request.action].includes(state.stage)) {
    const approved = state.decisions.find(
      (d) => d.action === 'approve' && samePerson(d.by, by) && d.revision === state.revision,
    );
    return {
      type: approved && request.action === 'approve' ? 'DuplicateApproval' : 'WrongStage',
      message: approved
        ? `the sender already approved revision ${state.revision} at ${approved.at}; the product is ${state.stage}`
        : `cannot ${request.action} a product that is ${state.stage}`,
    };
  }
  if (request.action === 'approve' && state.approvals.some((name) => samePerson(name, by))) {
    return {
      type: 'DuplicateApproval',
      message: `the sender already approved revision ${state.revision}; ${requiredApprovalsOf(governance) - standingApprovals(state, governance)} more approval(s) needed`,
    };
  }
  const detail = request.amendedSpec !== undefined ? specHashOf(request.amendedSpec) : '';
  const act = { kind: 'approval', action: request.action, by, detail } as const;
  const signature = freshSignature(state, governance, context, act, request.signature);
  if (!signature.ok) return { type: signature.type, message: signature.reason };
  if (request.amendedSpec !== undefined) {
    if (request.action !== 'requestChanges') {
      return { type: 'InvalidRequest', message: 'only requestChanges carries an amended spec' };
    }
    return amendmentRefusal(state, governance, request.amendedSpec);
  }
  return undefined;
}

/** May `request.by` answer a change request with `request.spec` now? */
export function amendRefusal(
  state: CarriedState,
  governance: DomainGovernance | undefined,
  request: AmendRequest,
  context: SignatureContext,
): Refusal | undefined {
  const by = request.by.trim();
  if (!governance) return notReady;
  const spec = state.spec;
  const allowed =
    by !== '' &&
    (isApprover(approversOf(governance), by) ||
      samePerson(spec.owner, by) ||
      (spec.proposal !== undefined && samePerson(spec.proposal.proposedBy.name, by)));
  if (!allowed) {
    return {
      type: 'NotAllowed',
      message: `the sender may not amend ${productIdOf(spec)}: only its owner, its proposer or an approver`,
    };
  }
  if (context.hardened) {
    const act = { kind: 'act', action: 'amend', by, detail: specHashOf(request.spec) } as const;
    const signature = freshSignature(state, governance, context, act, request.signature);
    if (!signature.ok) return { type: signature.type, message: signature.reason };
  }
  if (state.stage !== Stage.changesRequested) {
    return {
      type: 'WrongStage',
      message: `amend a product when changes are requested; it is ${state.stage}`,
    };
  }
  return amendmentRefusal(state, governance, request.spec);
}

/** May the product take `candidate` as its next spec (valid, same id, within policies, fits its table)? */
export function amendmentRefusal(
  state: CarriedState,
  governance: DomainGovernance | undefined,
  candidate: unknown,
): Refusal | undefined {
  let spec: ProductSpec;
  try {
    spec = parseSpec(candidate, 'amended spec');
  } catch (error) {
    if (error instanceof InvalidSpecError) return { type: 'InvalidSpec', message: error.message };
    throw error;
  }
  const productId = productIdOf(state.spec);
  if (productIdOf(spec) !== productId) {
    return {
      type: 'InvalidSpec',
      message: `an amendment cannot change the product id (${productId} → ${productIdOf(spec)}); propose a new product instead`,
    };
  }
  const violations = checkPolicies(spec, { knownDomains: governance?.knownDomains });
  if (violations.length > 0) {
    return { type: 'PolicyDenied', message: `the amended spec breaks policies: ${violations.join('; ')}` };
  }
  return schemaEvolutionRefusal(state, spec);
}

/** A product with a table takes only the schema changes its table can (added nullable fields, widenings). */
export function schemaEvolutionRefusal(state: CarriedState, spec: ProductSpec): Refusal | undefined {
  const table = state.materialization;
  if (!table) return undefined;
  const change = checkSchemaEvolution(table.schema, spec.schema);
  if (change.compatible) return undefined;
  return {
    type: 'SchemaIncompatible',
    message: `the amended schema does not fit the table ${table.table} (revision ${table.revision}): ${change.problems.join('; ')}`,
  };
}

/** An operator's act: how a refusal names it, and the stages it applies in. */
export type OperatorAct = Readonly<{ name: string; what: string; allowedIn: (stage: Stage) => boolean }>;

export const operatorActs = {
  retryProvisioning: {
    name: 'retryProvisioning',
    what: 'retry provisioning of',
    allowedIn: (stage) => stage === Stage.failed,
  },
  deprecate: {
    name: 'deprecate',
    what: 'deprecate',
    allowedIn: (stage) => canTransition(stage, Stage.deprecated),
  },
  redeploy: {
    name: 'redeploy',
    what: 'redeploy',
    allowedIn: (stage) => stage === Stage.active || stage === Stage.degraded || stage === Stage.failed,
  },
  retire: { name: 'retire', what: 'retire', allowedIn: isRetirable },
} as const satisfies Record<string, OperatorAct>;

/** May `request.by` perform the operator's act now? */
export function productOperatorRefusal(
  state: CarriedState,
  governance: DomainGovernance | undefined,
  request: OperatorRequest & { force?: boolean },
  act: OperatorAct,
  context: SignatureContext,
): Refusal | undefined {
  if (!governance) return notReady;
  const refusal = operatorRefusal({
    governance,
    by: request.by,
    stage: state.stage,
    allowedIn: act.allowedIn,
    what: act.what,
  });
  if (refusal || !context.hardened) return refusal;
  // A forced retirement is another act than a plain one: the signature says which.
  const bound = {
    kind: 'act',
    action: act.name,
    by: request.by,
    detail: request.force ? 'force' : '',
  } as const;
  const signature = freshSignature(state, governance, context, bound, request.signature);
  return signature.ok ? undefined : { type: signature.type, message: signature.reason };
}

import { TypedSearchAttributes } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import { Stage } from '../src/domain/lifecycle';
import type {
  AmendRequest,
  ApproverMessage,
  OperatorRequest,
  RetireRequest,
  ReviewAction,
  ReviewRequest,
} from '../src/domain/messages';
import type { CarriedState, ProductStatus } from '../src/domain/product-state';
import { meshloopSearchAttributes } from '../src/domain/search-attributes';
import type { ProductSpec, ProductSpecInput } from '../src/domain/spec';
import { productIdOf, workflowIdOf } from '../src/domain/spec';
import { staticDetailsOf, staticSummaryOf } from '../src/domain/workflow-details';

// The messages' shapes are zod schemas in src/domain/messages.ts; every handler parses with them.
export type { AmendRequest, ApproverMessage, OperatorRequest, RetireRequest, ReviewAction, ReviewRequest };
// A product's state lives in src/domain/product-state.ts; callers of the workflow read it here too.
export type { CarriedState, ProductStatus };

/**
 * The messages of a data product's workflow, defined once: the workflow, the CLI, tests and the
 * Slack bot import these. Payloads are plain JSON so people can send them from the Temporal UI.
 */

/** Fire-and-forget approval from the Temporal UI; an unauthorised or duplicate one is recorded and ignored. */
export const approveSignal = wf.defineSignal<[ApproverMessage]>('approve');
/** Fire-and-forget rejection from the Temporal UI; an unauthorised one is recorded and ignored. */
export const rejectSignal = wf.defineSignal<[ApproverMessage]>('reject');

/**
 * An update, not a signal: the reviewer (CLI, Slack) needs an answer — the new status, or a
 * refusal with its reason (not an approver, wrong stage, invalid amendment) before anything changes.
 */
export const reviewUpdate = wf.defineUpdate<ProductStatus, [ReviewRequest]>('review');

/** The owner, the proposer or an approver answers a change request with an amended spec; an update so an invalid one is refused at once. */
export const amendSpecUpdate = wf.defineUpdate<ProductStatus, [AmendRequest]>('amendSpec');

/** An operator retries a failed product once the cause is fixed; an update so a wrong stage is refused at once. */
export const retryProvisioningUpdate = wf.defineUpdate<ProductStatus, [OperatorRequest]>('retryProvisioning');
/** Mark an active product as going away; an update so the caller learns whether it applied. */
export const deprecateUpdate = wf.defineUpdate<ProductStatus, [OperatorRequest]>('deprecate');
/**
 * An operator restarts an active, degraded or failed product's Flink job (from its savepoint or
 * last checkpoint): provisioning runs again.
 */
export const redeployUpdate = wf.defineUpdate<ProductStatus, [OperatorRequest]>('redeploy');

/** An update: the operator must hear a refusal (active products still read it) rather than have it vanish. */
export const retireUpdate = wf.defineUpdate<ProductStatus, [RetireRequest]>('retire');

export const getStatusQuery = wf.defineQuery<ProductStatus>('getStatus');

/**
 * The start input: only the spec. Who approves and operates, deadlines and reminders come from
 * mesh.yaml, read by an activity at decision time, never from whoever started the workflow.
 * The workflow id must be `data-product:<domain>.<name>` of the spec.
 */
export type DataProductInput = {
  spec: ProductSpec | ProductSpecInput;
  /** Continue as new once history has this many events (tests set it low); Temporal's suggestion applies too. */
  maxHistoryEvents?: number;
  /** Set only by the workflow's own continue-as-new; refused on any other start. */
  /** Since the patch 'carried-spec-once' without its spec: the spec above is the one carried. */
  carried?: CarriedState | Omit<CarriedState, 'spec'>;
};

export const dataProductWorkflowType = 'dataProductWorkflow';

/**
 * How to start a product's workflow: id, the one argument, its search attributes and what the
 * Temporal UI shows of it (static summary: product, kind, owner; static details), from a spec.
 * Pass the result to `client.workflow.start`.
 */
export function dataProductStartOptions(spec: ProductSpec): {
  workflowId: string;
  args: [DataProductInput];
  typedSearchAttributes: TypedSearchAttributes;
  staticSummary: string;
  staticDetails: string;
} {
  return {
    workflowId: workflowIdOf(productIdOf(spec)),
    args: [{ spec }],
    staticSummary: staticSummaryOf(spec),
    staticDetails: staticDetailsOf(spec),
    typedSearchAttributes: new TypedSearchAttributes([
      { key: meshloopSearchAttributes.domain, value: spec.domain },
      { key: meshloopSearchAttributes.owner, value: spec.owner },
      { key: meshloopSearchAttributes.kind, value: spec.kind },
      { key: meshloopSearchAttributes.stage, value: Stage.proposed },
    ]),
  };
}

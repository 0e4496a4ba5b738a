import { TypedSearchAttributes } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import type { Decision, IgnoredMessage, LastError, ProvisionedResource } from '../src/domain/lifecycle';
import { Stage } from '../src/domain/lifecycle';
import type { AnalysisCycleSummary, AnalysisScheduleState } from '../src/domain/analysis';
import type { AuditSummary } from '../src/domain/audit';
import type { ColumnLineage, ProductJob } from '../src/domain/creation';
import type { ProductMaterialization } from '../src/domain/materialization';
import type {
  AmendRequest,
  ApproverMessage,
  OperatorRequest,
  RetireRequest,
  ReviewAction,
  ReviewRequest,
} from '../src/domain/messages';
import { meshloopSearchAttributes } from '../src/domain/search-attributes';
import type { ProductSpec, ProductSpecInput } from '../src/domain/spec';
import { productIdOf, workflowIdOf } from '../src/domain/spec';

// The messages' shapes are zod schemas in src/domain/messages.ts; every handler parses with them.
export type { AmendRequest, ApproverMessage, OperatorRequest, RetireRequest, ReviewAction, ReviewRequest };

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

/** Everything a caller may want to know about a product, as `getStatus` answers it. */
export type ProductStatus = {
  productId: string;
  stage: Stage;
  spec: ProductSpec;
  /** Raised by each amendment; approvals count for the current revision only. */
  revision: number;
  approvers: string[];
  requiredApprovals: number;
  /** Approvers who approved the current revision so far. */
  approvals: string[];
  /** The newest decisions (at most 100); older ones are counted in `olderDecisions`. */
  decisions: Decision[];
  olderDecisions?: AuditSummary;
  /** Decisions ever recorded: the catalog descriptor's version. */
  decisionCount?: number;
  /** Messages that changed nothing (unauthorised, duplicate, wrong stage), newest last, bounded. */
  ignored: IgnoredMessage[];
  olderIgnored?: AuditSummary;
  /** Violations of the last policy check (empty when it passed). */
  policyViolations: string[];
  /** What the SQL guard found wrong with the current revision's SQL (empty when it passed). */
  sqlProblems?: string[];
  /** Output column ← input fields, as the SQL guard extracted it. */
  lineage?: ColumnLineage[];
  /** The product's Flink job as last seen (the watch timer refreshes it while active). */
  job?: ProductJob;
  /** The product's Iceberg table and the materialization keeping it current, as last seen. */
  materialization?: ProductMaterialization;
  /**
   * Why the product is degraded: its job (the watch recovers it), an analysis check, or its table
   * (a suspension or a failed materialization: only a redeploy recovers it).
   */
  degradedBy?: 'job' | 'analysis' | 'table';
  /** What the workflow last made of its analysis schedule (`analysis:<product id>`). */
  analysisSchedule?: AnalysisScheduleState;
  /** The newest analysis cycles' summaries (at most KEPT_CYCLES), newest last. */
  analysisCycles?: AnalysisCycleSummary[];
  /** Summaries received by signal, waiting to be confirmed against the stored results. */
  pendingCycles?: AnalysisCycleSummary[];
  resources: ProvisionedResource[];
  lastError?: LastError;
  /** ISO time a decision is due by, while waiting for one. */
  deadline?: string;
  remindersSent: number;
  /** How many times the workflow continued as new (its history restarted). */
  continuedAsNew: number;
  proposedAt: string;
  updatedAt: string;
};

/** What survives continue-as-new: the whole product state. */
export type CarriedState = Omit<
  ProductStatus,
  'productId' | 'approvers' | 'requiredApprovals' | 'deadline'
> & {
  /** Epoch ms; absolute so a new run keeps the same deadline and reminder rhythm. */
  deadlineAt?: number;
  nextReminderAt?: number;
  /** The stage whose descriptor the catalog holds (set once a publish landed). */
  publishedStage?: Stage;
};

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
  carried?: CarriedState;
};

export const dataProductWorkflowType = 'dataProductWorkflow';

/**
 * How to start a product's workflow: id, the one argument and its search attributes, from a spec.
 * Pass the result to `client.workflow.start`.
 */
export function dataProductStartOptions(spec: ProductSpec): {
  workflowId: string;
  args: [DataProductInput];
  typedSearchAttributes: TypedSearchAttributes;
} {
  return {
    workflowId: workflowIdOf(productIdOf(spec)),
    args: [{ spec }],
    typedSearchAttributes: new TypedSearchAttributes([
      { key: meshloopSearchAttributes.domain, value: spec.domain },
      { key: meshloopSearchAttributes.owner, value: spec.owner },
      { key: meshloopSearchAttributes.kind, value: spec.kind },
      { key: meshloopSearchAttributes.stage, value: Stage.proposed },
    ]),
  };
}

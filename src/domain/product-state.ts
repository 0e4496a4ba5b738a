import type { AnalysisCycleSummary, AnalysisScheduleState } from './analysis';
import type { ApprovalProof, ApprovalSigning } from './approval-signing';
import { signingOff } from './approval-signing';
import type { AuditSummary } from './audit';
import { appendBounded, MAX_DECISIONS, MAX_IGNORED } from './audit';
import type { CatalogDescriptor, Dismissal } from './catalog';
import { toCatalogDescriptor } from './catalog';
import type { ColumnLineage, OutputSchemaRef, ProductJob, ProductJobStatus } from './creation';
import { normalisedSql, productJobNameOf } from './creation';
import type { Critique, ProposalPreview } from './critique';
import type { DomainGovernance } from './governance';
import type { Decision, DecisionAction, IgnoredMessage, LastError, ProvisionedResource } from './lifecycle';
import { isApprover, isAwaitingDecision, Stage } from './lifecycle';
import type { ProductMaterialization } from './materialization';
import { bounded, MAX_NAME_LENGTH } from './messages';
import type { RecoveryRecord } from './recovery';
import type { ProductSpec } from './spec';

/**
 * A data product's state as its workflow holds it, carries across continue-as-new and answers
 * `getStatus` with; pure helpers that read it. Only src/domain/transitions.ts changes the stage.
 */

/** Who the workflow itself acts as in the audit trail. */
export const SYSTEM = 'meshloop';

/** What degrades a product: its job (the watch recovers it), an analysis check, or its table (a redeploy). */
export type DegradeSource = 'job' | 'analysis' | 'table';

/** One reason a product is degraded now, with the error it shows. */
export type DegradeCause = Readonly<{ by: DegradeSource; type: string; message: string; at: string }>;

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
  /** The current revision's SQL run once over a bounded sample of its inputs, before approval. */
  preview?: ProposalPreview;
  /** The critic's review of the current revision: cost, redundancy, value, risk and its verdict. */
  critique?: Critique;
  /** The output schema as registered by the last provisioning (subject, version, schema id). */
  outputSchema?: OutputSchemaRef;
  /** The product's Flink job as last seen (the watch timer refreshes it while active). */
  job?: ProductJob;
  /** The product's Iceberg table and the materialization keeping it current, as last seen. */
  materialization?: ProductMaterialization;
  /**
   * Why the product is degraded: its job (the watch recovers it), an analysis check, or its table
   * (a suspension or a failed materialization: only a redeploy recovers it).
   */
  degradedBy?: DegradeSource;
  /**
   * Every reason the product is degraded now, most serious first in effect (`degradedBy` and
   * `lastError` show the most serious: table, then job, then analysis). Absent in products recorded
   * before several causes were kept: there `degradedBy` is the one cause.
   */
  degradeCauses?: DegradeCause[];
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
  /**
   * The product's lifetime: the first run id of its workflow chain (kept across continue-as-new by
   * Temporal). Signatures bind it, so one made for an earlier life of the same id does not count.
   */
  lifetime?: string;
};

/** A v2 signature's nonce, remembered while a signature with it could still be fresh: usable once. */
export type UsedNonce = Readonly<{ nonce: string; at: string }>;

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
  /** The signed approvals of the current revision (signing required), verified again in every run. */
  approvalProofs?: ApprovalProof[];
  /** Nonces of the signatures taken lately (a signature is usable once). */
  usedNonces?: UsedNonce[];
  /** The automatic recoveries of this series (src/domain/recovery.ts): bounded, then a person decides. */
  recovery?: RecoveryRecord;
};

/** How serious each cause is: a table needs a redeploy, a job may recover by itself, an analysis by a later cycle. */
const causeRank: Readonly<Record<DegradeSource, number>> = { table: 3, job: 2, analysis: 1 };

/** The last error a cause shows. */
export const causeErrorType: Readonly<Record<DegradeSource, string>> = {
  job: 'JobUnhealthy',
  analysis: 'AnalysisBreach',
  table: 'TableSuspended',
};

/**
 * Why a degraded product is degraded now (none when it is not degraded). A product recorded with
 * one cause at a time has only `degradedBy`; its reason is the last error when that is the cause's.
 */
export function causesOf(
  state: Pick<CarriedState, 'stage' | 'degradedBy' | 'degradeCauses' | 'lastError' | 'updatedAt'>,
): readonly DegradeCause[] {
  if (state.stage !== Stage.degraded) return [];
  if (state.degradeCauses) return state.degradeCauses;
  const by = state.degradedBy;
  if (!by) return [];
  const error = state.lastError?.type === causeErrorType[by] ? state.lastError : undefined;
  return [
    {
      by,
      type: causeErrorType[by],
      message: error?.message ?? `degraded by its ${by}`,
      at: error?.at ?? state.updatedAt,
    },
  ];
}

/** The most serious cause (the latest of equals): the one `degradedBy` and the last error show. */
export function topCause(causes: readonly DegradeCause[]): DegradeCause | undefined {
  let top: DegradeCause | undefined;
  for (const cause of causes) if (!top || causeRank[cause.by] >= causeRank[top.by]) top = cause;
  return top;
}

/** The causes with `cause` in place of an earlier one from the same source. */
export function withCause(causes: readonly DegradeCause[], cause: DegradeCause): DegradeCause[] {
  return [...withoutCause(causes, cause.by), cause];
}

export function withoutCause(causes: readonly DegradeCause[], by: DegradeSource): DegradeCause[] {
  return causes.filter((c) => c.by !== by);
}

/** A decision as the workflow asks for it; the time, revision and stage are added when recorded. */
export type DecisionInput = {
  by: string;
  action: DecisionAction;
  comment?: string;
  via?: string;
  keyId?: string;
};

/** Remember a used nonce (in place), forgetting those whose signatures are too old to be taken anyway. */
export function rememberNonce(
  state: CarriedState,
  nonce: string,
  at: string,
  nowMs: number,
  windowMs: number,
): void {
  const fresh = (state.usedNonces ?? []).filter((used) => Date.parse(used.at) >= nowMs - 2 * windowMs);
  state.usedNonces = [...fresh, { nonce, at }].slice(-1000);
}

/** A new product's state: proposed now. */
export function proposedState(spec: ProductSpec, at: string): CarriedState {
  return {
    stage: Stage.proposed,
    spec,
    revision: 1,
    approvals: [],
    decisions: [],
    ignored: [],
    policyViolations: [],
    resources: [],
    remindersSent: 0,
    continuedAsNew: 0,
    proposedAt: at,
    updatedAt: at,
  };
}

/** The approvers mesh.yaml lists now (none until it was read). */
export function approversOf(governance: DomainGovernance | undefined): readonly string[] {
  return governance?.approvers ?? [];
}

export function requiredApprovalsOf(governance: DomainGovernance | undefined): number {
  return governance?.requiredApprovals ?? 1;
}

/** mesh.yaml `approvals` as last read; answers recorded before approval signing existed lack it (off). */
export function approvalSigningOf(governance: DomainGovernance | undefined): ApprovalSigning {
  return (governance as Partial<DomainGovernance> | undefined)?.approvalSigning ?? signingOff;
}

export function approvalDeadlineMsOf(governance: DomainGovernance | undefined): number {
  return governance?.approvalDeadlineMs ?? 72 * 3_600_000;
}

export function reminderIntervalMsOf(governance: DomainGovernance | undefined): number {
  return Math.max(1000, governance?.reminderIntervalMs ?? 24 * 3_600_000);
}

/** Approvals that still count: by people mesh.yaml lists as approvers now. */
export function standingApprovals(state: CarriedState, governance: DomainGovernance | undefined): number {
  const approvers = approversOf(governance);
  return state.approvals.filter((name) => isApprover(approvers, name)).length;
}

/** Decisions ever recorded (the list keeps the newest): the catalog descriptor's version. */
export function decisionCountOf(state: CarriedState): number {
  return state.decisionCount ?? state.decisions.length;
}

/** The product as `getStatus` answers. */
export function statusOf(
  productId: string,
  state: CarriedState,
  governance: DomainGovernance | undefined,
): ProductStatus {
  const {
    deadlineAt,
    nextReminderAt: _next,
    publishedStage: _published,
    approvalProofs: _proofs,
    usedNonces: _nonces,
    ...rest
  } = state;
  return {
    ...rest,
    productId,
    approvers: [...approversOf(governance)],
    requiredApprovals: requiredApprovalsOf(governance),
    ...(deadlineAt !== undefined && isAwaitingDecision(state.stage)
      ? { deadline: new Date(deadlineAt).toISOString() }
      : {}),
  };
}

/** Append a decision to the bounded audit trail (in place), at `at`, in the state's current stage. */
export function recordDecision(state: CarriedState, decision: DecisionInput, at: string): void {
  const entry: Decision = {
    by: bounded(decision.by, MAX_NAME_LENGTH),
    action: decision.action,
    at,
    revision: state.revision,
    stage: state.stage,
    ...(decision.comment ? { comment: bounded(decision.comment, 6000) } : {}),
    ...(decision.via ? { via: decision.via } : {}),
    ...(decision.keyId ? { keyId: decision.keyId } : {}),
  };
  const count = decisionCountOf(state);
  const { list, summary } = appendBounded(state.decisions, state.olderDecisions, entry, MAX_DECISIONS);
  state.decisions = list;
  state.olderDecisions = summary;
  state.decisionCount = count + 1;
  state.updatedAt = entry.at;
}

/** Append a message that changed nothing to the bounded list of ignored ones (in place). */
export function recordIgnored(state: CarriedState, by: string, action: string, reason: string, at: string) {
  const entry = { by: bounded(by, MAX_NAME_LENGTH), action, at, reason: bounded(reason) };
  const { list, summary } = appendBounded(state.ignored, state.olderIgnored, entry, MAX_IGNORED);
  state.ignored = list;
  state.olderIgnored = summary;
  return entry;
}

/** The resources with `resource` in place of any earlier one of the same kind and name. */
export function withResource(
  resources: readonly ProvisionedResource[],
  resource: ProvisionedResource,
): ProvisionedResource[] {
  return [...resources.filter((r) => !(r.kind === resource.kind && r.name === resource.name)), resource];
}

/** The job as just seen (the catalog and `meshloop show` print it), keeping what was known of it. */
export function jobSeen(
  productId: string,
  state: CarriedState,
  status: ProductJobStatus,
  known: { name?: string; url?: string; savepoint?: string },
  at: string,
): ProductJob {
  return {
    ...jobIdentity(productId, state, status, known),
    revision: state.revision,
    sql: normalisedSql(state.spec.sql),
    state: status.state,
    ...(status.failure ? { failure: bounded(status.failure, 2000) } : {}),
    rejectedRecords: status.rejectedRecords,
    checkedAt: at,
  };
}

/** Name, id, URL and savepoint: as just learnt, else as known of this revision's job, else derived. */
function jobIdentity(
  productId: string,
  state: CarriedState,
  status: ProductJobStatus,
  known: { name?: string; url?: string; savepoint?: string },
): Pick<ProductJob, 'name' | 'id' | 'url' | 'savepoint'> {
  const previous = state.job?.revision === state.revision ? state.job : undefined;
  const url = known.url ?? previous?.url;
  const savepoint = known.savepoint ?? previous?.savepoint;
  return {
    name: known.name ?? previous?.name ?? productJobNameOf(productId, state.revision),
    id: status.jobId ?? previous?.id ?? '',
    ...(url ? { url } : {}),
    ...(savepoint ? { savepoint } : {}),
  };
}

/**
 * The catalog descriptor of the product in `stage`; with `next`, as it will be once that decision
 * is recorded (provisioning publishes before it records).
 */
/** What the catalog keeps of a dismissing review: when, by whom, why, and the inputs' fingerprint. */
function dismissalOf(critique: Critique): Dismissal {
  return {
    at: critique.at,
    by: critique.by,
    reasons: critique.reasons.slice(0, 20).map((r) => r.slice(0, 2000)),
    inputsFingerprint: critique.inputsFingerprint,
  };
}

export function descriptorOf(
  state: CarriedState,
  stage: Stage,
  at: string,
  next?: { by: string; action: DecisionAction },
): CatalogDescriptor {
  const decisions = next
    ? [...state.decisions, { ...next, at, revision: state.revision, stage }]
    : state.decisions;
  return toCatalogDescriptor({
    spec: state.spec,
    stage,
    decisions,
    resources: state.resources,
    ...(state.lineage ? { lineage: state.lineage } : {}),
    ...(state.job ? { job: state.job } : {}),
    ...(state.materialization?.status ? { table: state.materialization.status } : {}),
    ...(stage === Stage.dismissed && state.critique ? { dismissal: dismissalOf(state.critique) } : {}),
    updatedAt: next ? at : state.updatedAt,
    version: decisionCountOf(state) + (next ? 1 : 0),
  });
}

import type { DomainGovernance, Refusal } from './governance';
import type { LastError } from './lifecycle';
import { canTransition, isAwaitingDecision, isTerminal, Stage } from './lifecycle';
import type { CarriedState, DecisionInput, DegradeCause, DegradeSource } from './product-state';
import {
  approvalDeadlineMsOf,
  causeErrorType,
  causesOf,
  recordDecision,
  reminderIntervalMsOf,
  requiredApprovalsOf,
  standingApprovals,
  SYSTEM,
  topCause,
  withCause,
  withoutCause,
} from './product-state';
import type { ProductSpec } from './spec';

/**
 * The one place a product's stage changes. The workflow and the stage modules beside it act
 * (activities, timers, messages) and report what happened as an event; `decide` says what that
 * means: the next stage, the decisions to record, the other fields of the state to set (the last
 * error, the degrade causes, what the catalog holds) and the effects to run. Pure: the time and
 * mesh.yaml come in the context.
 *
 * A rule this makes structural: an event that reports the outcome of an await carries the stage
 * (and revision) it was started in, `observed`; when a message moved the product meanwhile, the
 * event is stale and changes nothing.
 */

/** The stage and revision an act started in (the product may have moved while it awaited). */
export type Observed = Readonly<{ stage: Stage; revision: number }>;

/** How a job or a table looked, as far as the stage is concerned. */
export type Health = Readonly<{ healthy: true } | { healthy: false; settled: boolean; reason: string }>;

export type ProductEvent =
  /** A new product (not a continued run): the proposer's decision. */
  | Readonly<{ kind: 'proposed' }>
  /** The policies' verdict on the current spec, before the SQL guard runs. */
  | Readonly<{ kind: 'policiesChecked'; violations: readonly string[] }>
  /** The SQL guard's verdict on the revision `observed` (problems empty: it passed). */
  | Readonly<{ kind: 'sqlChecked'; observed: Observed; problems: readonly string[] }>
  /** A review that passed the permission checks. */
  | Readonly<{
      kind: 'reviewed';
      action: 'approve' | 'reject' | 'requestChanges';
      by: string;
      comment?: string;
      via?: string;
      keyId?: string;
    }>
  /** An amendment that passed the permission checks, parsed. */
  | Readonly<{ kind: 'amended'; by: string; spec: ProductSpec; comment?: string }>
  /** Nobody decided before the deadline. */
  | Readonly<{ kind: 'deadlinePassed' }>
  /** An operator's act that passed the permission checks. */
  | Readonly<{
      kind: 'operatorActed';
      action: 'retryProvisioning' | 'deprecate' | 'redeploy' | 'retire';
      by: string;
      comment?: string;
    }>
  /** Provisioning deployed the revision; `health` is its job's; the catalog already holds the result. */
  | Readonly<{ kind: 'provisioned'; observed: Observed; health: Health; comment: string }>
  | Readonly<{ kind: 'provisioningFailed'; observed: Observed; failure: LastError }>
  /** The watch looked at the job; `rejectedChanged`: its rejected-records count moved. */
  | Readonly<{ kind: 'jobLooked'; observed: Observed; health: Health; rejectedChanged: boolean }>
  /** The watch looked at the table: its trouble (a suspension, a failed materialization), or whether it changed. */
  | Readonly<{ kind: 'tableLooked'; observed: Observed; trouble?: string; changed: boolean }>
  /** A confirmed analysis cycle, about the product as it is now. */
  | Readonly<{ kind: 'analysisConfirmed'; outcome: string; breach: string; pass: string }>
  /** The catalog holds the descriptor of `stage` now. */
  | Readonly<{ kind: 'published'; stage: Stage }>
  /** The job or the table stopped (deprecated or retired); `comment` says where. */
  | Readonly<{ kind: 'stopped'; comment: string }>
  /** Publishing or stopping failed for good: shown as the last error. */
  | Readonly<{ kind: 'actFailed'; failure: LastError }>;

export type DecideContext = Readonly<{
  governance: DomainGovernance | undefined;
  /** Workflow time, epoch ms. */
  now: number;
  /** Several degrade causes at once (`wf.patched('degrade-causes')`); off: the one-cause rules of recorded histories. */
  degradeCauses: boolean;
}>;

export type Effect =
  /** The workflow's `MeshloopStage` search attribute. */
  Readonly<{ kind: 'searchStage'; stage: Stage }>;

export type Outcome = Readonly<{
  /** The stage after the event; undefined when it stays. */
  next?: Stage;
  /** Other fields of the state, set before the decisions are recorded (undefined clears a field). */
  changes: Partial<CarriedState>;
  /** Decisions to record, in order, each in the stage it names. */
  record: readonly Readonly<{ stage: Stage; decision: DecisionInput }>[];
  effects: readonly Effect[];
  /** Set when the event asks for a move the lifecycle does not allow: nothing else happens. */
  refusal?: Refusal;
}>;

const nothing: Outcome = { changes: {}, record: [], effects: [] };

/** What `event` means for the product in `state`. */
export function decide(state: CarriedState, event: ProductEvent, context: DecideContext): Outcome {
  if ('observed' in event && isStale(state, event.observed)) return nothing;
  const at = new Date(context.now).toISOString();
  const move = (to: Stage, decision: DecisionInput, changes: Partial<CarriedState> = {}) =>
    moveTo(state, to, decision, changes, context);
  switch (event.kind) {
    case 'proposed': {
      const proposer = state.spec.proposal?.proposedBy.name ?? state.spec.owner;
      return stay(state, { by: proposer, action: 'propose', comment: state.spec.proposal?.reasoning });
    }
    case 'policiesChecked': {
      const { violations } = event;
      if (violations.length === 0) return { ...nothing, changes: { policyViolations: [] } };
      return move(
        Stage.changesRequested,
        { by: SYSTEM, action: 'policyCheck', comment: `policy violations: ${violations.join('; ')}` },
        {
          policyViolations: [...violations],
          lastError: { type: 'PolicyDenied', message: violations.join('; '), at },
        },
      );
    }
    case 'sqlChecked': {
      const problems = [...event.problems];
      if (problems.length === 0) {
        return move(
          Stage.awaitingApproval,
          { by: SYSTEM, action: 'policyCheck', comment: 'policies and the SQL guard passed' },
          { sqlProblems: problems },
        );
      }
      return move(
        Stage.changesRequested,
        {
          by: SYSTEM,
          action: 'policyCheck',
          comment: `the SQL guard refused the SQL: ${problems.join('; ')}`,
        },
        { sqlProblems: problems, lastError: { type: 'SqlRefused', message: problems.join('; '), at } },
      );
    }
    case 'reviewed':
      return reviewed(state, event, context);
    case 'amended':
      return move(
        Stage.proposed,
        { by: event.by.trim(), action: 'amend', comment: event.comment },
        {
          spec: event.spec,
          revision: state.revision + 1,
          approvals: [],
          lastError: undefined,
          sqlProblems: [],
        },
      );
    case 'deadlinePassed': {
      const seconds = Math.round(approvalDeadlineMsOf(context.governance) / 1000);
      return move(Stage.expired, {
        by: SYSTEM,
        action: 'expire',
        comment: `no decision within ${seconds} s`,
      });
    }
    case 'operatorActed': {
      const to = {
        retryProvisioning: Stage.provisioning,
        redeploy: Stage.provisioning,
        deprecate: Stage.deprecated,
        retire: Stage.retired,
      }[event.action];
      // Retiring records who, trimmed; the other acts record `by` as it came (recorded histories).
      const by = event.action === 'retire' ? event.by.trim() : event.by;
      return move(to, { by, action: event.action, comment: event.comment });
    }
    case 'provisioned':
      return provisioned(state, event, context);
    case 'provisioningFailed': {
      const { failure } = event;
      return move(
        Stage.failed,
        { by: SYSTEM, action: 'fail', comment: `${failure.type}: ${failure.message}` },
        { lastError: failure },
      );
    }
    case 'jobLooked':
      return jobLooked(state, event, context);
    case 'tableLooked':
      if (event.trouble === undefined) return event.changed ? catalogStale : nothing;
      return degrade(state, 'table', event.trouble, context);
    case 'analysisConfirmed':
      if (event.outcome === 'breach') {
        if (state.stage === Stage.active) return degrade(state, 'analysis', event.breach, context);
        if (context.degradeCauses && state.stage === Stage.degraded)
          return degrade(state, 'analysis', event.breach, context);
        return nothing;
      }
      if (event.outcome === 'pass') return recover(state, 'analysis', event.pass, context);
      return nothing;
    case 'published':
      return { ...nothing, changes: { publishedStage: event.stage } };
    case 'stopped':
      return {
        ...stay(state, {
          by: SYSTEM,
          action: state.stage === Stage.deprecated ? 'deprecate' : 'retire',
          comment: event.comment,
        }),
        changes: { publishedStage: undefined },
      };
    case 'actFailed':
      return { ...nothing, changes: { lastError: event.failure } };
  }
}

/** Write an outcome into the state (in place): its changes, then its decisions, then the stage. */
export function applyOutcome(state: CarriedState, outcome: Outcome, at: string): void {
  Object.assign(state, outcome.changes);
  for (const { stage, decision } of outcome.record) {
    state.stage = stage;
    recordDecision(state, decision, at);
  }
  if (outcome.next) state.stage = outcome.next;
}

/** What the product's analysis schedule should be in this state. */
export type ScheduleWanted = 'running' | 'paused' | 'deleted';

/**
 * The schedule runs while the product is active, or degraded by analysis breaches alone (only a
 * later cycle can clear them); it pauses while its job or table is in trouble (whatever an
 * analysis found too), while deprecated or provisioned again, and is deleted when the product ends.
 */
export function wantedSchedule(state: Parameters<typeof causesOf>[0]): ScheduleWanted {
  if (state.stage === Stage.active) return 'running';
  if (state.stage === Stage.degraded) {
    const causes = causesOf(state);
    return causes.length > 0 && causes.every((c) => c.by === 'analysis') ? 'running' : 'paused';
  }
  if (isTerminal(state.stage)) return 'deleted';
  return 'paused';
}

/** Did the product move (or take a new revision) since the act reporting it started? */
export function isStale(state: CarriedState, observed: Observed): boolean {
  return state.stage !== observed.stage || state.revision !== observed.revision;
}

/** Schedule the catalog to show what changed (a new snapshot, a new rejected count, a decision). */
const catalogStale: Outcome = { ...nothing, changes: { publishedStage: undefined } };

function stay(state: CarriedState, decision: DecisionInput, changes: Partial<CarriedState> = {}): Outcome {
  return { changes, record: [{ stage: state.stage, decision }], effects: [] };
}

/** Move to a stage the lifecycle allows and record why; each wait for a decision gets its deadline. */
function moveTo(
  state: CarriedState,
  to: Stage,
  decision: DecisionInput,
  changes: Partial<CarriedState>,
  context: DecideContext,
): Outcome {
  if (!canTransition(state.stage, to)) {
    return {
      ...nothing,
      refusal: { type: 'WrongStage', message: `a product cannot move from ${state.stage} to ${to}` },
    };
  }
  const waiting: Partial<CarriedState> = isAwaitingDecision(to)
    ? {
        // Each wait for a decision gets the domain's full deadline; reminders only bother approvers.
        deadlineAt: context.now + approvalDeadlineMsOf(context.governance),
        nextReminderAt:
          to === Stage.awaitingApproval ? context.now + reminderIntervalMsOf(context.governance) : undefined,
      }
    : {};
  return {
    next: to,
    changes: { ...changes, ...waiting },
    record: [{ stage: to, decision }],
    effects: [{ kind: 'searchStage', stage: to }],
  };
}

function reviewed(
  state: CarriedState,
  event: Extract<ProductEvent, { kind: 'reviewed' }>,
  context: DecideContext,
): Outcome {
  const by = event.by.trim();
  const decision: DecisionInput = {
    by,
    action: event.action,
    comment: event.comment,
    ...(event.via !== undefined ? { via: event.via } : {}),
    ...(event.keyId !== undefined ? { keyId: event.keyId } : {}),
  };
  switch (event.action) {
    case 'approve': {
      const approved = { ...state, approvals: [...state.approvals, by] };
      const changes = { approvals: approved.approvals };
      if (standingApprovals(approved, context.governance) >= requiredApprovalsOf(context.governance))
        return moveTo(state, Stage.provisioning, decision, changes, context);
      return stay(state, decision, changes);
    }
    case 'reject':
      return moveTo(state, Stage.rejected, decision, {}, context);
    case 'requestChanges':
      if (state.stage === Stage.changesRequested) return stay(state, decision);
      return moveTo(state, Stage.changesRequested, decision, {}, context);
  }
}

function provisioned(
  state: CarriedState,
  event: Extract<ProductEvent, { kind: 'provisioned' }>,
  context: DecideContext,
): Outcome {
  const provision: DecisionInput = { by: SYSTEM, action: 'provision', comment: event.comment };
  if (event.health.healthy) {
    return moveTo(
      state,
      Stage.active,
      provision,
      { ...cleared(context), publishedStage: Stage.active },
      context,
    );
  }
  // Provisioned, but the job has no slot yet: recorded as provisioned, then degraded by its job.
  const degraded = degrade(state, 'job', event.health.reason, context);
  return {
    ...degraded,
    changes: { ...degraded.changes, publishedStage: Stage.degraded },
    record: [{ stage: state.stage, decision: provision }, ...degraded.record],
  };
}

function jobLooked(
  state: CarriedState,
  event: Extract<ProductEvent, { kind: 'jobLooked' }>,
  context: DecideContext,
): Outcome {
  const { health } = event;
  const troubled = !health.healthy && health.settled;
  if (troubled && state.stage === Stage.active) return degrade(state, 'job', health.reason, context);
  if (context.degradeCauses) {
    const byJob = causesOf(state).some((c) => c.by === 'job');
    if (troubled && state.stage === Stage.degraded && !byJob)
      return degrade(state, 'job', health.reason, context);
    if (health.healthy && state.stage === Stage.degraded && byJob)
      return recover(state, 'job', 'the Flink job runs again', context);
  } else if (health.healthy && state.stage === Stage.degraded && state.degradedBy === 'job') {
    return recover(state, 'job', 'the Flink job runs again', context);
  }
  return event.rejectedChanged ? catalogStale : nothing;
}

/** The fields that say why a product is degraded, all cleared. */
function cleared(context: DecideContext): Partial<CarriedState> {
  return {
    lastError: undefined,
    degradedBy: undefined,
    ...(context.degradeCauses ? { degradeCauses: undefined } : {}),
  };
}

/** The fields that say why a product is degraded, for these causes (the most serious one first). */
function degradedFields(causes: readonly DegradeCause[]): Partial<CarriedState> {
  const top = topCause(causes);
  if (!top) return { lastError: undefined, degradedBy: undefined, degradeCauses: undefined };
  return {
    lastError: { type: top.type, message: top.message, at: top.at },
    degradedBy: top.by,
    degradeCauses: [...causes],
  };
}

/**
 * `by` found trouble. An active product is degraded. One already degraded: with one cause at a
 * time, only its table's trouble is taken (the one a redeploy must fix); with several, every new
 * cause is kept beside the others, and the most serious one (table, job, analysis) is the one
 * `degradedBy` and the last error show.
 */
function degrade(state: CarriedState, by: DegradeSource, reason: string, context: DecideContext): Outcome {
  const at = new Date(context.now).toISOString();
  const cause: DegradeCause = { by, type: causeErrorType[by], message: reason, at };
  const decision: DecisionInput = { by: SYSTEM, action: 'degrade', comment: reason };
  if (!context.degradeCauses) {
    const changes = { lastError: { type: cause.type, message: reason, at }, degradedBy: by };
    if (state.stage !== Stage.degraded) return moveTo(state, Stage.degraded, decision, changes, context);
    return stay(state, decision, { ...changes, publishedStage: undefined });
  }
  const base = state.stage === Stage.degraded ? causesOf(state) : [];
  const changes = degradedFields(withCause(base, cause));
  if (state.stage !== Stage.degraded) return moveTo(state, Stage.degraded, decision, changes, context);
  // A repeated breach only brings its figures up to date; a new cause is a decision.
  if (base.some((c) => c.by === by)) return { ...nothing, changes };
  return stay(state, decision, { ...changes, publishedStage: undefined });
}

/**
 * `by` is well again. A product degraded by that cause alone is active again; with other causes
 * left (several causes at once), it stays degraded by them.
 */
function recover(state: CarriedState, by: DegradeSource, comment: string, context: DecideContext): Outcome {
  if (state.stage !== Stage.degraded) return nothing;
  const decision: DecisionInput = { by: SYSTEM, action: 'recover', comment };
  if (!context.degradeCauses) {
    if (state.degradedBy !== by) return nothing;
    return moveTo(state, Stage.active, decision, cleared(context), context);
  }
  const causes = causesOf(state);
  if (!causes.some((c) => c.by === by)) return nothing;
  const left = withoutCause(causes, by);
  if (left.length === 0) return moveTo(state, Stage.active, decision, cleared(context), context);
  const still = `${comment}; still degraded by ${left.map((c) => c.by).join(', ')}`;
  return stay(state, { ...decision, comment: still }, { ...degradedFields(left), publishedStage: undefined });
}

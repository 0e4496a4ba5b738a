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
import type { DecideContext, Observed, Outcome, ProductEvent } from './product-events';
import { lastAppliedCycleMs } from './analysis';

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

const nothing: Outcome = { changes: {}, record: [], effects: [] };

/** What `event` means for the product in `state`. */
export function decide(state: CarriedState, event: ProductEvent, context: DecideContext): Outcome {
  if ('observed' in event && isStale(state, event.observed)) return nothing;
  // One rule per kind of event, looked up in one table (as sdk-typescript dispatches activations).
  const rule = rules[event.kind] as Rule<ProductEvent['kind']>;
  return rule(state, event, context);
}

type Rule<K extends ProductEvent['kind']> = (
  state: CarriedState,
  event: Extract<ProductEvent, { kind: K }>,
  context: DecideContext,
) => Outcome;

const isoOf = (context: DecideContext) => new Date(context.now).toISOString();

const operatorMoves = {
  retryProvisioning: Stage.provisioning,
  redeploy: Stage.provisioning,
  deprecate: Stage.deprecated,
  retire: Stage.retired,
} as const;

const rules: { readonly [K in ProductEvent['kind']]: Rule<K> } = {
  proposed: (state) => {
    const proposer = state.spec.proposal?.proposedBy.name ?? state.spec.owner;
    return stay(state, { by: proposer, action: 'propose', comment: state.spec.proposal?.reasoning });
  },
  policiesChecked: (state, { violations }, context) => {
    if (violations.length === 0) return { ...nothing, changes: { policyViolations: [] } };
    const lastError = { type: 'PolicyDenied', message: violations.join('; '), at: isoOf(context) };
    const comment = `policy violations: ${violations.join('; ')}`;
    return moveTo(
      state,
      Stage.changesRequested,
      { by: SYSTEM, action: 'policyCheck', comment },
      { policyViolations: [...violations], lastError },
      context,
    );
  },
  schemaChecked: (state, { refusal }, context) => {
    if (!refusal) return nothing;
    const lastError = { ...refusal, at: isoOf(context) };
    const decision: DecisionInput = { by: SYSTEM, action: 'policyCheck', comment: refusal.message };
    return moveTo(state, Stage.changesRequested, decision, { lastError }, context);
  },
  sqlChecked: (state, event, context) => {
    const problems = [...event.problems];
    if (problems.length === 0) {
      const comment = 'policies and the SQL guard passed';
      const decision: DecisionInput = { by: SYSTEM, action: 'policyCheck', comment };
      return moveTo(state, Stage.awaitingApproval, decision, { sqlProblems: problems }, context);
    }
    const lastError = { type: 'SqlRefused', message: problems.join('; '), at: isoOf(context) };
    const comment = `the SQL guard refused the SQL: ${problems.join('; ')}`;
    const decision: DecisionInput = { by: SYSTEM, action: 'policyCheck', comment };
    return moveTo(state, Stage.changesRequested, decision, { sqlProblems: problems, lastError }, context);
  },
  reviewed: (state, event, context) => reviewed(state, event, context),
  amended: (state, event, context) =>
    moveTo(
      state,
      Stage.proposed,
      { by: event.by.trim(), action: 'amend', comment: event.comment },
      {
        spec: event.spec,
        revision: state.revision + 1,
        approvals: [],
        approvalProofs: undefined,
        lastError: undefined,
        sqlProblems: [],
      },
      context,
    ),
  deadlinePassed: (state, _event, context) => {
    const seconds = Math.round(approvalDeadlineMsOf(context.governance) / 1000);
    const decision: DecisionInput = {
      by: SYSTEM,
      action: 'expire',
      comment: `no decision within ${seconds} s`,
    };
    return moveTo(state, Stage.expired, decision, {}, context);
  },
  operatorActed: (state, event, context) => {
    // Retiring records who, trimmed; the other acts record `by` as it came (recorded histories).
    const by = event.action === 'retire' ? event.by.trim() : event.by;
    const decision: DecisionInput = { by, action: event.action, comment: event.comment };
    return moveTo(state, operatorMoves[event.action], decision, {}, context);
  },
  provisioned: (state, event, context) => provisioned(state, event, context),
  provisioningFailed: (state, { failure }, context) => {
    const comment = `${failure.type}: ${failure.message}`;
    const decision: DecisionInput = { by: SYSTEM, action: 'fail', comment };
    return moveTo(state, Stage.failed, decision, { lastError: failure }, context);
  },
  jobLooked: (state, event, context) => jobLooked(state, event, context),
  tableLooked: (state, event, context) => {
    if (event.trouble === undefined) return event.changed ? catalogStale : nothing;
    return degrade(state, 'table', event.trouble, context);
  },
  platformFault: (state, event, context) => {
    if (state.stage !== Stage.active && state.stage !== Stage.degraded) return nothing;
    return degrade(state, event.source, event.reason, context);
  },
  recoveryAttempted: (state, event, context) => recoveryAttempted(state, event, context),
  analysisConfirmed: (state, event, context) => {
    // A cycle not newer than the last one applied changes nothing (an old breach or pass replayed).
    if (event.at !== undefined && !isNewerCycle(state, event.at)) return nothing;
    if (event.outcome === 'pass') return recover(state, 'analysis', event.pass, context);
    if (event.outcome !== 'breach') return nothing;
    // With one cause at a time, a product already degraded keeps its cause.
    const takes = state.stage === Stage.active || (context.degradeCauses && state.stage === Stage.degraded);
    return takes ? degrade(state, 'analysis', event.breach, context) : nothing;
  },
  published: (_state, event) => ({ ...nothing, changes: { publishedStage: event.stage } }),
  stopped: (state, event) => {
    const action = state.stage === Stage.deprecated ? 'deprecate' : 'retire';
    return stay(state, { by: SYSTEM, action, comment: event.comment }, { publishedStage: undefined });
  },
  actFailed: (_state, event) => ({ ...nothing, changes: { lastError: event.failure } }),
};

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

/** Is a cycle of this time newer than every cycle the product applied? */
export function isNewerCycle(state: Pick<CarriedState, 'analysisCycles'>, at: string): boolean {
  const time = Date.parse(at);
  const last = lastAppliedCycleMs(state.analysisCycles);
  return !Number.isNaN(time) && (last === undefined || time > last);
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
      const proofs = event.proof ? [...(state.approvalProofs ?? []), event.proof] : undefined;
      const changes = { approvals: approved.approvals, ...(proofs ? { approvalProofs: proofs } : {}) };
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
  // A deployment by a person (or a new revision) starts automatic recovery's count over.
  const fresh = state.recovery ? { recovery: undefined } : {};
  if (event.health.healthy) {
    return moveTo(
      state,
      Stage.active,
      provision,
      { ...cleared(context), publishedStage: Stage.active, ...fresh },
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
  const trouble = !health.healthy && health.settled ? health.reason : undefined;
  const byJob = causesOf(state).some((c) => c.by === 'job');
  // With one cause at a time, a product degraded by something else keeps that cause.
  const takes =
    state.stage === Stage.active || (context.degradeCauses && state.stage === Stage.degraded && !byJob);
  if (trouble !== undefined && takes) return degrade(state, 'job', trouble, context);
  if (health.healthy && byJob) return recover(state, 'job', 'the Flink job runs again', context);
  return event.rejectedChanged ? catalogStale : nothing;
}

/**
 * The workflow redeployed a product's jobs after a platform fault. Recovered: the job's and the
 * table's causes are cleared (active again unless an analysis breach remains), one decision says
 * what failed, what was done and from which checkpoint. Not recovered: recorded, still degraded.
 */
function recoveryAttempted(
  state: CarriedState,
  event: Extract<ProductEvent, { kind: 'recoveryAttempted' }>,
  context: DecideContext,
): Outcome {
  if (state.stage !== Stage.degraded) return nothing;
  if (!event.recovered) {
    return stay(
      state,
      { by: SYSTEM, action: 'degrade', comment: event.comment },
      { publishedStage: undefined },
    );
  }
  const decision: DecisionInput = { by: SYSTEM, action: 'recover', comment: event.comment };
  if (!context.degradeCauses) return moveTo(state, Stage.active, decision, cleared(context), context);
  const left = causesOf(state).filter((c) => c.by !== 'job' && c.by !== 'table');
  if (left.length === 0) return moveTo(state, Stage.active, decision, cleared(context), context);
  const still = `${event.comment}; still degraded by ${left.map((c) => c.by).join(', ')}`;
  return stay(state, { ...decision, comment: still }, { ...degradedFields(left), publishedStage: undefined });
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

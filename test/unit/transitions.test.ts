import assert from 'node:assert/strict';
import { signingOff } from '../../src/domain/approval-signing';
import type { DomainGovernance } from '../../src/domain/governance';
import type { Stage } from '../../src/domain/lifecycle';
import type { CarriedState } from '../../src/domain/product-state';
import { causesOf, proposedState } from '../../src/domain/product-state';
import type { DecideContext, Health, ProductEvent } from '../../src/domain/product-events';
import { applyOutcome, decide, wantedSchedule } from '../../src/domain/transitions';
import { validSpec } from '../helpers/specs';

const t0 = Date.parse('2026-01-01T00:00:00Z');

const governance: DomainGovernance = {
  domain: 'orders',
  known: true,
  approvers: ['bob', 'carol'],
  operators: ['ops'],
  requiredApprovals: 2,
  approvalDeadlineMs: 60_000,
  reminderIntervalMs: 10_000,
  jobWatchIntervalMs: 1_000,
  knownDomains: ['orders'],
  approvalSigning: signingOff,
  slackUsers: {},
};

const oneCause: DecideContext = { governance, now: t0, degradeCauses: false };
const severalCauses: DecideContext = { governance, now: t0, degradeCauses: true };

function stateIn(stage: Stage, changes: Partial<CarriedState> = {}): CarriedState {
  return { ...proposedState(validSpec(), new Date(t0).toISOString()), stage, ...changes };
}

/** Report the events in turn, as the workflow does; returns the state. */
function run(state: CarriedState, context: DecideContext, ...events: ProductEvent[]): CarriedState {
  for (const event of events) {
    const outcome = decide(state, event, context);
    assert.equal(outcome.refusal, undefined, outcome.refusal?.message);
    applyOutcome(state, outcome, new Date(context.now).toISOString());
  }
  return state;
}

const failing: Health = { healthy: false, settled: true, reason: 'the Flink job is FAILED' };
const starting: Health = { healthy: false, settled: false, reason: 'the Flink job is CREATED' };
const running: Health = { healthy: true };
const observedIn = (state: CarriedState) => ({ stage: state.stage, revision: state.revision });
const jobLooked = (state: CarriedState, health: Health): ProductEvent => ({
  kind: 'jobLooked',
  observed: observedIn(state),
  health,
  rejectedChanged: false,
});
const breach: ProductEvent = {
  kind: 'analysisConfirmed',
  outcome: 'breach',
  breach: 'orders_valid: 3 failing',
  pass: '',
};
const pass: ProductEvent = {
  kind: 'analysisConfirmed',
  outcome: 'pass',
  breach: '',
  pass: 'analysis c2 passed',
};
const tableTrouble = (state: CarriedState): ProductEvent => ({
  kind: 'tableLooked',
  observed: observedIn(state),
  trouble: 'a bad record at offset 7',
  changed: true,
});

describe('decide: the one place a product changes stage', () => {
  it('records the proposal, then sends a clean proposal to its approvers with a deadline', () => {
    const state = run(
      stateIn('proposed'),
      oneCause,
      { kind: 'proposed' },
      { kind: 'policiesChecked', violations: [] },
    );
    assert.equal(state.stage, 'proposed');
    const outcome = decide(
      state,
      { kind: 'sqlChecked', observed: observedIn(state), problems: [] },
      oneCause,
    );
    assert.equal(outcome.next, 'awaitingApproval');
    assert.deepEqual(outcome.effects, [{ kind: 'searchStage', stage: 'awaitingApproval' }]);
    applyOutcome(state, outcome, 'now');
    assert.equal(state.deadlineAt, t0 + 60_000);
    assert.equal(state.nextReminderAt, t0 + 10_000);
    assert.deepEqual(
      state.decisions.map((d) => [d.action, d.stage]),
      [
        ['propose', 'proposed'],
        ['policyCheck', 'awaitingApproval'],
      ],
    );
  });

  it('asks for changes when a policy or the SQL guard refuses, with the reason as the last error', () => {
    const policy = run(stateIn('proposed'), oneCause, { kind: 'policiesChecked', violations: ['no owner'] });
    assert.equal(policy.stage, 'changesRequested');
    assert.equal(policy.lastError?.type, 'PolicyDenied');
    assert.equal(policy.nextReminderAt, undefined);
    const sql = stateIn('proposed');
    run(sql, oneCause, { kind: 'sqlChecked', observed: observedIn(sql), problems: ['unknown column x'] });
    assert.deepEqual(
      [sql.stage, sql.lastError?.type, sql.sqlProblems],
      ['changesRequested', 'SqlRefused', ['unknown column x']],
    );
  });

  it('drops an event whose act started before the product moved (re-checking after each await)', () => {
    const state = stateIn('proposed');
    const observed = observedIn(state);
    run(state, oneCause, { kind: 'reviewed', action: 'reject', by: 'bob' });
    assert.deepEqual(decide(state, { kind: 'sqlChecked', observed, problems: [] }, oneCause), {
      changes: {},
      record: [],
      effects: [],
    });
    const amended = stateIn('proposed', { revision: 2 });
    const old = { stage: 'proposed' as const, revision: 1 };
    assert.equal(
      decide(amended, { kind: 'sqlChecked', observed: old, problems: [] }, oneCause).next,
      undefined,
    );
  });

  it('provisions once enough approvers approved; an amendment starts the approvals over', () => {
    const state = run(stateIn('awaitingApproval'), oneCause, {
      kind: 'reviewed',
      action: 'approve',
      by: ' bob ',
    });
    assert.deepEqual([state.stage, state.approvals], ['awaitingApproval', ['bob']]);
    run(state, oneCause, { kind: 'reviewed', action: 'approve', by: 'carol', via: 'cli' });
    assert.equal(state.stage, 'provisioning');
    assert.equal(state.decisions.at(-1)?.via, 'cli');
    const changes = run(stateIn('awaitingApproval', { approvals: ['bob'] }), oneCause, {
      kind: 'reviewed',
      action: 'requestChanges',
      by: 'carol',
    });
    run(changes, oneCause, { kind: 'amended', by: 'alice', spec: validSpec({ description: 'Amended.' }) });
    assert.deepEqual([changes.stage, changes.revision, changes.approvals], ['proposed', 2, []]);
  });

  it('refuses a move the lifecycle does not allow, changing nothing', () => {
    const outcome = decide(
      stateIn('retired'),
      { kind: 'operatorActed', action: 'redeploy', by: 'ops' },
      oneCause,
    );
    assert.equal(outcome.refusal?.type, 'WrongStage');
    assert.deepEqual(outcome.record, []);
  });

  it('provisioning: active with a running job, degraded by its job without a slot, failed on an error', () => {
    const healthy = stateIn('provisioning', { lastError: { type: 'X', message: 'old', at: 't' } });
    run(healthy, oneCause, {
      kind: 'provisioned',
      observed: observedIn(healthy),
      health: running,
      comment: 'started',
    });
    assert.deepEqual(
      [healthy.stage, healthy.lastError, healthy.publishedStage],
      ['active', undefined, 'active'],
    );
    const noSlot = stateIn('provisioning');
    run(noSlot, oneCause, {
      kind: 'provisioned',
      observed: observedIn(noSlot),
      health: failing,
      comment: 'started',
    });
    assert.deepEqual(
      [noSlot.stage, noSlot.degradedBy, noSlot.publishedStage],
      ['degraded', 'job', 'degraded'],
    );
    assert.deepEqual(
      noSlot.decisions.map((d) => [d.action, d.stage]),
      [
        ['provision', 'provisioning'],
        ['degrade', 'degraded'],
      ],
    );
    const failed = stateIn('provisioning');
    const failure = { type: 'SqlRefused', message: 'no', at: 't' };
    run(failed, oneCause, { kind: 'provisioningFailed', observed: observedIn(failed), failure });
    assert.deepEqual([failed.stage, failed.lastError], ['failed', failure]);
  });

  it('one cause at a time (recorded histories): the first cause wins, except a table', () => {
    const state = run(stateIn('active'), oneCause, breach);
    assert.deepEqual(
      [state.stage, state.degradedBy, state.lastError?.type],
      ['degraded', 'analysis', 'AnalysisBreach'],
    );
    run(state, oneCause, jobLooked(state, failing));
    assert.deepEqual([state.degradedBy, state.lastError?.type], ['analysis', 'AnalysisBreach']);
    run(state, oneCause, pass);
    assert.equal(state.stage, 'active');
    assert.equal(state.degradeCauses, undefined);
    run(state, oneCause, jobLooked(state, failing));
    run(state, oneCause, tableTrouble(state));
    assert.deepEqual(
      [state.stage, state.degradedBy, state.lastError?.type],
      ['degraded', 'table', 'TableSuspended'],
    );
    run(state, oneCause, jobLooked(state, running));
    assert.equal(state.stage, 'degraded');
  });

  it('several causes: a job failing after an analysis breach is kept, and shown as the more serious', () => {
    const state = run(stateIn('active'), severalCauses, breach);
    run(state, severalCauses, jobLooked(state, failing));
    assert.equal(state.stage, 'degraded');
    assert.deepEqual(
      causesOf(state).map((c) => [c.by, c.type]),
      [
        ['analysis', 'AnalysisBreach'],
        ['job', 'JobUnhealthy'],
      ],
    );
    assert.deepEqual([state.degradedBy, state.lastError?.type], ['job', 'JobUnhealthy']);
    assert.equal(state.lastError?.message, 'the Flink job is FAILED');
    assert.equal(state.decisions.at(-1)?.action, 'degrade');
    assert.equal(state.publishedStage, undefined);
  });

  it('several causes: a passing analysis does not make a product with a failing job active', () => {
    const state = run(stateIn('active'), severalCauses, jobLooked(stateIn('active'), failing), breach);
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['job', 'analysis'],
    );
    run(state, severalCauses, pass);
    assert.equal(state.stage, 'degraded');
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['job'],
    );
    assert.deepEqual([state.degradedBy, state.lastError?.type], ['job', 'JobUnhealthy']);
    assert.match(state.decisions.at(-1)?.comment ?? '', /passed; still degraded by job/);
    run(state, severalCauses, jobLooked(state, running));
    assert.deepEqual(
      [state.stage, state.degradedBy, state.lastError, state.degradeCauses],
      ['active', undefined, undefined, undefined],
    );
  });

  it('several causes: a job running again leaves an analysis breach and a table suspension', () => {
    const state = run(stateIn('active'), severalCauses, jobLooked(stateIn('active'), failing), breach);
    run(state, severalCauses, tableTrouble(state));
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['job', 'analysis', 'table'],
    );
    assert.equal(state.lastError?.type, 'TableSuspended');
    run(state, severalCauses, jobLooked(state, running));
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['analysis', 'table'],
    );
    run(state, severalCauses, pass);
    assert.deepEqual([state.stage, state.degradedBy], ['degraded', 'table']);
    // Only a redeploy clears a table's trouble: provisioning again clears every cause.
    run(state, severalCauses, { kind: 'operatorActed', action: 'redeploy', by: 'ops' });
    run(state, severalCauses, {
      kind: 'provisioned',
      observed: observedIn(state),
      health: running,
      comment: 'again',
    });
    assert.deepEqual([state.stage, causesOf(state)], ['active', []]);
  });

  it('several causes: a repeated breach refreshes its figures without a new decision; a starting job is no cause', () => {
    const state = run(stateIn('active'), severalCauses, breach);
    const decisions = state.decisionCount;
    run(state, severalCauses, { ...breach, breach: 'orders_valid: 5 failing' });
    assert.equal(state.decisionCount, decisions);
    assert.equal(causesOf(state)[0]?.message, 'orders_valid: 5 failing');
    run(state, severalCauses, jobLooked(state, starting));
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['analysis'],
    );
  });

  it('several causes: a product carried with one cause keeps it as its first', () => {
    const state = stateIn('degraded', {
      degradedBy: 'job',
      lastError: { type: 'JobUnhealthy', message: 'no slot', at: 't' },
    });
    run(state, severalCauses, breach);
    assert.deepEqual(
      causesOf(state).map((c) => [c.by, c.message]),
      [
        ['job', 'no slot'],
        ['analysis', 'orders_valid: 3 failing'],
      ],
    );
    assert.equal(state.lastError?.message, 'no slot');
  });

  it('notes what the catalog holds, and refreshes it for a stop, a new snapshot or rejected count', () => {
    const state = run(stateIn('deprecated'), oneCause, { kind: 'published', stage: 'deprecated' });
    assert.equal(state.publishedStage, 'deprecated');
    run(state, oneCause, { kind: 'stopped', comment: 'Flink job stopped with savepoint s1' });
    assert.deepEqual([state.publishedStage, state.decisions.at(-1)?.action], [undefined, 'deprecate']);
    const active = stateIn('active', { publishedStage: 'active' });
    run(active, oneCause, { ...jobLooked(active, running), rejectedChanged: true } as ProductEvent);
    assert.equal(active.publishedStage, undefined);
  });

  it('runs the analysis schedule while active or degraded by breaches alone; pauses it for any job or table trouble', () => {
    assert.equal(wantedSchedule(stateIn('active')), 'running');
    const analysis = run(stateIn('active'), severalCauses, breach);
    assert.equal(wantedSchedule(analysis), 'running');
    run(analysis, severalCauses, jobLooked(analysis, failing));
    assert.equal(wantedSchedule(analysis), 'paused', 'a failing job pauses it, whatever the analysis found');
    run(analysis, severalCauses, pass);
    assert.equal(wantedSchedule(analysis), 'paused');
    assert.equal(
      wantedSchedule(stateIn('degraded', { degradedBy: 'analysis' })),
      'running',
      'carried with one cause',
    );
    assert.equal(wantedSchedule(stateIn('degraded', { degradedBy: 'table' })), 'paused');
    assert.equal(wantedSchedule(stateIn('degraded')), 'paused');
    assert.equal(wantedSchedule(stateIn('deprecated')), 'paused');
    assert.equal(wantedSchedule(stateIn('retired')), 'deleted');
  });
});

describe('decide: analysis cycles count in order', () => {
  const kept = (at: string) => ({
    productId: 'orders.x',
    cycleKey: `k-${at}`,
    snapshotId: null,
    at,
    outcome: 'pass' as const,
    rows: 1,
    breaches: [],
    findings: [],
    proposals: [],
  });

  it('a breach or pass not newer than the last cycle applied changes nothing; a newer one counts', () => {
    const active = stateIn('active', { analysisCycles: [kept('2026-01-01T05:00:00.000Z')] });
    for (const at of ['2026-01-01T05:00:00.000Z', '2026-01-01T04:59:59.999Z', 'not a time']) {
      const outcome = decide(active, { ...breach, at }, severalCauses);
      assert.equal(outcome.next, undefined, `a breach at ${at}`);
      assert.deepEqual(outcome.record, []);
    }
    assert.equal(
      decide(active, { ...breach, at: '2026-01-01T05:00:00.001Z' }, severalCauses).next,
      'degraded',
    );
    const degraded = stateIn('degraded', {
      degradedBy: 'analysis',
      degradeCauses: [
        { by: 'analysis', type: 'AnalysisBreach', message: 'x', at: '2026-01-01T06:00:00.000Z' },
      ],
      analysisCycles: [kept('2026-01-01T06:00:00.000Z')],
    });
    assert.equal(
      decide(degraded, { ...pass, at: '2026-01-01T05:00:00.000Z' }, severalCauses).next,
      undefined,
      'an old pass does not recover',
    );
    assert.equal(decide(degraded, { ...pass, at: '2026-01-01T07:00:00.000Z' }, severalCauses).next, 'active');
  });
});

describe('decide: automatic recovery after a platform fault', () => {
  const fault = (state: CarriedState, source: 'job' | 'table'): ProductEvent => ({
    kind: 'platformFault',
    observed: observedIn(state),
    source,
    reason: `${source} lost; the workflow redeploys it from its last retained checkpoint`,
  });
  const attempt = (state: CarriedState, recovered: boolean): ProductEvent => ({
    kind: 'recoveryAttempted',
    observed: observedIn(state),
    recovered,
    comment: recovered
      ? 'automatic recovery 1 of 8: the Flink job … no longer exists in Flink; redeployed … from checkpoint file:///c/chk-3'
      : 'automatic recovery 1 of 8: …; the job is not running; next attempt in 10 s',
  });

  it('a platform fault degrades an active product with the reason; a recovery makes it active with one decision saying how', () => {
    const state = stateIn('active');
    run(state, severalCauses, fault(state, 'job'));
    assert.equal(state.stage, 'degraded');
    assert.match(state.lastError?.message ?? '', /redeploys it from its last retained checkpoint/);
    run(state, severalCauses, fault(state, 'table'));
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['job', 'table'],
    );
    const before = state.decisions.length;
    run(state, severalCauses, attempt(state, true));
    assert.equal(state.stage, 'active');
    assert.equal(state.decisions.length, before + 1);
    const decision = state.decisions.at(-1);
    assert.equal(decision?.action, 'recover');
    assert.equal(decision?.by, 'meshloop');
    assert.match(decision?.comment ?? '', /from checkpoint file:\/\/\/c\/chk-3/);
    assert.equal(state.lastError, undefined);
    assert.equal(causesOf(state).length, 0);
  });

  it('a failed attempt is recorded and the product stays degraded; an analysis breach outlives a recovery', () => {
    const state = stateIn('active');
    run(state, severalCauses, breach, fault(state, 'job'));
    run(state, severalCauses, attempt(state, false));
    assert.equal(state.stage, 'degraded');
    assert.equal(state.decisions.at(-1)?.action, 'degrade');
    assert.match(state.decisions.at(-1)?.comment ?? '', /next attempt in 10 s/);
    run(state, severalCauses, attempt(state, true));
    assert.equal(state.stage, 'degraded');
    assert.deepEqual(
      causesOf(state).map((c) => c.by),
      ['analysis'],
    );
    assert.match(state.decisions.at(-1)?.comment ?? '', /still degraded by analysis$/);
  });

  it("an operator's redeploy starts the count of automatic recoveries over", () => {
    const state = stateIn('provisioning', {
      recovery: { attempts: 8, since: new Date(t0).toISOString() },
    });
    run(state, severalCauses, {
      kind: 'provisioned',
      observed: observedIn(state),
      health: running,
      comment: 'redeployed',
    });
    assert.equal(state.stage, 'active');
    assert.equal(state.recovery, undefined);
  });

  it('stale or out of place: a recovery reported from another stage changes nothing', () => {
    const state = stateIn('active');
    const stale = attempt(stateIn('degraded'), true);
    assert.deepEqual(decide(state, stale, severalCauses).record, []);
    const retired = stateIn('retired');
    assert.deepEqual(decide(retired, fault(retired, 'job'), severalCauses).record, []);
  });
});

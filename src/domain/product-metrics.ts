import type { Stage } from './lifecycle';
import type { CarriedState } from './product-state';

/**
 * What a product's workflow tells the worker's metrics (through the `meshloopMetrics` sink: no
 * history command, not called on replay). Pure: computed from the state before and after one
 * reported event. The worker (src/metrics) turns these into Prometheus series with bounded labels.
 */
export type ProductMetricUpdate =
  /** A new proposal, by whom (an agent's name, or `person`). */
  | Readonly<{ kind: 'proposed'; productId: string; agent: string }>
  /** A proposal decided: approved, rejected, expired or dismissed, and how long it waited. */
  | Readonly<{
      kind: 'decided';
      productId: string;
      agent: string;
      outcome: ProposalOutcomeLabel;
      seconds: number;
    }>
  /** An automatic redeploy after a platform fault: it recovered the job, or not. */
  | Readonly<{ kind: 'jobRestarted'; productId: string; recovered: boolean }>
  /** Records newly rejected: by the product's Flink job, or by its materialization (bad records). */
  | Readonly<{ kind: 'recordsRejected'; productId: string; source: 'job' | 'table'; count: number }>
  /** The product's Iceberg table as last seen: rows and its last commit (epoch seconds). */
  | Readonly<{ kind: 'table'; productId: string; rows: number; lastCommitSeconds?: number }>;

export type ProposalOutcomeLabel = 'approved' | 'rejected' | 'expired' | 'dismissed';

/** The figures of a state that updates are differences of. */
export type MetricSnapshot = Readonly<{
  stage: Stage;
  jobRejected: number | undefined;
  jobName: string | undefined;
  badRecords: number | undefined;
  rows: number | undefined;
  lastCommitAt: string | undefined;
}>;

export function metricSnapshotOf(state: CarriedState): MetricSnapshot {
  const table = state.materialization?.status;
  return {
    stage: state.stage,
    jobRejected: state.job?.rejectedRecords,
    jobName: state.job?.name,
    badRecords: state.materialization?.badRecords,
    rows: table?.rowCount,
    lastCommitAt: table?.lastCommitAt,
  };
}

const deciding: ReadonlySet<Stage> = new Set<Stage>(['proposed', 'awaitingApproval', 'changesRequested']);
const outcomeOf: Readonly<Partial<Record<Stage, ProposalOutcomeLabel>>> = {
  provisioning: 'approved',
  rejected: 'rejected',
  expired: 'expired',
  dismissed: 'dismissed',
};

/** Who proposed the product: the agent's name, or `person` for a spec someone wrote. */
export function proposerOf(state: CarriedState): string {
  const by = state.spec.proposal?.proposedBy;
  if (!by) return 'person';
  return by.kind === 'agent' ? by.name : 'person';
}

/** When the revision being decided was put forward (its proposal or amendment), epoch ms. */
function putForwardAt(state: CarriedState): number {
  let at = state.proposedAt;
  for (const d of state.decisions) if (d.action === 'propose' || d.action === 'amend') at = d.at;
  return Date.parse(at);
}

/** Growth of a cumulative count (a restarted job starts again from 0: all of it is new). */
function growth(before: number | undefined, after: number | undefined): number {
  if (after === undefined) return 0;
  if (before === undefined || after < before) return after;
  return after - before;
}

/**
 * The metric updates one reported event made: `before` is the snapshot taken before `decide`,
 * `state` the state after it, `now` workflow time (epoch ms).
 */
export function productMetricUpdates(
  productId: string,
  event: Readonly<{ kind: string; recovered?: boolean }>,
  before: MetricSnapshot,
  state: CarriedState,
  now: number,
): ProductMetricUpdate[] {
  const after = metricSnapshotOf(state);
  const updates: ProductMetricUpdate[] = [];
  const agent = proposerOf(state);
  if (event.kind === 'proposed') updates.push({ kind: 'proposed', productId, agent });
  const outcome = outcomeOf[after.stage];
  if (outcome && deciding.has(before.stage) && before.stage !== after.stage) {
    const seconds = Math.max(0, (now - putForwardAt(state)) / 1000);
    updates.push({ kind: 'decided', productId, agent, outcome, seconds });
  }
  if (event.kind === 'recoveryAttempted')
    updates.push({ kind: 'jobRestarted', productId, recovered: event.recovered === true });
  const sameJob = before.jobName === after.jobName;
  const jobRejected = growth(sameJob ? before.jobRejected : undefined, after.jobRejected);
  if (jobRejected > 0)
    updates.push({ kind: 'recordsRejected', productId, source: 'job', count: jobRejected });
  const bad = growth(before.badRecords, after.badRecords);
  if (bad > 0) updates.push({ kind: 'recordsRejected', productId, source: 'table', count: bad });
  if (
    after.rows !== undefined &&
    (after.rows !== before.rows || after.lastCommitAt !== before.lastCommitAt)
  ) {
    const commit = after.lastCommitAt ? Date.parse(after.lastCommitAt) : Number.NaN;
    updates.push({
      kind: 'table',
      productId,
      rows: after.rows,
      ...(Number.isFinite(commit) ? { lastCommitSeconds: commit / 1000 } : {}),
    });
  }
  return updates;
}

/** The sink product workflows report metric updates through (registered by the worker). */
export type MeshloopMetricsSink = {
  meshloopMetrics: { productUpdates(updates: ProductMetricUpdate[]): void };
};

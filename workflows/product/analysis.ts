import * as wf from '@temporalio/workflow';
import type { AnalysisCycleActivities, AnalysisScheduleActivities } from '../../activities/analysis';
import type { AnalysisCycleSummary, AnalysisScheduleState } from '../../src/domain/analysis';
import { KEPT_CYCLES } from '../../src/domain/analysis';
import { isTerminal, Stage } from '../../src/domain/lifecycle';

/**
 * A product's analysis schedule (`analysis:<product id>`) follows its stage: running while the
 * product is active (or degraded by an analysis breach: only a later cycle can clear that),
 * paused while its job or table is in trouble, while it is deprecated or being provisioned again,
 * deleted when the product ends. The workflow keeps what it last asked for, so it acts only on a
 * change; each act is idempotent, so a retry or a replay repeats nothing harmful.
 */

export type ScheduleWanted = AnalysisScheduleState['state'];

// Schedules are Temporal's own: a failed act is tried again on the next pass of the main loop.
const scheduling = wf.proxyActivities<AnalysisScheduleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

// Reading a cycle's stored results opens DuckDB on the results table: seconds.
const cycleReading = wf.proxyActivities<AnalysisCycleActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * A signalled summary as the cycle stored it: the stored outcome, breaches and findings count (a
 * signal is anyone's to send); the proposals it started come from the summary, as they are only
 * shown. Never throws: a summary that cannot be confirmed comes back with the reason.
 */
export async function readStoredCycle(
  summary: AnalysisCycleSummary,
): Promise<{ ok: true; summary: AnalysisCycleSummary } | { ok: false; reason: string }> {
  try {
    const stored = await cycleReading.readStoredAnalysisCycle({
      productId: summary.productId,
      cycleKey: summary.cycleKey,
    });
    if (!stored) return { ok: false, reason: `no analysis cycle ${summary.cycleKey} is stored: ignored` };
    return { ok: true, summary: { ...stored, proposals: summary.proposals } };
  } catch (error) {
    return {
      ok: false,
      reason: `cycle ${summary.cycleKey} could not be confirmed: ${String(error).slice(0, 300)}`,
    };
  }
}

/** What the stage asks of the schedule. */
export function wantedSchedule(stage: Stage, degradedBy: string | undefined): ScheduleWanted {
  if (stage === Stage.active) return 'running';
  if (stage === Stage.degraded) return degradedBy === 'analysis' ? 'running' : 'paused';
  if (isTerminal(stage)) return 'deleted';
  return 'paused';
}

/**
 * Bring the schedule to what is wanted; returns the new state (the old one when nothing was done
 * or the act failed). A product that never had a schedule gets one only when it should run.
 */
export async function syncAnalysisSchedule(input: {
  productId: string;
  current: AnalysisScheduleState | undefined;
  wanted: ScheduleWanted;
  every: string;
  why: string;
}): Promise<AnalysisScheduleState | undefined> {
  const { productId, current, wanted, every } = input;
  if (!current && wanted !== 'running') return current;
  if (current?.state === wanted && (wanted !== 'running' || current.every === every)) return current;
  if (current?.state === 'deleted' && wanted !== 'running') return current;
  const note = input.why.slice(0, 500);
  try {
    if (wanted === 'deleted') {
      await scheduling.deleteTemporalAnalysisSchedule({ productId });
    } else if (wanted === 'paused') {
      await scheduling.pauseTemporalAnalysisSchedule({ productId, note });
    } else {
      await scheduling.ensureTemporalAnalysisSchedule({ productId, every });
      // A schedule paused earlier is brought back; a new one starts unpaused.
      if (current?.state === 'paused') await scheduling.resumeTemporalAnalysisSchedule({ productId, note });
    }
    return { state: wanted, every };
  } catch (error) {
    wf.log.warn('analysis schedule not changed; trying again later', {
      productId,
      wanted,
      error: String(error),
    });
    return current;
  }
}

/** The newest cycles, newest last; a cycle already kept (the same key) is not kept twice. */
export function keepCycle(
  cycles: readonly AnalysisCycleSummary[] | undefined,
  summary: AnalysisCycleSummary,
): AnalysisCycleSummary[] {
  return [...(cycles ?? []).filter((c) => c.cycleKey !== summary.cycleKey), summary].slice(-KEPT_CYCLES);
}

/** Why a breach degrades the product: each failed rule with its figures, briefly. */
export function breachReason(summary: AnalysisCycleSummary): string {
  const rules = summary.breaches.map((b) => {
    const examples = b.examples.length > 0 ? ` (e.g. ${b.examples.slice(0, 3).join(', ')})` : '';
    return `${b.rule}: ${b.failing} failing${examples}`;
  });
  const snapshot = summary.snapshotId ? ` at snapshot ${summary.snapshotId}` : '';
  return `analysis ${summary.cycleKey}${snapshot} found a breach: ${rules.join('; ')}`.slice(0, 2000);
}

import * as wf from '@temporalio/workflow';
import type { AnalysisCycleSummary, AnalysisScheduleState } from '../../src/domain/analysis';
import {
  KEPT_CYCLES,
  MAX_PENDING_CYCLES,
  parseAnalysisCycleSummary,
  staleCycleReason,
} from '../../src/domain/analysis';
import { causesOf } from '../../src/domain/product-state';
import type { ScheduleWanted } from '../../src/domain/transitions';
import { wantedSchedule } from '../../src/domain/transitions';
import type { Product } from './product';
import { cycleReading, scheduling } from './proxies';

/**
 * A product's analysis schedule (`analysis:<product id>`) follows its stage: running while the
 * product is active (or degraded by an analysis breach: only a later cycle can clear that),
 * paused while its job or table is in trouble, while it is deprecated or being provisioned again,
 * deleted when the product ends. The workflow keeps what it last asked for, so it acts only on a
 * change; each act is idempotent, so a retry or a replay repeats nothing harmful.
 */

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

/**
 * An analysis cycle's summary (signal `analysisCycle`): untrusted, so it is parsed (never thrown
 * on) and only queued; the main loop confirms it against what the cycle stored before it counts.
 */
export function onAnalysisCycle(product: Product, raw: unknown): void {
  const summary = parseAnalysisCycleSummary(raw);
  if (!summary) return product.ignore('unknown', 'analysisCycle', 'not an analysis cycle summary');
  if (summary.productId !== product.productId)
    return product.ignore(
      'analysis',
      'analysisCycle',
      `a summary for ${summary.productId}, not this product`,
    );
  const state = product.state;
  const known = [...(state.analysisCycles ?? []), ...(state.pendingCycles ?? [])];
  if (known.some((c) => c.cycleKey === summary.cycleKey))
    return product.ignore('analysis', 'analysisCycle', `cycle ${summary.cycleKey} was already received`);
  const pending = [...(state.pendingCycles ?? []), summary];
  for (const dropped of pending.slice(0, -MAX_PENDING_CYCLES))
    product.ignore(
      'analysis',
      'analysisCycle',
      `cycle ${dropped.cycleKey} dropped: too many waiting to be confirmed`,
    );
  state.pendingCycles = pending.slice(-MAX_PENDING_CYCLES);
}

/**
 * Count each queued cycle as `meshloop.analysis_results` holds it (a summary no cycle stored is
 * ignored, so a forged signal cannot degrade or recover the product). A breach degrades an active
 * product with the rules and figures; a passing cycle recovers a product an analysis degraded.
 * Job and table trouble outrank an analysis: they stay.
 */
export async function confirmAnalysisCycles(product: Product): Promise<void> {
  const state = product.state;
  for (;;) {
    const summary = state.pendingCycles?.[0];
    if (!summary) return;
    const stored = await readStoredCycle(summary);
    state.pendingCycles = state.pendingCycles?.filter((c) => c.cycleKey !== summary.cycleKey);
    if (!stored.ok) {
      product.ignore('analysis', 'analysisCycle', stored.reason);
      continue;
    }
    const cycle = stored.summary;
    const snapshot = cycle.snapshotId ? ` at snapshot ${cycle.snapshotId}` : '';
    const event = {
      kind: 'analysisConfirmed',
      outcome: cycle.outcome,
      breach: breachReason(cycle),
      pass: `analysis ${cycle.cycleKey} passed every check${snapshot}`,
    } as const;
    // Histories recorded before cycles were ordered applied every confirmed cycle.
    if (!wf.patched('analysis-cycles-in-order')) {
      state.analysisCycles = keepCycle(state.analysisCycles, cycle);
      product.report(event);
      continue;
    }
    // Only a cycle newer than the last one applied (and than this life of the product) counts.
    const stale = staleCycleReason(state.analysisCycles, cycle, wf.workflowInfo().startTime.getTime());
    if (stale) {
      product.ignore('analysis', 'analysisCycle', stale);
      continue;
    }
    product.report({ ...event, at: cycle.at });
    state.analysisCycles = keepCycle(state.analysisCycles, cycle);
  }
}

/** A first cycle asked for that has not come (a failed run, a paused schedule) is asked for again after this. */
export const FIRST_CYCLE_ASK_AGAIN_MS = 10 * 60_000;

/**
 * The first analysis soon after the table's first commit, not an `every` later: once the schedule
 * runs and the table has a snapshot but no cycle was received yet, the schedule is triggered now
 * (seen on the watch timer, so within about a minute of the commit). Asked once per run, again
 * after FIRST_CYCLE_ASK_AGAIN_MS while no cycle comes; later cycles follow the schedule.
 */
export async function askForFirstCycle(product: Product): Promise<void> {
  const state = product.state;
  const snapshotId = state.materialization?.status?.snapshotId;
  const hadCycle = [...(state.analysisCycles ?? []), ...(state.pendingCycles ?? [])].length > 0;
  if (state.analysisSchedule?.state !== 'running' || hadCycle || snapshotId === undefined) return;
  const asked = product.firstCycleAskedAt;
  if (asked !== undefined && Date.now() - asked < FIRST_CYCLE_ASK_AGAIN_MS) return;
  // Products recorded before the first cycle came early replay without asking.
  if (!wf.patched('first-analysis-after-first-commit')) return;
  product.firstCycleAskedAt = Date.now();
  try {
    const triggered = await scheduling.triggerTemporalAnalysisSchedule({ productId: product.productId });
    wf.log.info('first analysis cycle asked for', {
      productId: product.productId,
      snapshotId,
      triggered,
    });
  } catch (error) {
    wf.log.warn('first analysis cycle not triggered; the schedule runs it later', {
      productId: product.productId,
      error: String(error),
    });
  }
}

/** Keep the product's analysis schedule in step with its stage. */
export async function keepScheduleInStep(product: Product): Promise<void> {
  // Products recorded before analysis schedules existed replay without them.
  if (!wf.patched('analysis-schedules')) return;
  const state = product.state;
  const wanted = wantedSchedule(state);
  const causes = causesOf(state).map((c) => c.by);
  const why =
    wanted === 'paused' && causes.length > 0
      ? `product is ${product.stage} (${causes.join(', ')})`
      : `product is ${product.stage}`;
  const next = await syncAnalysisSchedule({
    productId: product.productId,
    current: state.analysisSchedule,
    wanted,
    // Every spec here was parsed (start, carried or amended): `analysis.every` has its default.
    every: state.spec.analysis.every,
    why,
  });
  if (next) state.analysisSchedule = next;
  await askForFirstCycle(product);
}

import { z } from 'zod';
import type { ProposalStart } from './proposals';

/**
 * What one analysis cycle tells its product's workflow (by signal): compact, bounded, no data.
 * The workflow keeps the last few, moves to `degraded` on a breach and back when a cycle passes.
 */

export const ANALYSIS_SCHEDULE_PREFIX = 'analysis:';
/** The Temporal Schedule of one product's analysis cycles. */
export const analysisScheduleIdOf = (productId: string) => `${ANALYSIS_SCHEDULE_PREFIX}${productId}`;
/** Cycles the product workflow keeps in its state (and carries over continue-as-new). */
export const KEPT_CYCLES = 5;
/** Signalled summaries waiting to be confirmed against the stored results; older ones are dropped. */
export const MAX_PENDING_CYCLES = 20;

/** The workflow of one analysis cycle (workflows/analysis.ts): each schedule starts it. */
export const analysisWorkflowType = 'analysisWorkflow';
export type AnalysisInput = { productId: string };
/** The default interval between a product's analysis cycles (the spec's `analysis.every`). */
export const DEFAULT_ANALYSIS_EVERY = '1h';

/** What a product's workflow last made of its analysis schedule, and at which interval. */
export type AnalysisScheduleState = Readonly<{ state: 'running' | 'paused' | 'deleted'; every: string }>;

export const analysisCycleSummarySchema = z.strictObject({
  productId: z.string().min(1).max(300),
  cycleKey: z.string().min(1).max(300),
  /** The Iceberg snapshot the cycle read (exact decimal string). */
  snapshotId: z.string().max(40).nullable(),
  /** ISO time of the cycle. */
  at: z.string().max(40),
  outcome: z.enum(['pass', 'breach', 'noData']),
  rows: z.number().int().min(0),
  /** Rules and checks that failed, with their figures; at most 20. */
  breaches: z
    .array(
      z.strictObject({
        rule: z.string().min(1).max(200),
        failing: z.number().int().min(0),
        examples: z.array(z.string().max(200)).max(10),
        summary: z.string().max(500),
      }),
    )
    .max(20),
  /** Findings that are not breaches (drift, volume without enough history); at most 20. */
  findings: z.array(z.string().max(500)).max(20),
  /** Proposal ids the analyst made in this cycle. */
  proposals: z.array(z.string().max(100)).max(20),
});
export type AnalysisCycleSummary = z.infer<typeof analysisCycleSummarySchema>;

/** Parse a summary from a signal; undefined (never a throw) when it is not one. */
export function parseAnalysisCycleSummary(value: unknown): AnalysisCycleSummary | undefined {
  const parsed = analysisCycleSummarySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** What a cycle reports before the analyst has spoken. */
export type CycleOutcome = Omit<AnalysisCycleSummary, 'proposals'>;
/** The analyst's new ideas of one cycle, checked and ready to start. */
export type AnalysisProposals = {
  starts: ProposalStart[];
  knownDomains: string[];
  /** Dismissed ideas not proposed again (inputs unchanged), one line each. */
  dismissedUnchanged?: string[];
};

/** A product's analysis schedule as Temporal holds it. */
export type ScheduleState =
  | { exists: false }
  | { exists: true; paused: boolean; note: string | undefined; everyMs: number | undefined };

/** The time of the newest cycle the product applied (its kept cycles), as epoch ms; undefined if none. */
export function lastAppliedCycleMs(
  cycles: readonly Pick<AnalysisCycleSummary, 'at'>[] | undefined,
): number | undefined {
  const times = (cycles ?? []).map((c) => Date.parse(c.at)).filter((t) => !Number.isNaN(t));
  return times.length > 0 ? Math.max(...times) : undefined;
}

/**
 * Why a confirmed cycle does not count, or undefined when it does: only a cycle newer than the last
 * one applied (or, before any, newer than the product's current life: `sinceMs`) counts,
 * so an old stored breach or pass signalled again can neither degrade nor recover the product.
 */
export function staleCycleReason(
  cycles: readonly Pick<AnalysisCycleSummary, 'at' | 'cycleKey'>[] | undefined,
  cycle: Pick<AnalysisCycleSummary, 'at' | 'cycleKey'>,
  sinceMs: number,
): string | undefined {
  const at = Date.parse(cycle.at);
  if (Number.isNaN(at)) return `cycle ${cycle.cycleKey} has no readable time: ignored`;
  const last = lastAppliedCycleMs(cycles);
  if (last !== undefined && at <= last)
    return `cycle ${cycle.cycleKey} (${cycle.at}) is not newer than the last one applied (${new Date(last).toISOString()}): ignored`;
  // The first cycle of a life (none applied yet) must be newer than the life itself.
  if (last === undefined && at < sinceMs)
    return `cycle ${cycle.cycleKey} (${cycle.at}) is older than this product's current life (${new Date(sinceMs).toISOString()}): ignored`;
  return undefined;
}

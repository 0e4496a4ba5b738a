import type { AnalysisCycleDependencies } from '../src/analysis/cycle-service';
import { AnalysisCycleService } from '../src/analysis/cycle-service';
import { proposeFromCycle } from '../src/analysis/propose-from-cycle';
import type { AnalysisProposals, CycleOutcome } from '../src/domain/analysis';
import type { ProposalOutcome } from '../src/domain/proposals';
import type { MeshloopMetrics } from '../src/metrics/meshloop-metrics';
import { heartbeating } from './heartbeat';

/**
 * The analysis cycle's steps as the analysis workflow calls them: a thin adapter over
 * src/analysis/cycle-service.ts (the checks and their results) and propose-from-cycle.ts (the
 * analyst's proposals). Long steps heartbeat.
 */
export function createAnalysisCycleActivities(deps: AnalysisCycleDependencies, metrics?: MeshloopMetrics) {
  const cycles = new AnalysisCycleService({ keepAlive: heartbeating, ...deps });
  return {
    /**
     * Pin the current snapshot, run the rules, SLA and drift checks there, store the results.
     * Counted with its duration by outcome (`failed`: this attempt threw).
     */
    async runAnalysisCycle(input: { productId: string; cycleKey: string }): Promise<CycleOutcome> {
      const started = performance.now();
      const took = () => (performance.now() - started) / 1000;
      try {
        const outcome = await heartbeating('starting', (step) => cycles.runCycle(input, step));
        metrics?.analysisCycle(input.productId, outcome.outcome, took());
        return outcome;
      } catch (error) {
        metrics?.analysisCycle(input.productId, 'failed', took());
        throw error;
      }
    },

    /** The analyst's new ideas (not in the proposals ledger) for this cycle's snapshot. */
    proposeFromAnalysis(input: {
      productId: string;
      cycleKey: string;
      snapshotId: string;
    }): Promise<AnalysisProposals> {
      return proposeFromCycle(cycles, input);
    },

    /**
     * What `runAnalysisCycle` stored for this cycle (meshloop.analysis_results), or null: the product
     * workflow trusts a signalled summary only as far as this confirms it (a forged signal finds
     * nothing, or other figures).
     */
    readStoredAnalysisCycle(input: { productId: string; cycleKey: string }): Promise<CycleOutcome | null> {
      return cycles.storedCycle(input);
    },

    recordAnalysisProposalOutcomes(input: { cycleKey: string; outcomes: ProposalOutcome[] }): Promise<void> {
      return cycles.recordProposalOutcomes(input);
    },
  };
}

export type AnalysisCycleActivities = ReturnType<typeof createAnalysisCycleActivities>;

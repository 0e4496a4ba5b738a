import * as wf from '@temporalio/workflow';
import type { MeshloopActivities } from '../activities';
import type { AnalysisCycleSummary, AnalysisInput, AnalysisProposals } from '../src/domain/analysis';
import { analysisWorkflowType } from '../src/domain/analysis';
import type { ProposalOutcome } from '../src/domain/proposals';
import { workflowIdOf } from '../src/domain/spec';
import { startProposedProduct } from './product/start-proposal';

/**
 * One analysis cycle of one product, started by its schedule (`analysis:<product id>`) or by
 * `meshloop analyse`: pin the table's snapshot and run the checks there (an activity: DuckDB), tell
 * the product's workflow what was found (signal `analysisCycle`), then start a product workflow for
 * each new idea of the analyst, its parent named in the spec.
 */

export type { AnalysisInput };
export type AnalysisResult = {
  summary: AnalysisCycleSummary;
  started: string[];
  existing: string[];
  /** Dismissed ideas not proposed again (inputs unchanged), one line each. */
  dismissedUnchanged?: string[];
};

export { analysisWorkflowType };
/** Carries one cycle's summary to the product's workflow, which parses it (untrusted input). */
export const analysisCycleSignal = wf.defineSignal<[AnalysisCycleSummary]>('analysisCycle');

const { runAnalysisCycle } = wf.proxyActivities<MeshloopActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '5s' },
});
const { proposeFromAnalysis, recordAnalysisProposalOutcomes } = wf.proxyActivities<MeshloopActivities>({
  startToCloseTimeout: '10m',
  retry: { maximumAttempts: 4, initialInterval: '5s', backoffCoefficient: 2 },
});

export async function analysisWorkflow(input: AnalysisInput): Promise<AnalysisResult> {
  const info = wf.workflowInfo();
  // Keyed by this run: a retried activity finds its own cycle's results.
  const cycleKey = `${info.workflowId}-${info.runId.slice(0, 8)}`.replace(/[^A-Za-z0-9._:-]/g, '_');
  const cycle = await runAnalysisCycle({ productId: input.productId, cycleKey });

  let proposals: AnalysisProposals = { starts: [], knownDomains: [] };
  if (cycle.snapshotId !== null) {
    try {
      proposals = await proposeFromAnalysis({
        productId: input.productId,
        cycleKey,
        snapshotId: cycle.snapshotId,
      });
    } catch (error) {
      // The analyst failing (an LLM down) must not hide the cycle's checks from the product.
      wf.log.warn('analyst failed; the cycle is reported without proposals', {
        productId: input.productId,
        error: String(error),
      });
    }
  }
  const summary: AnalysisCycleSummary = {
    ...cycle,
    proposals: proposals.starts.map((s) => s.proposalId).slice(0, 20),
  };

  try {
    await wf.getExternalWorkflowHandle(workflowIdOf(input.productId)).signal(analysisCycleSignal, summary);
  } catch (error) {
    // A product whose workflow has ended (retired) has nobody to tell; the results are stored anyway.
    wf.log.warn('product workflow not signalled', { productId: input.productId, error: String(error) });
  }

  const outcomes: ProposalOutcome[] = [];
  for (const start of proposals.starts) outcomes.push(await startProposedProduct(start));
  if (outcomes.length > 0) await recordAnalysisProposalOutcomes({ cycleKey, outcomes });
  return {
    summary,
    started: outcomes.filter((o) => o.outcome === 'started').map((o) => o.productId),
    existing: outcomes.filter((o) => o.outcome === 'exists').map((o) => o.productId),
    ...(proposals.dismissedUnchanged ? { dismissedUnchanged: proposals.dismissedUnchanged } : {}),
  };
}

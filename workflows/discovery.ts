import * as wf from '@temporalio/workflow';
import type { MeshloopActivities } from '../activities';
import type { DiscoveryInput, DiscoveryResult, ProposalBatch } from '../src/domain/discovery';
import { discoveryWorkflowType } from '../src/domain/discovery';
import type { ProposalOutcome, ProposalStart } from '../src/domain/proposals';
import { startProposedProduct } from './product/start-proposal';

/**
 * The discovery agent, one run: profile the topics (the profiles stay in a file; history carries
 * its path), propose products with the LLM or the planner, and start a product workflow for each
 * new idea, which then waits for its approvers. A Temporal Schedule runs it every interval;
 * `meshloop discover` runs it once now.
 */

export type { DiscoveryInput, DiscoveryResult };
export { discoveryWorkflowType };

const { profileKafkaTopics } = wf.proxyActivities<MeshloopActivities>({
  startToCloseTimeout: '20m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});
const { proposeDataProducts, recordProposalOutcomes, readProposalStarts } =
  wf.proxyActivities<MeshloopActivities>({
    startToCloseTimeout: '10m',
    retry: { maximumAttempts: 4, initialInterval: '5s', backoffCoefficient: 2 },
  });

export async function discoveryWorkflow(input: DiscoveryInput = {}): Promise<DiscoveryResult> {
  const info = wf.workflowInfo();
  const runKey = `${info.workflowId}-${info.runId.slice(0, 8)}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const profiles = await profileKafkaTopics({
    runKey,
    topics: input.topics,
    topicPrefix: input.topicPrefix,
    maxMessages: input.maxMessages ?? 5000,
    maxBytes: input.maxBytes ?? 16 * 1024 * 1024,
    sampleDeadlineMs: input.sampleDeadlineMs ?? 60_000,
  });

  let batch: ProposalBatch;
  let llmFailure: string | undefined;
  try {
    batch = await proposeDataProducts({ runKey, profilesFile: profiles.file, agent: input.agent ?? 'auto' });
  } catch (error) {
    // The LLM stayed unavailable through every retry: the planner still proposes, and we say so.
    if ((input.agent ?? 'auto') !== 'auto' || !(error instanceof wf.ActivityFailure)) throw error;
    llmFailure = error.cause?.message ?? error.message;
    wf.log.warn('LLM proposals failed; the planner proposes instead', { llmFailure });
    batch = await proposeDataProducts({ runKey, profilesFile: profiles.file, agent: 'planner' });
  }

  const outcomes: ProposalOutcome[] = [];
  const startAll = async (starts: readonly ProposalStart[]) => {
    for (const start of starts) outcomes.push(await startProposedProduct(start));
  };
  if (batch.startsFile) {
    // Many proposals come by reference (a file), read page by page so each activity result stays small.
    for (let offset = 0; offset < (batch.startsCount ?? 0);) {
      const page = await readProposalStarts({ startsFile: batch.startsFile, offset });
      if (page.length === 0) break;
      await startAll(page);
      offset += page.length;
    }
  } else {
    await startAll(batch.starts);
  }
  if (outcomes.length > 0) await recordProposalOutcomes({ runKey, outcomes });

  return {
    runKey,
    profilesFile: profiles.file,
    reportFile: batch.reportFile,
    agent: batch.agent,
    ...(llmFailure ? { llmFailure } : {}),
    topics: profiles.topics,
    started: outcomes.filter((o) => o.outcome === 'started').map((o) => o.productId),
    existing: outcomes.filter((o) => o.outcome === 'exists').map((o) => o.productId),
    alreadyProposed: batch.alreadyProposed,
    dismissedUnchanged: batch.dismissedUnchanged,
    dropped: batch.dropped,
    skipped: batch.skipped,
  };
}

import type { ProfileRequest, ProfilesRef, ProposalBatch } from '../src/domain/discovery';
import type { ProposalOutcome, ProposalStart } from '../src/domain/proposals';
import { profileTopics } from '../src/discovery/profiling';
import { proposeProducts, readStartsPage, recordProposals } from '../src/discovery/proposing';
import type { DiscoveryDependencies } from '../src/discovery/run';
import { heartbeat } from './heartbeat';

export type { DiscoveryDependencies } from '../src/discovery/run';

/**
 * Discovery's side effects, a thin adapter over src/discovery: sample and profile topics, propose
 * with the LLM or the planner, and remember what was proposed. Each is keyed by the run, so a retry
 * finds its own earlier work.
 */
export function createDiscoveryActivities(deps: DiscoveryDependencies) {
  const service: DiscoveryDependencies = { heartbeat, ...deps };
  return {
    /** Sample every data topic within the limits, profile each, store the profiles as a file. */
    profileKafkaTopics(request: ProfileRequest): Promise<ProfilesRef> {
      return profileTopics(service, request);
    },

    /**
     * Propose products from stored profiles: the LLM when configured (agent `auto`), the planner
     * otherwise. Ideas already in the proposals ledger are left out.
     */
    proposeDataProducts(input: {
      runKey: string;
      profilesFile: string;
      agent: 'auto' | 'planner';
    }): Promise<ProposalBatch> {
      return proposeProducts(service, input);
    },

    /** One page of starts passed by reference (at most MAX_INLINE_STARTS_BYTES of JSON). */
    readProposalStarts(input: { startsFile: string; offset: number }): Promise<ProposalStart[]> {
      return readStartsPage(input.startsFile, input.offset);
    },

    /** Remember proposals in the ledger (compacted, keyed by proposal id). Safe to repeat. */
    recordProposalOutcomes(input: { runKey: string; outcomes: ProposalOutcome[] }): Promise<void> {
      return recordProposals(service, input);
    },
  };
}

export type DiscoveryActivities = ReturnType<typeof createDiscoveryActivities>;

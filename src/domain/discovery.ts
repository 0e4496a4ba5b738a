import type { ProposalStart } from './proposals';

/**
 * One discovery run as the workflow, its activities, its schedule and the CLI see it: what it is
 * asked, what travels through its history (paths and a few figures, never the profiles), what it
 * reports.
 */

export const discoveryWorkflowType = 'discoveryWorkflow';

export type DiscoveryInput = {
  topics?: string[];
  topicPrefix?: string;
  maxMessages?: number;
  maxBytes?: number;
  sampleDeadlineMs?: number;
  /** `auto`: the LLM when the worker has a key, else the planner. */
  agent?: 'auto' | 'planner';
};

/** Why sampling a topic stopped (src/adapters/kafka/sampler.ts reports it). */
export type SampleStopReason = 'complete' | 'messageLimit' | 'byteLimit' | 'deadline' | 'empty';

export type ProfileRequest = {
  runKey: string;
  /** Only these topics; all data topics otherwise. */
  topics?: string[];
  /** Only topics starting with this. */
  topicPrefix?: string;
  maxMessages: number;
  maxBytes: number;
  sampleDeadlineMs: number;
};

export type TopicSummary = {
  topic: string;
  records: number;
  parsed: number;
  unparseable: number;
  /** Values of another type than their field's (bad records a product rejects). */
  mistyped?: number;
  /** Records read twice (the same key and value), left out of the profile. */
  duplicates?: number;
  stoppedBy: SampleStopReason;
  piiFields: number;
};

/** What travels through workflow history: where the profiles are, and a few figures per topic. */
export type ProfilesRef = { runKey: string; file: string; topics: TopicSummary[] };

export type ProposalBatch = {
  agent: 'llm' | 'planner';
  reportFile: string;
  /** New ideas to start a product workflow for (empty when they are too large for history: see `startsFile`). */
  starts: ProposalStart[];
  /** Past MAX_INLINE_STARTS_BYTES the starts are passed by reference: read them in pages with `readProposalStarts`. */
  startsFile?: string;
  startsCount?: number;
  knownDomains: string[];
  alreadyProposed: number;
  /** Dismissed ideas not proposed again (inputs unchanged): when, by whom and why each was dismissed. */
  dismissedUnchanged?: string[];
  dropped: number;
  skipped: number;
};

export type DiscoveryResult = {
  runKey: string;
  profilesFile: string;
  reportFile: string;
  agent: 'llm' | 'planner';
  /** Set when the LLM failed for good and the planner proposed instead. */
  llmFailure?: string;
  topics: TopicSummary[];
  started: string[];
  /** Product ids that already had a workflow (the same name proposed before). */
  existing: string[];
  alreadyProposed: number;
  /** Dismissed ideas not proposed again (inputs unchanged), one line each. */
  dismissedUnchanged?: string[];
  dropped: number;
  skipped: number;
};

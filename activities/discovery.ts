import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Kafka, Producer } from 'kafkajs';
import { ensureCatalogTopic, readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import {
  PROPOSALS_TOPIC,
  readProposalsLedger,
  recordProposalsInLedger,
} from '../src/adapters/kafka/proposals-ledger';
import { listDataTopics, sampleTopics } from '../src/adapters/kafka/sampler';
import type { LlmClient } from '../src/adapters/llm/client';
import { proposeWithLlm } from '../src/agents/llm-agent';
import { planProposals } from '../src/agents/planner';
import type { DiscoveryProposal, DroppedProposal } from '../src/agents/proposals';
import type { DomainConfig } from '../src/domain/mesh-config';
import type { ProductSpec } from '../src/domain/spec';
import { productIdOf, workflowIdOf } from '../src/domain/spec';
import type { Logger } from '../src/log';
import type { TopicProfile } from '../src/profile';
import { TopicProfiler } from '../src/profile';
import { ThreadedProfiler } from '../src/profile/threaded';
import type { SampleStopReason } from '../src/adapters/kafka/sampler';
import { loadMeshConfig } from '../src/specs/load';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import { checkSpecSql } from '../src/creation/guard';
import { translatingFailures } from './failures';
import { ownValue } from '../src/domain/records';

export { PROPOSALS_TOPIC };

export type DiscoveryDependencies = Readonly<{
  kafka: Kafka;
  /** Connected and disconnected by the worker that owns it. */
  producer: Producer;
  log: Logger;
  /** Profiles and reports are written under `<dataDir>/discovery/<run>/`; workflows carry the paths. */
  dataDir: string;
  meshFile: string;
  /** Absent without an API key: the planner proposes. */
  llm?: LlmClient;
  catalogTopic?: string;
  proposalsTopic?: string;
  /** The SQL guard for the LLM's drafts (Flink SQL Gateway); without it only the statement kind is checked. */
  sqlGuard?: Readonly<{ gateway: SqlGatewayClient; kafkaBootstrapServers: string }>;
}>;

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
  stoppedBy: SampleStopReason;
  piiFields: number;
};

/** What travels through workflow history: where the profiles are, and a few figures per topic. */
export type ProfilesRef = { runKey: string; file: string; topics: TopicSummary[] };

export type ProposalStart = {
  proposalId: string;
  productId: string;
  workflowId: string;
  spec: ProductSpec;
  domain: DomainConfig;
};

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
  dropped: number;
  skipped: number;
};

/** Specs travel through workflow history: beyond this many bytes of JSON they go by reference. */
export const MAX_INLINE_STARTS_BYTES = 256 * 1024;

/** Cut starts into pages of at most `maxBytes` of JSON each (a page holds at least one start). */
export function pageOfStarts(
  starts: readonly ProposalStart[],
  offset: number,
  maxBytes: number,
): ProposalStart[] {
  const page: ProposalStart[] = [];
  let bytes = 0;
  for (let i = offset; i < starts.length; i++) {
    const start = starts[i]!;
    const size = JSON.stringify(start).length;
    if (page.length > 0 && bytes + size > maxBytes) break;
    page.push(start);
    bytes += size;
  }
  return page;
}

export type ProposalOutcome = {
  proposalId: string;
  productId: string;
  workflowId: string;
  /** `started`: a product workflow now waits for approval; `exists`: that product id was taken. */
  outcome: 'started' | 'exists';
};

async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(value, null, 1));
  await rename(temporary, file);
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const summarise = (profile: TopicProfile, stoppedBy: SampleStopReason): TopicSummary => ({
  topic: profile.topic,
  records: profile.records,
  parsed: profile.parsed,
  unparseable: profile.unparseable.total,
  stoppedBy,
  piiFields: new Set(profile.pii.map((s) => s.field)).size,
});

/**
 * Discovery's side effects: sample and profile topics, propose with the LLM or the planner, and
 * remember what was proposed. Each is keyed by the run, so a retry finds its own earlier work.
 */
export function createDiscoveryActivities(deps: DiscoveryDependencies) {
  const { kafka, producer, log, sqlGuard } = deps;
  const proposalsTopic = deps.proposalsTopic ?? PROPOSALS_TOPIC;
  const runDir = (runKey: string) =>
    path.join(deps.dataDir, 'discovery', runKey.replace(/[^A-Za-z0-9._-]/g, '_'));

  return translatingFailures({
    /** Sample every data topic within the limits, profile each, store the profiles as a file. */
    async profileKafkaTopics(request: ProfileRequest): Promise<ProfilesRef> {
      const file = path.join(runDir(request.runKey), 'profiles.json');
      const earlier = await readJson<{ profiles: TopicProfile[]; summaries: TopicSummary[] }>(file);
      if (earlier) {
        log.info('profiles of this run already stored', { runKey: request.runKey, file });
        return { runKey: request.runKey, file, topics: earlier.summaries };
      }
      const topics = (await listDataTopics(kafka)).filter(
        (topic) =>
          (!request.topics || request.topics.includes(topic)) &&
          (!request.topicPrefix || topic.startsWith(request.topicPrefix)),
      );
      // Parsing and statistics run on a profiling thread beside the consumer (see bench/profile).
      const profiler = new ThreadedProfiler();
      const began = Date.now();
      let samples;
      try {
        samples = await sampleTopics(
          kafka,
          topics,
          {
            maxMessages: request.maxMessages,
            maxBytes: request.maxBytes,
            deadlineMs: request.sampleDeadlineMs,
          },
          {
            onMessages: (topic, messages) => profiler.add(topic, messages),
            onProgress: (progress) => {
              const messages = progress.reduce((sum, p) => sum + p.messages, 0);
              Context.current().heartbeat({ phase: 'sampling', topics: progress.length, messages });
            },
          },
        );
      } catch (error) {
        await profiler.close();
        throw error;
      }
      Context.current().heartbeat({ phase: 'profiling' });
      const byTopic = new Map((await profiler.finish()).map((p) => [p.topic, p]));
      // A topic without messages still gets its (empty) profile.
      const profiles = topics.map((topic) => byTopic.get(topic) ?? new TopicProfiler(topic).finish());
      const stopped = new Map(samples.map((s) => [s.topic, s.stoppedBy]));
      const summaries = profiles.map((p) => summarise(p, stopped.get(p.topic) ?? 'complete'));
      await writeJsonAtomically(file, { runKey: request.runKey, profiles, summaries });
      log.info('topics profiled', {
        runKey: request.runKey,
        topics: profiles.length,
        records: summaries.reduce((sum, s) => sum + s.records, 0),
        unparseable: summaries.reduce((sum, s) => sum + s.unparseable, 0),
        ms: Date.now() - began,
        file,
      });
      return { runKey: request.runKey, file, topics: summaries };
    },

    /**
     * Propose products from stored profiles: the LLM when configured (agent `auto`), the planner
     * otherwise. Ideas already in the proposals ledger are left out.
     */
    async proposeDataProducts(input: {
      runKey: string;
      profilesFile: string;
      agent: 'auto' | 'planner';
    }): Promise<ProposalBatch> {
      const stored = await readJson<{ profiles: TopicProfile[] }>(input.profilesFile);
      if (!stored) throw new Error(`profiles file ${input.profilesFile} is missing`);
      const mesh = await loadMeshConfig(deps.meshFile);
      await ensureCatalogTopic(kafka, proposalsTopic);
      const [{ view: catalogView }, ledger] = await Promise.all([
        readCatalog(kafka, { topic: deps.catalogTopic ?? CATALOG_TOPIC, log }),
        readProposalsLedger(kafka, { topic: proposalsTopic, log }),
      ]);
      const catalog = catalogView.all();
      let proposals: DiscoveryProposal[];
      let dropped: DroppedProposal[];
      let skipped: string[] = [];
      let agent: ProposalBatch['agent'];
      if (input.agent === 'auto' && deps.llm) {
        agent = 'llm';
        ({ proposals, dropped } = await proposeWithLlm({
          llm: deps.llm,
          profiles: stored.profiles,
          mesh,
          catalog,
          log,
          ...(sqlGuard
            ? {
                checkSql: (spec: ProductSpec) =>
                  checkSpecSql({ ...sqlGuard, log }, spec, (productId) => catalogView.specOf(productId)),
              }
            : {}),
        }));
      } else {
        agent = 'planner';
        ({ proposals, dropped, skipped } = planProposals(stored.profiles, mesh, {
          products: catalogView.productTopics(),
        }));
      }
      const fresh = proposals.filter((p) => !ledger.has(p.proposalId));
      const reportFile = path.join(runDir(input.runKey), `proposals-${agent}.json`);
      await writeJsonAtomically(reportFile, {
        runKey: input.runKey,
        agent,
        proposals,
        fresh: fresh.map((p) => p.proposalId),
        alreadyProposed: proposals.filter((p) => ledger.has(p.proposalId)).map((p) => p.proposalId),
        dropped,
        skipped,
      });
      for (const d of dropped)
        log.warn('proposal dropped', { runKey: input.runKey, agent, name: d.name, reasons: d.reasons });
      log.info('proposals drafted', {
        runKey: input.runKey,
        agent,
        proposals: proposals.length,
        fresh: fresh.length,
        dropped: dropped.length,
        skipped: skipped.length,
      });
      const starts: ProposalStart[] = fresh.flatMap((p) => {
        const domain = ownValue(mesh.domains, p.spec.domain);
        const productId = productIdOf(p.spec);
        return domain
          ? [
              {
                proposalId: p.proposalId,
                productId,
                workflowId: workflowIdOf(productId),
                spec: p.spec,
                domain,
              },
            ]
          : [];
      });
      const byReference = JSON.stringify(starts).length > MAX_INLINE_STARTS_BYTES;
      const startsFile = path.join(runDir(input.runKey), `starts-${agent}.json`);
      if (byReference) await writeJsonAtomically(startsFile, starts);
      return {
        agent,
        reportFile,
        ...(byReference ? { starts: [], startsFile, startsCount: starts.length } : { starts }),
        knownDomains: Object.keys(mesh.domains),
        alreadyProposed: proposals.length - fresh.length,
        dropped: dropped.length,
        skipped: skipped.length,
      };
    },

    /** One page of starts passed by reference (at most MAX_INLINE_STARTS_BYTES of JSON). */
    async readProposalStarts(input: { startsFile: string; offset: number }): Promise<ProposalStart[]> {
      const starts = await readJson<ProposalStart[]>(input.startsFile);
      if (!starts) throw new Error(`starts file ${input.startsFile} is missing`);
      return pageOfStarts(starts, input.offset, MAX_INLINE_STARTS_BYTES);
    },

    /** Remember proposals in the ledger (compacted, keyed by proposal id). Safe to repeat. */
    async recordProposalOutcomes(input: { runKey: string; outcomes: ProposalOutcome[] }): Promise<void> {
      await recordProposalsInLedger(kafka, producer, {
        topic: proposalsTopic,
        runKey: input.runKey,
        outcomes: input.outcomes,
      });
      log.info('proposals recorded', { runKey: input.runKey, count: input.outcomes.length });
    },
  });
}

export type DiscoveryActivities = ReturnType<typeof createDiscoveryActivities>;

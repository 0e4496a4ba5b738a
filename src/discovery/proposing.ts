import path from 'node:path';
import { ensureCatalogTopic, readCatalog } from '../adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../adapters/kafka/client';
import {
  PROPOSALS_TOPIC,
  readProposalsLedger,
  recordProposalsInLedger,
} from '../adapters/kafka/proposals-ledger';
import { proposeWithLlm } from '../agents/llm-agent';
import type { FoundJoin } from '../agents/planner';
import { planProposals } from '../agents/planner';
import type { DiscoveryProposal, DroppedProposal } from '../agents/proposals';
import { checkSpecSql } from '../creation/guard';
import { upstreamFromCatalog } from '../creation/inputs';
import { sortOutProposals } from '../creation/inputs-fingerprint';
import type { CatalogView } from '../domain/catalog-view';
import type { ProposalBatch } from '../domain/discovery';
import type { MeshConfig } from '../domain/mesh-config';
import type { ProposalOutcome, ProposalStart } from '../domain/proposals';
import { MAX_INLINE_STARTS_BYTES, pageOfStarts, withReproposal } from '../domain/proposals';
import { ownValue } from '../domain/records';
import type { ProductSpec } from '../domain/spec';
import { productIdOf, workflowIdOf } from '../domain/spec';
import type { TopicProfile } from '../profile';
import { loadMeshConfig } from '../specs/load';
import type { DiscoveryDependencies } from './run';
import { readJson, runDirOf, writeJsonAtomically } from './run';

/**
 * Discovery's proposals: drafted from stored profiles by the LLM when configured (agent `auto`),
 * by the planner otherwise; ideas already in the proposals ledger are left out, and each proposal
 * made is remembered there.
 */

export type Drafted = {
  agent: ProposalBatch['agent'];
  proposals: DiscoveryProposal[];
  dropped: DroppedProposal[];
  skipped: string[];
  /** Join keys found from the values, with their containment and coverage (the planner's). */
  joins?: FoundJoin[];
};

/** The LLM's proposals (its SQL through the guard) when asked and configured, else the planner's. */
async function draftProposals(
  deps: DiscoveryDependencies,
  input: { profiles: TopicProfile[]; agent: 'auto' | 'planner'; mesh: MeshConfig },
  catalogView: CatalogView,
): Promise<Drafted> {
  const { log, sqlGuard } = deps;
  const { mesh } = input;
  const catalog = catalogView.all();
  if (input.agent === 'auto' && deps.llm) {
    const { proposals, dropped } = await proposeWithLlm({
      llm: deps.llm,
      profiles: input.profiles,
      mesh,
      catalog,
      log,
      ...(sqlGuard
        ? {
            checkSql: (spec: ProductSpec) =>
              checkSpecSql({ ...sqlGuard, log }, spec, (productId) =>
                upstreamFromCatalog(catalogView.get(productId)),
              ),
          }
        : {}),
    });
    return { agent: 'llm', proposals, dropped, skipped: [] };
  }
  const { proposals, dropped, skipped, joins } = planProposals(input.profiles, mesh, {
    products: catalogView.productTopics(),
  });
  return { agent: 'planner', proposals, dropped, skipped, joins };
}

/**
 * Product jobs read JSON and Avro records (Avro through Flink's `avro-confluent` format): a product
 * over a topic in the Schema Registry's Protobuf or JSON Schema wire format would run and fill
 * nothing (Flink 1.20 has no Confluent Protobuf format on Maven Central), so it is not proposed; the
 * discovery report says why. Its topic is profiled all the same.
 */
export function withoutRegistryInputs(drafted: Drafted, profiles: readonly TopicProfile[]): Drafted {
  const formatOf = new Map(profiles.flatMap((p) => (p.format ? [[p.topic, p.format.kind] as const] : [])));
  const proposals: DiscoveryProposal[] = [];
  const dropped = [...drafted.dropped];
  for (const proposal of drafted.proposals) {
    const unreadable = proposal.spec.inputs.flatMap((input) => {
      const kind = 'topic' in input ? formatOf.get(input.topic) : undefined;
      return kind && kind !== 'avro' && 'topic' in input ? [`${input.topic} (${kind})`] : [];
    });
    if (unreadable.length === 0) proposals.push(proposal);
    else
      dropped.push({
        name: proposal.spec.name,
        origin: proposal.origin,
        reasons: [
          `reads records in the Schema Registry's wire format (${unreadable.join(', ')}); ` +
            'product jobs read JSON and Avro records only (Flink 1.20 has no Confluent Protobuf or ' +
            'JSON Schema format on Maven Central), so it would run and fill nothing',
        ],
      });
  }
  return { ...drafted, proposals, dropped };
}

/** Propose products from stored profiles; ideas already in the proposals ledger are left out. */
export async function proposeProducts(
  deps: DiscoveryDependencies,
  input: { runKey: string; profilesFile: string; agent: 'auto' | 'planner' },
): Promise<ProposalBatch> {
  const { kafka, log } = deps;
  const proposalsTopic = deps.proposalsTopic ?? PROPOSALS_TOPIC;
  const runDir = runDirOf(deps.dataDir, input.runKey);
  const stored = await readJson<{ profiles: TopicProfile[] }>(input.profilesFile);
  if (!stored) throw new Error(`profiles file ${input.profilesFile} is missing`);
  const mesh = await loadMeshConfig(deps.meshFile);
  await ensureCatalogTopic(kafka, proposalsTopic);
  const [{ view: catalogView }, ledger] = await Promise.all([
    readCatalog(kafka, { topic: deps.catalogTopic ?? CATALOG_TOPIC, log }),
    readProposalsLedger(kafka, { topic: proposalsTopic, log }),
  ]);
  const { agent, proposals, dropped, skipped, joins } = withoutRegistryInputs(
    await draftProposals(deps, { profiles: stored.profiles, agent: input.agent, mesh }, catalogView),
    stored.profiles,
  );
  // A dismissed idea comes back only when its inputs changed since (whatever the ledger says).
  const { fresh, reproposals, dismissedUnchanged } = sortOutProposals(proposals, ledger, catalogView);
  const reportFile = path.join(runDir, `proposals-${agent}.json`);
  await writeJsonAtomically(reportFile, {
    runKey: input.runKey,
    agent,
    proposals,
    fresh: fresh.map((p) => p.proposalId),
    alreadyProposed: proposals
      .filter((p) => ledger.has(p.proposalId) && !fresh.includes(p))
      .map((p) => p.proposalId),
    dismissedUnchanged,
    dropped,
    skipped,
    ...(joins ? { joins } : {}),
  });
  for (const line of dismissedUnchanged)
    log.info('dismissed idea not proposed again', { runKey: input.runKey, agent, line });
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
    const reproposal = reproposals.get(p.proposalId);
    return domain
      ? [
          {
            proposalId: p.proposalId,
            productId,
            workflowId: workflowIdOf(productId),
            spec: reproposal ? withReproposal(p.spec, reproposal) : p.spec,
            domain,
            ...(reproposal ? { reproposal } : {}),
          },
        ]
      : [];
  });
  const byReference = JSON.stringify(starts).length > MAX_INLINE_STARTS_BYTES;
  const startsFile = path.join(runDir, `starts-${agent}.json`);
  if (byReference) await writeJsonAtomically(startsFile, starts);
  return {
    agent,
    reportFile,
    ...(byReference ? { starts: [], startsFile, startsCount: starts.length } : { starts }),
    knownDomains: Object.keys(mesh.domains),
    alreadyProposed: proposals.length - fresh.length - dismissedUnchanged.length,
    ...(dismissedUnchanged.length > 0 ? { dismissedUnchanged } : {}),
    dropped: dropped.length,
    skipped: skipped.length,
  };
}

/** One page of starts passed by reference (at most MAX_INLINE_STARTS_BYTES of JSON). */
export async function readStartsPage(startsFile: string, offset: number): Promise<ProposalStart[]> {
  const starts = await readJson<ProposalStart[]>(startsFile);
  if (!starts) throw new Error(`starts file ${startsFile} is missing`);
  return pageOfStarts(starts, offset, MAX_INLINE_STARTS_BYTES);
}

/** Remember proposals in the ledger (compacted, keyed by proposal id). Safe to repeat. */
export async function recordProposals(
  deps: DiscoveryDependencies,
  input: { runKey: string; outcomes: ProposalOutcome[] },
): Promise<void> {
  await recordProposalsInLedger(deps.kafka, deps.producer, {
    topic: deps.proposalsTopic ?? PROPOSALS_TOPIC,
    runKey: input.runKey,
    outcomes: input.outcomes,
  });
  deps.log.info('proposals recorded', { runKey: input.runKey, count: input.outcomes.length });
}

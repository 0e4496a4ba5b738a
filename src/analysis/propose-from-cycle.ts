import type { LakeTable } from '../adapters/duckdb/lake';
import type { CatalogView } from '../domain/catalog-view';
import { readCatalog } from '../adapters/kafka/catalog';
import { readProposalsLedgerEntries } from '../adapters/kafka/proposals-ledger';
import { checkSpecSql } from '../creation/guard';
import { upstreamFromCatalog } from '../creation/inputs';
import { ledgerBesidesDismissed, sortOutProposals } from '../creation/inputs-fingerprint';
import type { AnalysisProposals } from '../domain/analysis';
import type { IcebergTableRef } from '../domain/materialization';
import type { MeshConfig } from '../domain/mesh-config';
import type { ProposalStart, Reproposal } from '../domain/proposals';
import { withReproposal } from '../domain/proposals';
import { ownValue } from '../domain/records';
import type { ProductSpec } from '../domain/spec';
import { productIdOf, workflowIdOf } from '../domain/spec';
import { productTableOf } from '../query/product-query';
import { loadMeshConfig } from '../specs/load';
import type { AnalystResult, CycleFigures, Neighbour } from './analyst';
import { analyseProduct, FAILING_CYCLES } from './analyst';
import type { AnalysisCycleService, NeighbourLakeTable } from './cycle-service';
import { profileAt } from './cycle';
import { measureNeighbours } from './neighbours';

/**
 * The analyst's side of a cycle: its figures (the product's profile at the cycle's snapshot, the
 * rules' history, the overlap with neighbouring products), its ideas (the LLM analyst when
 * configured, the rules otherwise), and of those the new ones that pass the SQL guard, ready to
 * start as products.
 */

type CycleInput = { productId: string; cycleKey: string; snapshotId: string };

/** The analyst's new ideas (not in the proposals ledger) for this cycle's snapshot. */
export async function proposeFromCycle(
  cycles: AnalysisCycleService,
  input: CycleInput,
): Promise<AnalysisProposals> {
  const { kafka, log } = cycles.deps;
  const { productId, cycleKey, snapshotId } = input;
  const mesh = await loadMeshConfig(cycles.deps.meshFile);
  const knownDomains = Object.keys(mesh.domains);
  const [{ view: catalog }, entries] = await Promise.all([
    readCatalog(kafka, { topic: cycles.catalogTopic, log }),
    readProposalsLedgerEntries(kafka, { topic: cycles.deps.proposalsTopic, log }),
  ]);
  // Ideas for a dismissed product stay open to the analyst: they come back if their inputs changed.
  const ledger = ledgerBesidesDismissed(entries, catalog);
  const parent = catalog.specOf(productId);
  const ref = productTableOf(productId, cycles.deps.catalogName);
  const loaded = parent ? await cycles.loadTable(ref) : undefined;
  if (!parent || !loaded?.snapshots.some((s) => s.snapshotId === snapshotId)) {
    log.warn('nothing to analyse', { productId, cycleKey, snapshotId, inCatalog: parent !== undefined });
    return { starts: [], knownDomains };
  }

  const neighbourTables = await cycles.neighbourTablesOf(parent, catalog);
  const { figures, neighbours } = await measureForAnalyst(cycles, input, {
    parent,
    ref,
    lakeTables: [
      { ref, location: loaded.metadata.location },
      ...neighbourTables.map((n) => ({ ref: n.table, location: n.location })),
    ],
    neighbourTables,
  });

  const checkSql = guardOf(cycles, catalog);
  const analyst = cycles.deps.llmAnalyst ? 'llm' : 'rules';
  // The analyst serves the domain: its goals pick measures and dimensions, lineage rules out joins
  // of products built from the same topic.
  const goals = ownValue(mesh.domains, parent.domain)?.businessGoals ?? [];
  const specOf = (id: string) => catalog.specOf(id);
  const proposed = cycles.deps.llmAnalyst
    ? await cycles.deps.llmAnalyst({
        parent,
        figures,
        neighbours,
        checkSql,
        log,
        alreadyProposed: ledger,
        goals,
        specOf,
      })
    : analyseProduct({ spec: parent, figures, neighbours, alreadyProposed: ledger, goals, specOf });
  for (const d of proposed.dropped)
    log.warn('analyst idea dropped', { productId, cycleKey, idea: d.idea, reasons: d.reasons });

  const { fresh, reproposals, dismissedUnchanged } = sortOutProposals(proposed.proposals, ledger, catalog);
  for (const line of dismissedUnchanged)
    log.info('dismissed idea not proposed again', { productId, cycleKey, line });
  const starts = await startsOf(cycles, input, { fresh, reproposals, checkSql, mesh });
  log.info('analysis proposals', {
    productId,
    cycleKey,
    analyst,
    proposals: proposed.proposals.length,
    fresh: starts.length,
    dismissedUnchanged: dismissedUnchanged.length,
    dropped: proposed.dropped.length,
    neighbours: neighbours.length,
  });
  return { starts, knownDomains, ...(dismissedUnchanged.length > 0 ? { dismissedUnchanged } : {}) };
}

/** The figures the analyst reasons on, measured in one read-only DuckDB over the tables it may read. */
async function measureForAnalyst(
  cycles: AnalysisCycleService,
  { productId, snapshotId }: CycleInput,
  tables: {
    parent: ProductSpec;
    ref: IcebergTableRef;
    lakeTables: LakeTable[];
    neighbourTables: NeighbourLakeTable[];
  },
): Promise<{ figures: CycleFigures; neighbours: Neighbour[] }> {
  const { parent, ref, lakeTables, neighbourTables } = tables;
  const results = await cycles.openResults();
  try {
    const lake = await cycles.openLake(lakeTables);
    try {
      return await cycles.keepAlive('starting', async (step) => {
        const { profile, query } = await profileAt(lake, ref, parent, snapshotId, step);
        const ruleHistory = await results.ruleHistory(productId, Math.max(FAILING_CYCLES, 5));
        const measured = await measureNeighbours({
          lake,
          parent,
          table: ref,
          snapshotId,
          neighbours: neighbourTables,
          step,
        });
        return {
          figures: {
            snapshotId,
            rows: profile.rows,
            fields: profile.fields.map((f) => ({ name: f.name, distinct: f.distinct, nulls: f.nulls })),
            ruleHistory,
            query: query.replace(/\bFROM t\b/, `FROM ${productId}`),
          },
          neighbours: measured,
        };
      });
    } finally {
      lake.close();
    }
  } finally {
    results.close();
  }
}

/** The guard's verdicts, kept for this call: a spec the LLM analyst had checked is not checked twice. */
function guardOf(
  cycles: AnalysisCycleService,
  catalog: CatalogView,
): (spec: ProductSpec) => Promise<string[]> {
  const verdicts = new Map<string, Promise<string[]>>();
  return (spec: ProductSpec): Promise<string[]> => {
    const key = JSON.stringify([spec.sql, spec.inputs, spec.schema, spec.outputTopic]);
    const known = verdicts.get(key);
    if (known) return known;
    const verdict = checkSpecSql({ ...cycles.deps.sqlGuard, log: cycles.deps.log }, spec, (id) =>
      upstreamFromCatalog(catalog.get(id)),
    ).then((result) => (result.ok ? [] : [...result.problems]));
    verdicts.set(key, verdict);
    return verdict;
  };
}

/** The fresh ideas that pass the guard, for a domain mesh.yaml knows; at most 20. */
async function startsOf(
  cycles: AnalysisCycleService,
  { productId, cycleKey }: CycleInput,
  of: {
    fresh: AnalystResult['proposals'];
    reproposals: ReadonlyMap<string, Reproposal>;
    checkSql: (spec: ProductSpec) => Promise<string[]>;
    mesh: MeshConfig;
  },
): Promise<ProposalStart[]> {
  const { log } = cycles.deps;
  const starts: ProposalStart[] = [];
  for (const proposal of of.fresh) {
    const problems = await cycles.keepAlive('starting', () => of.checkSql(proposal.spec));
    if (problems.length > 0) {
      log.warn('analyst proposal refused by the SQL guard', {
        productId,
        cycleKey,
        idea: proposal.idea,
        problems,
      });
      continue;
    }
    const domain = ownValue(of.mesh.domains, proposal.spec.domain);
    if (!domain) {
      log.warn('analyst proposal for a domain mesh.yaml does not know', {
        productId,
        idea: proposal.idea,
        domain: proposal.spec.domain,
      });
      continue;
    }
    // The analyst put the insight (summary, figures, the query it ran) in the spec's evidence.
    const reproposal = of.reproposals.get(proposal.proposalId);
    const spec = reproposal ? withReproposal(proposal.spec, reproposal) : proposal.spec;
    const child = productIdOf(spec);
    starts.push({
      proposalId: proposal.proposalId,
      productId: child,
      workflowId: workflowIdOf(child),
      spec,
      domain,
      ...(reproposal ? { reproposal } : {}),
    });
    if (starts.length >= 20) break;
  }
  return starts;
}

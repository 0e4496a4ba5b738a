import { Context } from '@temporalio/activity';
import type { Kafka, Producer } from 'kafkajs';
import { ensureDuckDbExtensions } from '../src/adapters/duckdb/extensions';
import type { LakeTable } from '../src/adapters/duckdb/lake';
import { IcebergLake } from '../src/adapters/duckdb/lake';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import type { LoadedTable } from '../src/adapters/iceberg';
import { IcebergCatalogClient, IcebergCatalogError } from '../src/adapters/iceberg';
import { readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import { readProposalsLedger, recordProposalsInLedger } from '../src/adapters/kafka/proposals-ledger';
import type { AnalystResult, CycleFigures, Neighbour } from '../src/analysis/analyst';
import { analyseProduct, FAILING_CYCLES } from '../src/analysis/analyst';
import {
  measureCycle,
  noDataOutcome,
  outcomeOf,
  PAST_CYCLES,
  profileAt,
  resultRowsOf,
} from '../src/analysis/cycle';
import type { NeighbourTable } from '../src/analysis/neighbours';
import { MAX_NEIGHBOURS, measureNeighbours, overlapCandidates } from '../src/analysis/neighbours';
import { AnalysisResultsTable, ensureResultsTable, resultsTableRef } from '../src/analysis/results-table';
import type { MeshloopConfig } from '../src/config';
import { checkSpecSql } from '../src/creation/guard';
import type { CatalogView } from '../src/domain/catalog-view';
import type { IcebergTableRef } from '../src/domain/materialization';
import { ownValue } from '../src/domain/records';
import type { ProductSpec } from '../src/domain/spec';
import { productIdOf, workflowIdOf } from '../src/domain/spec';
import type { Logger } from '../src/log';
import { productTableOf } from '../src/query/product-query';
import { loadMeshConfig } from '../src/specs/load';
import type { AnalysisCycleActivities, AnalysisProposals, CycleOutcome } from './analysis';
import type { ProposalStart } from './discovery';
import { translatingFailures } from './failures';

/**
 * The analysis cycle's side effects (the `AnalysisCycleActivities` the analysis workflow calls):
 * read a product's Iceberg table at a pinned snapshot in DuckDB, store the results in
 * `meshloop.analysis_results`, and turn what was found into proposals that passed the SQL guard.
 * Product SQL and the analyst's queries run in the locked read-only reader (IcebergLake) opened for
 * exactly the product's table and its neighbours'; the results are written by a separate instance.
 */

export type LlmAnalystInput = Readonly<{
  parent: ProductSpec;
  figures: CycleFigures;
  neighbours: readonly Neighbour[];
  /** The SQL guard: problems of a spec's SQL, empty when it passed. */
  checkSql: (spec: ProductSpec) => Promise<string[]>;
  log: Logger;
  alreadyProposed?: ReadonlySet<string>;
}>;
/** The LLM analyst with its client bound (src/agents/llm-analyst.ts `proposeWithLlmAnalyst`). */
export type LlmAnalyst = (input: LlmAnalystInput) => Promise<AnalystResult>;

export type AnalysisCycleDependencies = Readonly<{
  kafka: Kafka;
  /** Connected and disconnected by the worker that owns it. */
  producer: Producer;
  log: Logger;
  iceberg: IcebergCatalogClient;
  /** The Iceberg REST catalog's URL, for DuckDB. */
  catalogUrl: string;
  /** The Iceberg catalog's name in table refs (`lake`). */
  catalogName: string;
  /** DuckDB's extension directory (downloaded on first use). */
  extensionDir: () => Promise<string>;
  meshFile: string;
  sqlGuard: Readonly<{ gateway: SqlGatewayClient; kafkaBootstrapServers: string }>;
  /** With an LLM configured it proposes; without, the deterministic analyst does. */
  llmAnalyst?: LlmAnalyst;
  catalogTopic?: string;
  proposalsTopic?: string;
  /** Where results go (default `meshloop.analysis_results`). */
  resultsTable?: IcebergTableRef;
  now?: () => Date;
}>;

/** Heartbeat when running as an activity; a no-op when called directly (tests, benches). */
function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity.
  }
}

/** Heartbeat every few seconds while `work` runs; `step` records what it is doing now. */
async function heartbeating<T>(work: (step: (what: string) => void) => Promise<T>): Promise<T> {
  let current = 'starting';
  heartbeat(current);
  const timer = setInterval(() => heartbeat(current), 5_000);
  try {
    return await work((what) => {
      current = what;
    });
  } finally {
    clearInterval(timer);
  }
}

const ANALYSED_STAGES = new Set(['active', 'degraded']);

export function createAnalysisCycleActivities(deps: AnalysisCycleDependencies) {
  const { kafka, producer, log } = deps;
  const catalogTopic = deps.catalogTopic ?? CATALOG_TOPIC;
  const resultsRef = deps.resultsTable ?? resultsTableRef(deps.catalogName);
  const now = deps.now ?? (() => new Date());
  let resultsTable: Promise<LakeTable> | undefined;

  const openResults = async () => {
    resultsTable ??= ensureResultsTable(deps.iceberg, resultsRef).catch((error: unknown) => {
      resultsTable = undefined;
      throw error;
    });
    return AnalysisResultsTable.open({
      extensionDir: await deps.extensionDir(),
      catalogUrl: deps.catalogUrl,
      table: await resultsTable,
    });
  };

  /** The product's table, or undefined when it has none yet. */
  const loadTable = async (ref: IcebergTableRef): Promise<LoadedTable | undefined> => {
    try {
      return await deps.iceberg.loadTable({ namespace: [ref.namespace], name: ref.name });
    } catch (error) {
      if (error instanceof IcebergCatalogError && error.notFound) return undefined;
      throw error;
    }
  };

  /**
   * Other analysed products (active, degraded) with a single key our fields might hold, and a
   * snapshot to read; at most MAX_NEIGHBOURS. None when our product has no key (the analyst joins
   * only keyed products).
   */
  const neighbourTablesOf = async (
    parent: ProductSpec,
    catalog: CatalogView,
  ): Promise<Array<NeighbourTable & { location: string }>> => {
    const found: Array<NeighbourTable & { location: string }> = [];
    if (parent.schema.key.length === 0) return found;
    for (const { spec, stage } of catalog.all()) {
      if (found.length >= MAX_NEIGHBOURS) break;
      if (!ANALYSED_STAGES.has(stage) || overlapCandidates(parent, spec).length === 0) continue;
      const table = productTableOf(productIdOf(spec), deps.catalogName);
      const loaded = await loadTable(table);
      if (!loaded?.currentSnapshot) continue;
      found.push({
        spec,
        stage,
        table,
        snapshotId: loaded.currentSnapshot.snapshotId,
        location: loaded.metadata.location,
      });
    }
    return found;
  };

  /** One cycle: stored already (a retry) → that; no snapshot → noData; else the checks, stored once. */
  const runCycle = async (
    input: { productId: string; cycleKey: string },
    step: (what: string) => void,
  ): Promise<CycleOutcome> => {
    const at = now();
    const { productId, cycleKey } = input;
    const results = await openResults();
    try {
      const stored = await results.storedCycle(productId, cycleKey);
      if (stored) {
        log.info('analysis cycle already stored', { productId, cycleKey, outcome: stored.outcome });
        return stored;
      }
      const spec = (await readCatalog(kafka, { topic: catalogTopic, log })).view.specOf(productId);
      const ref = productTableOf(productId, deps.catalogName);
      const loaded = spec ? await loadTable(ref) : undefined;
      const snapshot = loaded?.currentSnapshot;
      if (!spec || !loaded || !snapshot) {
        const why = !spec
          ? `${productId} has no readable spec in the catalog`
          : !loaded
            ? `${productId} has no Iceberg table yet`
            : `${productId}'s table has no snapshot yet (nothing committed)`;
        const outcome = noDataOutcome(productId, cycleKey, at, why);
        await results.appendCycle(resultRowsOf(outcome));
        log.info('analysis cycle without data', { productId, cycleKey, why });
        return outcome;
      }
      const past = (await results.pastCycles(productId, PAST_CYCLES)).filter((c) => c.cycleKey !== cycleKey);
      const lake = await IcebergLake.open({
        extensionDir: await deps.extensionDir(),
        catalogUrl: deps.catalogUrl,
        tables: [{ ref, location: loaded.metadata.location }],
      });
      const began = Date.now();
      let measurement;
      try {
        measurement = await measureCycle({
          lake,
          table: ref,
          spec,
          cycleKey,
          snapshot,
          past,
          snapshotIds: new Set(loaded.snapshots.map((s) => s.snapshotId)),
          now: at,
          step,
        });
      } finally {
        lake.close();
      }
      const outcome = outcomeOf(measurement);
      // A twin attempt may have finished meanwhile: its rows stand, ours are not written twice.
      const raced = await results.storedCycle(productId, cycleKey);
      if (raced) return raced;
      await results.appendCycle(resultRowsOf(outcome, measurement));
      log.info('analysis cycle', {
        productId,
        cycleKey,
        snapshotId: outcome.snapshotId,
        outcome: outcome.outcome,
        rows: outcome.rows,
        breaches: outcome.breaches.map((b) => b.rule),
        findings: outcome.findings.length,
        ms: Date.now() - began,
      });
      return outcome;
    } finally {
      results.close();
    }
  };

  const activities = {
    runAnalysisCycle(input: { productId: string; cycleKey: string }): Promise<CycleOutcome> {
      return heartbeating((step) => runCycle(input, step));
    },

    async proposeFromAnalysis(input: {
      productId: string;
      cycleKey: string;
      snapshotId: string;
    }): Promise<AnalysisProposals> {
      const { productId, cycleKey, snapshotId } = input;
      const mesh = await loadMeshConfig(deps.meshFile);
      const knownDomains = Object.keys(mesh.domains);
      const [{ view: catalog }, ledger] = await Promise.all([
        readCatalog(kafka, { topic: catalogTopic, log }),
        readProposalsLedger(kafka, { topic: deps.proposalsTopic, log }),
      ]);
      const parent = catalog.specOf(productId);
      const ref = productTableOf(productId, deps.catalogName);
      const loaded = parent ? await loadTable(ref) : undefined;
      if (!parent || !loaded?.snapshots.some((s) => s.snapshotId === snapshotId)) {
        log.warn('nothing to analyse', { productId, cycleKey, snapshotId, inCatalog: parent !== undefined });
        return { starts: [], knownDomains };
      }

      const neighbourTables = await neighbourTablesOf(parent, catalog);
      const lakeTables: LakeTable[] = [
        { ref, location: loaded.metadata.location },
        ...neighbourTables.map((n) => ({ ref: n.table, location: n.location })),
      ];

      const results = await openResults();
      let figures: CycleFigures;
      let neighbours: Neighbour[];
      try {
        const lake = await IcebergLake.open({
          extensionDir: await deps.extensionDir(),
          catalogUrl: deps.catalogUrl,
          tables: lakeTables,
        });
        try {
          ({ figures, neighbours } = await heartbeating(async (step) => {
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
          }));
        } finally {
          lake.close();
        }
      } finally {
        results.close();
      }

      // The guard's verdicts, kept for this call: a spec the LLM analyst had checked is not checked twice.
      const verdicts = new Map<string, Promise<string[]>>();
      const checkSql = (spec: ProductSpec): Promise<string[]> => {
        const key = JSON.stringify([spec.sql, spec.inputs, spec.schema, spec.outputTopic]);
        const known = verdicts.get(key);
        if (known) return known;
        const verdict = checkSpecSql({ ...deps.sqlGuard, log }, spec, (id) => catalog.specOf(id)).then(
          (result) => (result.ok ? [] : [...result.problems]),
        );
        verdicts.set(key, verdict);
        return verdict;
      };

      const analyst = deps.llmAnalyst ? 'llm' : 'rules';
      const proposed = deps.llmAnalyst
        ? await deps.llmAnalyst({ parent, figures, neighbours, checkSql, log, alreadyProposed: ledger })
        : analyseProduct({ spec: parent, figures, neighbours, alreadyProposed: ledger });
      for (const d of proposed.dropped)
        log.warn('analyst idea dropped', { productId, cycleKey, idea: d.idea, reasons: d.reasons });

      const starts: ProposalStart[] = [];
      for (const proposal of proposed.proposals) {
        if (ledger.has(proposal.proposalId)) continue;
        const problems = await heartbeating(() => checkSql(proposal.spec));
        if (problems.length > 0) {
          log.warn('analyst proposal refused by the SQL guard', {
            productId,
            cycleKey,
            idea: proposal.idea,
            problems,
          });
          continue;
        }
        const domain = ownValue(mesh.domains, proposal.spec.domain);
        if (!domain) {
          log.warn('analyst proposal for a domain mesh.yaml does not know', {
            productId,
            idea: proposal.idea,
            domain: proposal.spec.domain,
          });
          continue;
        }
        // The analyst put the insight (summary, figures, the query it ran) in the spec's evidence.
        const { spec } = proposal;
        const child = productIdOf(spec);
        starts.push({
          proposalId: proposal.proposalId,
          productId: child,
          workflowId: workflowIdOf(child),
          spec,
          domain,
        });
        if (starts.length >= 20) break;
      }
      log.info('analysis proposals', {
        productId,
        cycleKey,
        analyst,
        proposals: proposed.proposals.length,
        fresh: starts.length,
        dropped: proposed.dropped.length,
        neighbours: neighbours.length,
      });
      return { starts, knownDomains };
    },

    /**
     * What `runAnalysisCycle` stored for this cycle, or null: the product workflow trusts a signalled
     * summary only as far as this confirms it (a forged signal finds nothing, or other figures).
     */
    async readStoredAnalysisCycle(input: {
      productId: string;
      cycleKey: string;
    }): Promise<CycleOutcome | null> {
      const results = await openResults();
      try {
        return (await results.storedCycle(input.productId, input.cycleKey)) ?? null;
      } finally {
        results.close();
      }
    },

    async recordAnalysisProposalOutcomes(input: {
      cycleKey: string;
      outcomes: Parameters<typeof recordProposalsInLedger>[2]['outcomes'];
    }): Promise<void> {
      await recordProposalsInLedger(kafka, producer, {
        topic: deps.proposalsTopic,
        runKey: input.cycleKey,
        outcomes: input.outcomes,
      });
      log.info('analysis proposals recorded', { cycleKey: input.cycleKey, count: input.outcomes.length });
    },
  } satisfies AnalysisCycleActivities;

  return translatingFailures(activities);
}

export type AnalysisCycleActivityImplementations = ReturnType<typeof createAnalysisCycleActivities>;

/** The activities as the worker registers them: Iceberg, DuckDB and the SQL guard from the configuration. */
export function createAnalysisCycleActivitiesFromConfig(
  config: MeshloopConfig,
  log: Logger,
  clients: {
    kafka: Kafka;
    producer: Producer;
    gateway: SqlGatewayClient;
    llmAnalyst?: LlmAnalyst;
    catalogTopic?: string;
    proposalsTopic?: string;
  },
) {
  return createAnalysisCycleActivities({
    kafka: clients.kafka,
    producer: clients.producer,
    log,
    iceberg: new IcebergCatalogClient({ url: config.iceberg.catalogUrl }),
    catalogUrl: config.iceberg.catalogUrl,
    catalogName: config.materialize.catalog,
    extensionDir: () => ensureDuckDbExtensions(config.stack.cacheDir, (message) => log.info(message)),
    meshFile: config.meshFile,
    sqlGuard: { gateway: clients.gateway, kafkaBootstrapServers: config.flink.kafkaBootstrapServers },
    ...(clients.llmAnalyst ? { llmAnalyst: clients.llmAnalyst } : {}),
    ...(clients.catalogTopic ? { catalogTopic: clients.catalogTopic } : {}),
    ...(clients.proposalsTopic ? { proposalsTopic: clients.proposalsTopic } : {}),
  });
}

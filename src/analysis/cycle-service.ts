import type { Kafka, Producer } from 'kafkajs';
import { ensureDuckDbExtensions } from '../adapters/duckdb/extensions';
import type { LakeTable } from '../adapters/duckdb/lake';
import { IcebergLake } from '../adapters/duckdb/lake';
import type { SqlGuardDependencies } from '../creation/guard';
import type { LoadedTable } from '../adapters/iceberg';
import { IcebergCatalogClient, IcebergCatalogError } from '../adapters/iceberg';
import type { CatalogView } from '../domain/catalog-view';
import { readCatalog } from '../adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../adapters/kafka/client';
import { recordProposalsInLedger } from '../adapters/kafka/proposals-ledger';
import type { IcebergConnection, MeshloopConfig } from '../config';
import type { CycleOutcome } from '../domain/analysis';
import type { IcebergTableRef } from '../domain/materialization';
import type { ProposalOutcome } from '../domain/proposals';
import type { ProductSpec } from '../domain/spec';
import { productIdOf } from '../domain/spec';
import type { Logger } from '../log';
import { productTableOf } from '../query/product-query';
import type { AnalystResult, CycleFigures, Neighbour } from './analyst';
import type { CycleMeasurement } from './cycle';
import { measureCycle, noDataOutcome, outcomeOf, PAST_CYCLES, resultRowsOf } from './cycle';
import type { NeighbourTable } from './neighbours';
import { MAX_NEIGHBOURS, overlapCandidates } from './neighbours';
import { AnalysisResultsTable, ensureResultsTable, resultsTableRef } from './results-table';

/**
 * The analysis cycle as a service (activities/analysis-cycle.ts adapts it): read a product's
 * Iceberg table at a pinned snapshot in DuckDB, store the results in `meshloop.analysis_results`,
 * and (propose-from-cycle.ts) turn what was found into proposals that passed the SQL guard.
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
  /** The business goals of the product's domain (mesh.yaml). */
  goals?: readonly string[];
  /** The catalog's specs, for lineage. */
  specOf?: (productId: string) => ProductSpec | undefined;
}>;
/** The LLM analyst with its client bound (src/agents/llm-analyst.ts `proposeWithLlmAnalyst`). */
export type LlmAnalyst = (input: LlmAnalystInput) => Promise<AnalystResult>;

/** Runs `work`, telling whoever waits (an activity's heartbeat) which step it is at. */
export type KeepAlive = <T>(first: string, work: (step: (what: string) => void) => Promise<T>) => Promise<T>;

/** The Iceberg catalog and DuckDB, as analysis reads them. */
export type AnalysisLake = Readonly<{
  iceberg: IcebergCatalogClient;
  /** The Iceberg REST catalog with its credentials and object store, for DuckDB. */
  icebergConnection: IcebergConnection;
  /** The Iceberg catalog's name in table refs (`lake`). */
  catalogName: string;
  /** DuckDB's extension directory (downloaded on first use). */
  extensionDir: () => Promise<string>;
}>;

/** The lake as the configuration names it. */
export function analysisLakeFromConfig(config: MeshloopConfig, log: Logger): AnalysisLake {
  return {
    iceberg: IcebergCatalogClient.of(config.iceberg),
    icebergConnection: config.iceberg,
    catalogName: config.materialize.catalog,
    extensionDir: () => ensureDuckDbExtensions(config.stack.cacheDir, (message) => log.info(message)),
  };
}

export type AnalysisCycleDependencies = AnalysisLake &
  Readonly<{
    kafka: Kafka;
    /** Connected and disconnected by the worker that owns it. */
    producer: Producer;
    log: Logger;
    meshFile: string;
    sqlGuard: Omit<SqlGuardDependencies, 'log'>;
    /** With an LLM configured it proposes; without, the deterministic analyst does. */
    llmAnalyst?: LlmAnalyst;
    catalogTopic?: string;
    proposalsTopic?: string;
    /** Where results go (default `meshloop.analysis_results`). */
    resultsTable?: IcebergTableRef;
    now?: () => Date;
    /** Long steps report here (an activity heartbeats); by default nobody listens. */
    keepAlive?: KeepAlive;
    /** Told when a cycle starts, ends and fails (OpenLineage run events); never fails a cycle. */
    observer?: CycleObserver;
  }>;

/** Who hears of each cycle (src/lineage's emitter): its methods resolve, never reject. */
export interface CycleObserver {
  cycleStarted(input: { productId: string; cycleKey: string; table: IcebergTableRef }): Promise<void>;
  cycleCompleted(
    input: { productId: string; cycleKey: string; table: IcebergTableRef; spec?: ProductSpec },
    outcome: CycleOutcome,
    measurement?: CycleMeasurement,
  ): Promise<void>;
  cycleFailed(
    input: { productId: string; cycleKey: string; table: IcebergTableRef },
    error: unknown,
  ): Promise<void>;
}

const ANALYSED_STAGES = new Set(['active', 'degraded']);
export type NeighbourLakeTable = NeighbourTable & { location: string };

export class AnalysisCycleService {
  readonly catalogTopic: string;
  readonly keepAlive: KeepAlive;
  private readonly resultsRef: IcebergTableRef;
  private readonly now: () => Date;
  private resultsTable: Promise<LakeTable> | undefined;

  constructor(readonly deps: AnalysisCycleDependencies) {
    this.catalogTopic = deps.catalogTopic ?? CATALOG_TOPIC;
    this.resultsRef = deps.resultsTable ?? resultsTableRef(deps.catalogName);
    this.now = deps.now ?? (() => new Date());
    this.keepAlive = deps.keepAlive ?? ((_first, work) => work(() => undefined));
  }

  async openResults(): Promise<AnalysisResultsTable> {
    this.resultsTable ??= ensureResultsTable(this.deps.iceberg, this.resultsRef).catch((error: unknown) => {
      this.resultsTable = undefined;
      throw error;
    });
    return AnalysisResultsTable.open({
      extensionDir: await this.deps.extensionDir(),
      catalog: this.deps.icebergConnection,
      table: await this.resultsTable,
    });
  }

  /** The product's table, or undefined when it has none yet. */
  async loadTable(ref: IcebergTableRef): Promise<LoadedTable | undefined> {
    try {
      return await this.deps.iceberg.loadTable({ namespace: [ref.namespace], name: ref.name });
    } catch (error) {
      if (error instanceof IcebergCatalogError && error.notFound) return undefined;
      throw error;
    }
  }

  /** Read-only DuckDB over exactly these tables; close it when done. */
  async openLake(tables: LakeTable[]): Promise<IcebergLake> {
    return IcebergLake.open({
      extensionDir: await this.deps.extensionDir(),
      catalog: this.deps.icebergConnection,
      tables,
    });
  }

  /**
   * Other analysed products (active, degraded) with a single key our fields might hold, and a
   * snapshot to read; at most MAX_NEIGHBOURS. None when our product has no key (the analyst joins
   * only keyed products).
   */
  async neighbourTablesOf(parent: ProductSpec, catalog: CatalogView): Promise<NeighbourLakeTable[]> {
    const found: NeighbourLakeTable[] = [];
    if (parent.schema.key.length === 0) return found;
    for (const { spec, stage } of catalog.all()) {
      if (found.length >= MAX_NEIGHBOURS) break;
      if (!ANALYSED_STAGES.has(stage) || overlapCandidates(parent, spec).length === 0) continue;
      const table = productTableOf(productIdOf(spec), this.deps.catalogName);
      const loaded = await this.loadTable(table);
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
  }

  /** One cycle: stored already (a retry) → that; no snapshot → noData; else the checks, stored once. */
  async runCycle(
    input: { productId: string; cycleKey: string },
    step: (what: string) => void,
  ): Promise<CycleOutcome> {
    const { kafka, log } = this.deps;
    const catalogTopic = this.catalogTopic;
    const at = this.now();
    const { productId, cycleKey } = input;
    const results = await this.openResults();
    try {
      const stored = await results.storedCycle(productId, cycleKey);
      if (stored) {
        log.info('analysis cycle already stored', { productId, cycleKey, outcome: stored.outcome });
        return stored;
      }
      const ref = productTableOf(productId, this.deps.catalogName);
      return await this.observed({ productId, cycleKey, table: ref }, async (observe) => {
        const spec = (await readCatalog(kafka, { topic: catalogTopic, log })).view.specOf(productId);
        const loaded = spec ? await this.loadTable(ref) : undefined;
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
          return observe(outcome, spec);
        }
        const past = (await results.pastCycles(productId, PAST_CYCLES)).filter(
          (c) => c.cycleKey !== cycleKey,
        );
        const lake = await this.openLake([{ ref, location: loaded.metadata.location }]);
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
        return observe(outcome, spec, measurement);
      });
    } finally {
      results.close();
    }
  }

  /** START, then COMPLETE with the results (or FAIL with the error) for the observer, if any. */
  private async observed(
    input: { productId: string; cycleKey: string; table: IcebergTableRef },
    work: (
      observe: (
        outcome: CycleOutcome,
        spec?: ProductSpec,
        measurement?: CycleMeasurement,
      ) => Promise<CycleOutcome>,
    ) => Promise<CycleOutcome>,
  ): Promise<CycleOutcome> {
    const observer = this.deps.observer;
    if (!observer) return work((outcome) => Promise.resolve(outcome));
    await observer.cycleStarted(input);
    try {
      return await work(async (outcome, spec, measurement) => {
        await observer.cycleCompleted({ ...input, ...(spec ? { spec } : {}) }, outcome, measurement);
        return outcome;
      });
    } catch (error) {
      await observer.cycleFailed(input, error);
      throw error;
    }
  }

  /** What `runCycle` stored for this cycle, or null. */
  async storedCycle(input: { productId: string; cycleKey: string }): Promise<CycleOutcome | null> {
    const results = await this.openResults();
    try {
      return (await results.storedCycle(input.productId, input.cycleKey)) ?? null;
    } finally {
      results.close();
    }
  }

  async recordProposalOutcomes(input: { cycleKey: string; outcomes: ProposalOutcome[] }): Promise<void> {
    const { kafka, producer, log } = this.deps;
    await recordProposalsInLedger(kafka, producer, {
      topic: this.deps.proposalsTopic,
      runKey: input.cycleKey,
      outcomes: input.outcomes,
    });
    log.info('analysis proposals recorded', { cycleKey: input.cycleKey, count: input.outcomes.length });
  }
}

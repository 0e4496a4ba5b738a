import type { FlinkRestClient } from '../adapters/flink';
import type { IcebergCatalogClient } from '../adapters/iceberg/catalog';
import type { CycleMeasurement } from '../analysis/cycle';
import type { CycleOutcome } from '../domain/analysis';
import type { ColumnLineage, InputBinding, ProductJobStatus } from '../domain/creation';
import { normalisedSql } from '../domain/creation';
import type { IcebergTableRef, MaterializationPlan } from '../domain/materialization';
import type { ProductSpec } from '../domain/spec';
import type { Logger } from '../log';
import type {
  Column,
  Dataset,
  EventType,
  InputDataset,
  LineageNaming,
  OutputDataset,
  QualityAssertion,
} from './events';
import {
  columnLineageFacet,
  dataQualityAssertionsFacet,
  dataQualityMetricsFacet,
  errorMessageFacet,
  eventTypeOfJobState,
  icebergDataset,
  inputStatisticsFacet,
  jobTypeFacet,
  kafkaDataset,
  outputStatisticsFacet,
  productJobNameFor,
  runEvent,
  sqlFacet,
  stableRunId,
} from './events';
import type { LineageTransport } from './transport';

/**
 * Turns what the creation, materialization and analysis activities see into OpenLineage run
 * events and sends them. Every method resolves (never rejects): lineage is a side channel and must
 * not fail a product. Run ids are derived from the product, revision and Flink job id (or the
 * cycle key), so a retried activity sends the run id its first attempt sent.
 */
export type LineageEmitterDeps = Readonly<{
  naming: LineageNaming;
  transport: LineageTransport;
  log: Logger;
  /** Table locations (dataset names) and schemas; without it tables are named by the catalog. */
  iceberg?: IcebergCatalogClient;
  /** Records read and written by a creation job (RUNNING events' statistics). */
  flinkRest?: FlinkRestClient;
  now?: () => Date;
}>;

/** What the SQL guard found for a revision: remembered for the deployment's START event. */
type GuardFacts = Readonly<{
  sql: string;
  lineage: readonly ColumnLineage[];
  bindings: readonly InputBinding[];
}>;

const MAX_REMEMBERED = 2_000;

/** Flink's operator metric of records an input's source read (`Source: meshloop_source_<alias>[id]`). */
const SOURCE_READ = /^Source__meshloop_source_([A-Za-z0-9_]+)\[\d+\]\.numRecordsIn$/;
/** ... and of records the product's writer sent to its output topic (not the rejected-records one). */
const SINK_SENT = /^meshloop_sink\[\d+\]__Writer\.numRecordsSend$/;

/** Records read per input alias, and written to the output topic. */
type JobProgress = Readonly<{ read: ReadonlyMap<string, number>; written?: number }>;

/** A small insertion-ordered cache: the oldest entry goes when it is full. */
class Bounded<V> {
  private readonly map = new Map<string, V>();
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > MAX_REMEMBERED) this.map.delete(this.map.keys().next().value as string);
  }
}

export type CreationRun = Readonly<{
  productId: string;
  revision: number;
  spec: ProductSpec;
  bindings: readonly InputBinding[];
  /** The SQL guard's lineage of this revision; when absent, the one remembered from the guard. */
  lineage?: readonly ColumnLineage[];
  jobId: string;
}>;

export type MaterializationRun = Readonly<{ plan: MaterializationPlan; jobId: string }>;

export class LineageEmitter {
  private readonly guard = new Bounded<GuardFacts>();
  /** Runs that got their terminal event from this worker: not sent twice. */
  private readonly ended = new Bounded<true>();
  private readonly locations = new Bounded<string>();
  private readonly progressMetrics = new Bounded<Array<{ id: string; metrics: string[] }>>();
  private readonly now: () => Date;

  constructor(private readonly deps: LineageEmitterDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get counts(): Readonly<{ sent: number; failed: number }> {
    return this.deps.transport.counts;
  }

  /** The guard's lineage of a revision, kept for its deployment (checkProductSql runs just before). */
  rememberGuard(productId: string, revision: number, facts: GuardFacts): void {
    this.guard.set(`${productId}:r${revision}`, { ...facts, sql: normalisedSql(facts.sql) });
  }

  /** The guard's lineage for this revision's SQL, if this worker checked it. */
  guardFacts(productId: string, revision: number, sql: string | undefined): GuardFacts | undefined {
    const facts = this.guard.get(`${productId}:r${revision}`);
    return facts && facts.sql === normalisedSql(sql) ? facts : undefined;
  }

  // --- creation jobs -------------------------------------------------------------------------

  creationRunId(productId: string, revision: number, jobId: string): string {
    return stableRunId('creation', productId, revision, jobId);
  }

  /** START: the revision's job was submitted (or found running by a retry). */
  creationStarted(run: CreationRun): Promise<void> {
    return this.safely('creation START', async () => {
      // Kept for the run's later events (a guard run again for this deployment, say).
      if (run.lineage && run.spec.sql) {
        this.rememberGuard(run.productId, run.revision, {
          sql: run.spec.sql,
          lineage: run.lineage,
          bindings: run.bindings,
        });
      }
      await this.send(this.creationEvent(run, 'START', {}));
    });
  }

  /** RUNNING with records read and written, or the terminal event the job's state means. */
  creationLooked(run: Omit<CreationRun, 'jobId'>, status: ProductJobStatus): Promise<void> {
    return this.safely('creation look', async () => {
      if (!status.jobId) return;
      const type = eventTypeOfJobState(status.state);
      if (!type) return;
      const full = { ...run, jobId: status.jobId };
      if (type !== 'RUNNING') {
        await this.endOnce(this.creationRunId(run.productId, run.revision, status.jobId), () =>
          this.creationEvent(full, type, { failure: status.failure ?? `the Flink job is ${status.state}` }),
        );
        return;
      }
      const aliases = run.bindings.map((binding) => binding.alias);
      const progress = await this.jobProgress(status.jobId, aliases).catch(() => undefined);
      await this.send(this.creationEvent(full, 'RUNNING', { progress }));
    });
  }

  /** ABORT: the job was stopped (retirement, deprecation, or a redeployment replacing it). */
  creationStopped(run: CreationRun): Promise<void> {
    return this.safely('creation ABORT', () =>
      this.endOnce(this.creationRunId(run.productId, run.revision, run.jobId), () =>
        this.creationEvent(run, 'ABORT', {}),
      ),
    );
  }

  private creationEvent(
    run: CreationRun,
    eventType: EventType,
    extra: { progress?: JobProgress; failure?: string },
  ) {
    const { naming } = this.deps;
    // Unknown (the guard ran on another worker, and this one could not run it): left out, never guessed.
    const lineage = run.lineage ?? this.guardFacts(run.productId, run.revision, run.spec.sql)?.lineage;
    const aliases = new Map<string, { namespace: string; name: string }>();
    const inputs: InputDataset[] = run.bindings.map((binding) => {
      const dataset = kafkaDataset(
        naming,
        binding.topic,
        binding.fields.map((f) => ({ name: f.name, type: f.type })),
      );
      aliases.set(binding.alias, dataset);
      const read = extra.progress?.read.get(binding.alias);
      return read === undefined
        ? dataset
        : { ...dataset, inputFacets: { inputStatistics: inputStatisticsFacet(naming, read) } };
    });
    const output = kafkaDataset(naming, run.spec.outputTopic.name ?? '', columnsOf(run.spec));
    const written = extra.progress?.written;
    const outputs: OutputDataset[] = [
      {
        ...output,
        facets: {
          ...output.facets,
          ...(lineage ? { columnLineage: columnLineageFacet(naming, lineage, aliases) } : {}),
        },
        ...(written === undefined
          ? {}
          : { outputFacets: { outputStatistics: outputStatisticsFacet(naming, written) } }),
      },
    ];
    return runEvent(naming, {
      eventType,
      eventTime: this.now(),
      runId: this.creationRunId(run.productId, run.revision, run.jobId),
      jobName: productJobNameFor(run.productId, 'creation'),
      runFacets:
        extra.failure && eventType === 'FAIL'
          ? { errorMessage: errorMessageFacet(naming, extra.failure, 'SQL') }
          : {},
      jobFacets: {
        jobType: jobTypeFacet(naming, 'STREAMING', 'FLINK', 'JOB'),
        ...(run.spec.sql ? { sql: sqlFacet(naming, run.spec.sql) } : {}),
      },
      inputs,
      outputs,
    });
  }

  /**
   * Records the job read from each input and wrote to its output topic, from Flink's operator
   * metrics: `numRecordsIn` of each input's source (`meshloop_source_<alias>`) and `numRecordsSend`
   * of the output's writer (`meshloop_sink`), summed over subtasks. The counts are this job's (a
   * job resumed from a savepoint counts from its start). Undefined when Flink cannot say.
   */
  private async jobProgress(jobId: string, aliases: readonly string[]): Promise<JobProgress | undefined> {
    const rest = this.deps.flinkRest;
    if (!rest) return undefined;
    let vertices = this.progressMetrics.get(jobId);
    if (!vertices) {
      const detail = await rest.job(jobId);
      vertices = await Promise.all(
        detail.vertices.map(async (vertex) => ({
          id: vertex.id,
          metrics: (await rest.vertexMetricIds(jobId, vertex.id)).filter(
            (id) => SOURCE_READ.test(id) || SINK_SENT.test(id),
          ),
        })),
      );
      // Operators register their metrics once running, each vertex in its own time (a joined
      // product's sources and writer are separate vertices): remember the list only when it has
      // the writer's metric and every input's.
      const ids = vertices.flatMap((v) => v.metrics);
      const sources = new Set(ids.map((id) => SOURCE_READ.exec(id)?.[1]));
      if (ids.some((id) => SINK_SENT.test(id)) && aliases.every((alias) => sources.has(alias)))
        this.progressMetrics.set(jobId, vertices);
    }
    const read = new Map<string, number>();
    let written: number | undefined;
    for (const vertex of vertices) {
      const sums = await rest.vertexMetricSums(jobId, vertex.id, vertex.metrics);
      for (const [id, sum] of Object.entries(sums)) {
        const alias = SOURCE_READ.exec(id)?.[1];
        if (alias) read.set(alias, (read.get(alias) ?? 0) + sum);
        else if (SINK_SENT.test(id)) written = (written ?? 0) + sum;
      }
    }
    return { read, ...(written === undefined ? {} : { written }) };
  }

  // --- materialization -------------------------------------------------------------------------

  /**
   * A Flink materialization's run is its Flink job; a Tableflow topic has no job id to tell its
   * deployments apart: its run is the revision's (keyed by the topic).
   */
  materializationRunId(
    plan: Pick<MaterializationPlan, 'productId' | 'revision' | 'provider' | 'topic'>,
    jobId: string | undefined,
  ): string {
    const key = plan.provider === 'tableflow' ? plan.topic : (jobId ?? '');
    return stableRunId('materialization', plan.productId, plan.revision, key);
  }

  /** START: the Kafka → Iceberg job was started (or found running). */
  materializationStarted(run: MaterializationRun): Promise<void> {
    return this.safely('materialization START', async () => {
      await this.send(await this.materializationEvent(run, 'START', {}));
    });
  }

  /** RUNNING with the table's rows, or the terminal event the job's state means. */
  materializationLooked(
    plan: MaterializationPlan,
    look: Readonly<{ state: string; jobId?: string; failure?: string; table: { rowCount?: number } }>,
  ): Promise<void> {
    return this.safely('materialization look', async () => {
      const jobId = look.jobId ?? (plan.provider === 'tableflow' ? plan.topic : undefined);
      if (!jobId) return;
      const type = eventTypeOfJobState(look.state);
      if (!type) return;
      const run = { plan, jobId };
      if (type !== 'RUNNING') {
        const event = await this.materializationEvent(run, type, {
          failure: look.failure ?? `the materialization is ${look.state}`,
        });
        await this.endOnce(this.materializationRunId(plan, jobId), () => event);
        return;
      }
      await this.send(await this.materializationEvent(run, 'RUNNING', { rows: look.table.rowCount }));
    });
  }

  materializationStopped(run: MaterializationRun): Promise<void> {
    return this.safely('materialization ABORT', async () => {
      const event = await this.materializationEvent(run, 'ABORT', {});
      await this.endOnce(this.materializationRunId(run.plan, run.jobId), () => event);
    });
  }

  private async materializationEvent(
    run: MaterializationRun,
    eventType: EventType,
    extra: { rows?: number; failure?: string },
  ) {
    const { naming } = this.deps;
    const { plan } = run;
    const columns = plan.fields.map((f) => ({ name: f.name, type: f.type }));
    const input = kafkaDataset(naming, plan.topic, columns);
    const table = await this.tableDataset(plan.table, columns);
    // Every column of the table is its topic's field of the same name.
    const identity = columns.map((c) => ({ column: c.name, from: [{ input: 'topic', field: c.name }] }));
    const outputs: OutputDataset[] = [
      {
        ...table,
        facets: {
          ...table.facets,
          columnLineage: columnLineageFacet(naming, identity, new Map([['topic', input]])),
        },
        ...(extra.rows === undefined
          ? {}
          : { outputFacets: { outputStatistics: outputStatisticsFacet(naming, extra.rows) } }),
      },
    ];
    return runEvent(naming, {
      eventType,
      eventTime: this.now(),
      runId: this.materializationRunId(plan, run.jobId),
      jobName: productJobNameFor(plan.productId, 'materialization'),
      runFacets:
        extra.failure && eventType === 'FAIL'
          ? {
              errorMessage: errorMessageFacet(
                naming,
                extra.failure,
                plan.provider === 'flink' ? 'SQL' : 'TABLEFLOW',
              ),
            }
          : {},
      jobFacets: {
        jobType: jobTypeFacet(naming, 'STREAMING', plan.provider === 'flink' ? 'FLINK' : 'TABLEFLOW', 'JOB'),
      },
      inputs: [input],
      outputs,
    });
  }

  /** The table as a dataset: named by its location when the catalog can say where it is. */
  private async tableDataset(ref: IcebergTableRef, columns: readonly Column[]): Promise<Dataset> {
    const key = `${ref.namespace}.${ref.name}`;
    let location = this.locations.get(key);
    if (!location && this.deps.iceberg) {
      const loaded = await this.deps.iceberg
        .loadTable({ namespace: [ref.namespace], name: ref.name })
        .catch(() => undefined);
      location = loaded?.metadata.location;
      if (location) this.locations.set(key, location);
    }
    return icebergDataset(this.deps.naming, ref, location, columns);
  }

  // --- analysis cycles -------------------------------------------------------------------------

  cycleRunId(productId: string, cycleKey: string): string {
    return stableRunId('analysis', productId, cycleKey);
  }

  cycleStarted(
    input: Readonly<{ productId: string; cycleKey: string; table: IcebergTableRef }>,
  ): Promise<void> {
    return this.safely('analysis START', async () => {
      await this.send(await this.cycleEvent(input, 'START', {}));
    });
  }

  /** COMPLETE with the quality results on the table (an input of the cycle). */
  cycleCompleted(
    input: Readonly<{ productId: string; cycleKey: string; table: IcebergTableRef; spec?: ProductSpec }>,
    outcome: CycleOutcome,
    measurement?: CycleMeasurement,
  ): Promise<void> {
    return this.safely('analysis COMPLETE', async () => {
      const event = await this.cycleEvent(input, 'COMPLETE', { outcome, measurement });
      await this.endOnce(this.cycleRunId(input.productId, input.cycleKey), () => event);
    });
  }

  cycleFailed(
    input: Readonly<{ productId: string; cycleKey: string; table: IcebergTableRef }>,
    error: unknown,
  ): Promise<void> {
    return this.safely('analysis FAIL', async () => {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const event = await this.cycleEvent(input, 'FAIL', { failure: message });
      await this.endOnce(this.cycleRunId(input.productId, input.cycleKey), () => event);
    });
  }

  private async cycleEvent(
    input: Readonly<{ productId: string; cycleKey: string; table: IcebergTableRef; spec?: ProductSpec }>,
    eventType: EventType,
    extra: { outcome?: CycleOutcome; measurement?: CycleMeasurement; failure?: string },
  ) {
    const { naming } = this.deps;
    const columns = input.spec ? columnsOf(input.spec) : (extra.measurement?.profile.fields ?? []);
    const table = await this.tableDataset(input.table, columns);
    const quality = extra.outcome ? qualityOf(extra.outcome, extra.measurement) : undefined;
    const dataset: InputDataset = quality
      ? {
          ...table,
          inputFacets: {
            dataQualityAssertions: dataQualityAssertionsFacet(naming, quality.assertions),
            ...(quality.metrics
              ? { dataQualityMetrics: dataQualityMetricsFacet(naming, quality.metrics) }
              : {}),
          },
        }
      : table;
    return runEvent(naming, {
      eventType,
      eventTime: this.now(),
      runId: this.cycleRunId(input.productId, input.cycleKey),
      jobName: productJobNameFor(input.productId, 'analysis'),
      runFacets: extra.failure
        ? { errorMessage: errorMessageFacet(naming, extra.failure, 'TypeScript') }
        : {},
      jobFacets: { jobType: jobTypeFacet(naming, 'BATCH', 'MESHLOOP', 'QUERY') },
      inputs: [dataset],
      outputs: [],
    });
  }

  // --- sending -------------------------------------------------------------------------------

  private async send(event: ReturnType<typeof runEvent>): Promise<void> {
    await this.deps.transport.send(event);
  }

  /**
   * A terminal event of one kind once per run from this worker (the watch sees a failed job every
   * minute). A COMPLETE may still follow a FAIL: a retried cycle that passes the second time.
   */
  private async endOnce(runId: string, build: () => ReturnType<typeof runEvent>): Promise<void> {
    const event = build();
    const key = `${runId}:${event.eventType}`;
    if (this.ended.has(key)) return;
    this.ended.set(key, true);
    await this.send(event);
  }

  /** Lineage never fails the caller: a bug or an unreachable catalog is logged and counted. */
  private async safely(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.deps.log.warn('OpenLineage event not built', {
        what,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

function columnsOf(spec: Pick<ProductSpec, 'schema'>): Column[] {
  return spec.schema.fields.map((f) => ({
    name: f.name,
    type: f.type,
    ...(f.description ? { description: f.description } : {}),
  }));
}

/**
 * A cycle's results as OpenLineage data-quality facets: one assertion per quality rule (failed
 * when the rule had failing rows), the SLA freshness and volume checks; metrics per column from
 * the snapshot's profile.
 */
export function qualityOf(
  outcome: CycleOutcome,
  measurement: CycleMeasurement | undefined,
): {
  assertions: QualityAssertion[];
  metrics?: { rowCount: number; columns: Record<string, { nullCount: number; distinctCount: number }> };
} {
  if (!measurement) {
    // No measurement (no data, or a cycle stored earlier): what the summary says.
    const assertions = outcome.breaches.map((b) => ({
      assertion: b.rule,
      success: false,
      description: b.summary,
      actual: String(b.failing),
    }));
    return { assertions };
  }
  const assertions: QualityAssertion[] = measurement.rules.map((rule) => ({
    assertion: rule.rule,
    success: rule.failing === 0,
    ...(columnOfRule(rule.rule) ? { column: columnOfRule(rule.rule) } : {}),
    actual: String(rule.failing),
  }));
  assertions.push({
    assertion: 'freshness',
    success: measurement.freshness.outcome === 'pass',
    description: measurement.freshness.summary,
  });
  if (measurement.volume.outcome !== 'insufficientHistory') {
    assertions.push({
      assertion: 'volume',
      success: measurement.volume.outcome === 'ok',
      description: measurement.volume.summary,
      actual: String(measurement.volume.added),
    });
  }
  const columns: Record<string, { nullCount: number; distinctCount: number }> = {};
  for (const field of measurement.profile.fields) {
    columns[field.name] = { nullCount: field.nulls, distinctCount: field.distinct };
  }
  return { assertions, metrics: { rowCount: measurement.rows, columns } };
}

/** `notNull:amount` → `amount`; rules over several fields name none. */
function columnOfRule(label: string): string | undefined {
  const match = /^(notNull|range|allowedValues):(.+)$/.exec(label);
  return match?.[2];
}

import type { FlinkRestClient, JobSummary, SqlGatewayClient } from '../adapters/flink';
import { terminalJobStates } from '../adapters/flink';
import type { IcebergCatalogClient } from '../adapters/iceberg';
import type { IcebergConnection } from '../config';
import { IcebergCatalogError } from '../adapters/iceberg';
import type { MaterializationPlan } from '../domain/materialization';
import { tableStatusOf } from '../domain/materialization';
import type { Logger } from '../log';
import {
  materializationInsertStatement,
  materializationJobConfig,
  materializationSetupStatements,
} from './flink-sql';
import type { MaterializationSqlOptions } from './flink-sql';
import { catalogNameOf, ensureProductTable } from './iceberg-table';
import type {
  BadRecord,
  MaterializationStatus,
  Materializer,
  StartOptions,
  StartResult,
  StopOptions,
  StopResult,
  TableResult,
} from './types';

export type FlinkMaterializerDeps = Readonly<{
  catalog: IcebergCatalogClient;
  gateway: SqlGatewayClient;
  rest: FlinkRestClient;
  /** Kafka (with its client properties: secrets, session-only) and the catalog as Flink's processes reach them. */
  kafka: MaterializationSqlOptions['kafka'];
  icebergCatalogUri: string;
  /** The catalog's warehouse, credentials and object store, given to Flink in the job's session only. */
  icebergCatalog?: Omit<IcebergConnection, 'catalogUrl'>;
  /**
   * The one-pass JSON parser's jar as Flink's SQL Gateway reads it (built on first use when the
   * local stack builds it); absent: one JSON function call per field.
   */
  parserJar?: () => Promise<string>;
  /** The Flink Web UI, for links. */
  flinkUiUrl?: string;
  /** Reads the first row of a dead-letter table (DuckDB), for `suspend`'s coordinates. */
  firstBadRecord?: (plan: MaterializationPlan) => Promise<BadRecord | undefined>;
  log?: Logger;
  now?: () => number;
}>;

/** Jobs that hold (or will hold) the product's topic: anything not ended. */
const isLive = (job: JobSummary) => !terminalJobStates.includes(job.state);

export class FlinkMaterializer implements Materializer {
  readonly provider = 'flink' as const;
  constructor(private readonly deps: FlinkMaterializerDeps) {}

  async ensureTable(plan: MaterializationPlan): Promise<TableResult> {
    const ensured = await ensureProductTable(this.deps.catalog, plan);
    this.deps.log?.info(ensured.created ? 'iceberg table created' : 'iceberg table found', {
      productId: plan.productId,
      table: ensured.table,
      addedColumns: ensured.addedColumns,
    });
    return {
      table: ensured.table,
      id: ensured.tableUuid,
      created: ensured.created,
      addedColumns: ensured.addedColumns,
    };
  }

  /** The live job of this revision, found by its name (the newest if, against the odds, two exist). */
  async findJob(plan: MaterializationPlan): Promise<JobSummary | undefined> {
    const jobs = await this.deps.rest.listJobs();
    return jobs
      .filter((job) => job.name === plan.jobName && isLive(job))
      .sort((a, b) => b['start-time'] - a['start-time'])[0];
  }

  async start(plan: MaterializationPlan, options: StartOptions = {}): Promise<StartResult> {
    const running = await this.findJob(plan);
    if (running)
      return { id: running.jid, name: plan.jobName, started: false, url: this.jobUrl(running.jid) };
    const session = await this.deps.gateway.openSession({ name: plan.jobName, heartbeatIntervalMs: false });
    try {
      const setup = materializationSetupStatements(plan, {
        kafka: this.deps.kafka,
        icebergCatalogUri: this.deps.icebergCatalogUri,
        icebergCatalog: this.deps.icebergCatalog,
        // A later revision continues from the consumer group's committed offsets when its
        // savepoint's state does not fit the new plan (added columns change the operators).
        startFrom: plan.revision > 1 || options.savepoint ? 'group-offsets' : 'earliest',
        ...(this.deps.parserJar ? { parserJar: await this.deps.parserJar() } : {}),
      });
      for (const statement of setup) {
        await session.configure(statement);
      }
      const config: Record<string, string> = { ...materializationJobConfig(plan) };
      if (options.savepoint) {
        config['execution.savepoint.path'] = options.savepoint;
        config['execution.savepoint.ignore-unclaimed-state'] = 'true';
      }
      const result = await session.execute(materializationInsertStatement(plan), {
        executionConfig: config,
        timeoutMs: 120_000,
      });
      if (!result.jobId) throw new Error(`Flink started no job for ${plan.jobName}`);
      this.deps.log?.info('materialization job submitted', {
        productId: plan.productId,
        jobId: result.jobId,
        jobName: plan.jobName,
        writeMode: plan.writeMode,
      });
      return { id: result.jobId, name: plan.jobName, started: true, url: this.jobUrl(result.jobId) };
    } finally {
      await session.close().catch(() => undefined);
    }
  }

  async stop(plan: MaterializationPlan, options: StopOptions = {}): Promise<StopResult> {
    const job = await this.findJob(plan);
    if (!job) return { stopped: false };
    if (job.state !== 'RUNNING') {
      // Not stoppable with a savepoint (restarting, failing): cancel, there is no state to keep.
      await this.deps.rest.cancelJob(job.jid);
      await this.deps.rest.waitForJobState(job.jid, ['CANCELED'], { timeoutMs: 60_000 });
      return { stopped: true };
    }
    const { location } = await this.deps.rest.stopWithSavepoint(job.jid, { drain: options.drain ?? false });
    this.deps.log?.info('materialization job stopped with a savepoint', {
      productId: plan.productId,
      savepoint: location,
    });
    return { stopped: true, savepoint: location };
  }

  async describe(plan: MaterializationPlan): Promise<MaterializationStatus> {
    const now = this.deps.now?.() ?? Date.now();
    const [loaded, dlq, jobs] = await Promise.all([
      this.deps.catalog.loadTable(catalogNameOf(plan.table)).catch(notFoundAsUndefined),
      this.deps.catalog.loadTable(catalogNameOf(plan.deadLetterTable)).catch(notFoundAsUndefined),
      this.deps.rest.listJobs(),
    ]);
    const job = jobs
      .filter((candidate) => candidate.name === plan.jobName)
      .sort((a, b) => b['start-time'] - a['start-time'])[0];
    const failure =
      job?.state === 'FAILED'
        ? await this.deps.rest.rootException(job.jid).catch(() => undefined)
        : undefined;
    const badRecords = Number(dlq?.currentSnapshot?.summary['total-records'] ?? 0);
    // With `suspend` the first bad record stops the product; tombstones alone do not count.
    const suspendedAt =
      plan.errorMode === 'suspend' && badRecords > 0
        ? this.deps.firstBadRecord
          ? await this.deps.firstBadRecord(plan)
          : {
              topic: plan.topic,
              partition: -1,
              offset: -1,
              error: `${badRecords} bad records in ${plan.deadLetterTable.name}`,
            }
        : undefined;
    return {
      provider: 'flink',
      state: job?.state ?? 'NOT_FOUND',
      jobId: job?.jid,
      failure: failure?.split('\n')[0],
      table: tableStatusOf({
        table: plan.table,
        provider: 'flink',
        snapshots: loaded?.snapshots.length ?? 0,
        current: loaded?.currentSnapshot,
        now,
        slaFreshnessMs: plan.slaFreshnessMs,
      }),
      badRecords,
      suspendedAt,
    };
  }

  private jobUrl(jobId: string): string | undefined {
    return this.deps.flinkUiUrl
      ? `${this.deps.flinkUiUrl.replace(/\/+$/, '')}/#/job/running/${jobId}/overview`
      : undefined;
  }
}

function notFoundAsUndefined(error: unknown): undefined {
  if (error instanceof IcebergCatalogError && error.notFound) return undefined;
  throw error;
}

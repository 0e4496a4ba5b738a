import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { ensureDuckDbExtensions } from '../adapters/duckdb/extensions';
import { IcebergLake } from '../adapters/duckdb/lake';
import { IcebergCatalogClient, IcebergCatalogError } from '../adapters/iceberg';
import { readCatalog } from '../adapters/kafka/catalog';
import { createKafkaClient } from '../adapters/kafka/client';
import { CYCLE_ROW, outcomeOfCycleRow, resultsTableRef, verifiedFigures } from '../analysis/results-table';
import { listingClient } from '../adapters/temporal/listing';
import { dataConverterFor } from '../codec/payload-codec';
import type { MeshloopConfig } from '../config';
import { temporalConnectOptions } from '../config';
import type { CycleOutcome } from '../domain/analysis';
import type { CatalogView } from '../domain/catalog-view';
import type { CriticMemo } from '../domain/critique';
import type { IcebergTableRef } from '../domain/materialization';
import { meshloopSearchAttributes } from '../domain/search-attributes';
import { workflowIdOf } from '../domain/spec';
import type { Logger } from '../log';
import type { ProductQueryAnswer } from '../query/product-query';
import { queryProduct } from '../query/product-query';
import type { RecordKey } from '../signing/record-key';
import { processRecordKey } from '../signing/record-key';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery } from '../../workflows/definitions';
import type { WorkflowRow } from './model';

/**
 * Where the web catalog's data comes from: the catalog topic (Kafka), the products' workflows
 * (Temporal: visibility for the list, the status query for a product page) and the lake (Iceberg:
 * sample rows, the analysis results table). Each answer is cached briefly so a page is fast and a
 * reload does not hit every service again; a service that fails or does not answer in time gives an
 * `Unavailable` answer naming it, which the page shows instead of crashing.
 */

export type Answer<T> =
  Readonly<{ ok: true; value: T }> | Readonly<{ ok: false; service: string; message: string }>;

/** How long an answer is kept; a failure is kept shorter so a service coming back shows soon. */
const FRESH_MS = 5_000;
const FAILED_MS = 2_000;
/** No page waits longer than this for one service. */
const SERVICE_TIMEOUT_MS = 8_000;
/** Bounds on what the lake and Temporal are asked for. */
export const MAX_LISTED_WORKFLOWS = 2_000;
export const MAX_CYCLE_ROWS = 5_000;
export const SAMPLE_ROWS = 20;

/**
 * A small time-bounded cache that shares one load among concurrent requests. Past its freshness a
 * good answer is still served while one reload runs behind it (reading the catalog topic takes a
 * consumer-group join, seconds): a page waits only for the first load, or after a failure.
 */
export class AnswerCache {
  private readonly entries = new Map<
    string,
    { until: number; answer: Promise<Answer<unknown>>; settled?: Answer<unknown>; reloading?: boolean }
  >();

  constructor(private readonly now: () => number = Date.now) {}

  get<T>(key: string, service: string, load: () => Promise<T>): Promise<Answer<T>> {
    const entry = this.entries.get(key);
    if (entry && entry.until > this.now()) return entry.answer as Promise<Answer<T>>;
    if (entry?.settled?.ok) {
      if (!entry.reloading) {
        entry.reloading = true;
        void this.load(key, service, load);
      }
      return entry.answer as Promise<Answer<T>>;
    }
    return this.load(key, service, load);
  }

  private load<T>(key: string, service: string, load: () => Promise<T>): Promise<Answer<T>> {
    const answer = withTimeout(load(), service).then(
      (value): Answer<T> => ({ ok: true, value }),
      (error: unknown): Answer<T> => ({ ok: false, service, message: messageOf(error) }),
    );
    void answer.then((settled) => {
      const previous = this.entries.get(key);
      // A failed reload keeps the last good answer a little longer rather than blanking the page.
      if (!settled.ok && previous?.settled?.ok && previous.reloading) {
        previous.reloading = false;
        previous.until = this.now() + FAILED_MS;
        return;
      }
      this.entries.set(key, {
        until: this.now() + (settled.ok ? FRESH_MS : FAILED_MS),
        answer: Promise.resolve(settled),
        settled,
      });
      // Bounded: old keys (product pages) go once there are many.
      if (this.entries.size > 500) {
        const [oldest] = this.entries.keys();
        if (oldest !== undefined) this.entries.delete(oldest);
      }
    });
    if (!this.entries.get(key)?.settled?.ok)
      this.entries.set(key, { until: Number.POSITIVE_INFINITY, answer: answer });
    return answer;
  }
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 500 ? `${message.slice(0, 500)}…` : message;
}

function withTimeout<T>(work: Promise<T>, service: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${service} did not answer within ${SERVICE_TIMEOUT_MS / 1000} s`)),
      SERVICE_TIMEOUT_MS,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A cycle as the history shows it (the stored outcome of a signed `cycle` row). */
export type HistoryCycle = Pick<
  CycleOutcome,
  'cycleKey' | 'at' | 'outcome' | 'rows' | 'breaches' | 'findings'
>;

export type WebSourceOptions = {
  config: MeshloopConfig;
  log: Logger;
  /** The catalog topic (default: the mesh's). */
  catalogTopic?: string;
  /** Verifies catalog records and results rows (default: this process's record key). */
  recordKey?: RecordKey;
  /** The analysis results table (default: meshloop.analysis_results in the configured catalog). */
  resultsTable?: IcebergTableRef;
};

/** The web catalog's reads, each cached (see `AnswerCache`). */
export class WebSources {
  private readonly cache = new AnswerCache();
  private readonly kafka: Kafka;
  private temporal?: Promise<{ client: Client; connection: Connection }>;
  private extensionDir?: Promise<string>;
  private readonly recordKey: RecordKey;

  constructor(private readonly options: WebSourceOptions) {
    this.kafka = createKafkaClient({
      connection: options.config.kafka,
      clientId: 'meshloop-web',
      retries: 1,
    });
    this.recordKey = options.recordKey ?? processRecordKey(options.config.records.keyFile);
  }

  get config(): MeshloopConfig {
    return this.options.config;
  }

  /** The catalog's signed descriptors (skipped records are logged by the reader). */
  catalog(): Promise<Answer<CatalogView>> {
    return this.cache.get('catalog', 'Kafka (the catalog topic)', async () => {
      const read = await readCatalog(this.kafka, {
        timeoutMs: SERVICE_TIMEOUT_MS,
        log: this.options.log,
        recordKey: this.recordKey,
        ...(this.options.catalogTopic ? { topic: this.options.catalogTopic } : {}),
      });
      return read.view;
    });
  }

  /** Every product workflow as visibility lists it (stage, owner, kind, the critic's memo), bounded. */
  workflows(): Promise<Answer<WorkflowRow[]>> {
    return this.cache.get('workflows', 'Temporal (visibility)', async () => {
      const { client } = await this.temporalClient();
      const rows: WorkflowRow[] = [];
      const list = listingClient(client, this.options.config.codec.payloadKeys).workflow.list({
        query: `WorkflowType = 'dataProductWorkflow'`,
      });
      for await (const execution of list) {
        const attributes = execution.typedSearchAttributes;
        const critic = execution.memo?.critic as Partial<CriticMemo> | undefined;
        rows.push({
          productId: execution.workflowId.replace(/^data-product:/, ''),
          stage: attributes.get(meshloopSearchAttributes.stage),
          domain: attributes.get(meshloopSearchAttributes.domain),
          owner: attributes.get(meshloopSearchAttributes.owner),
          kind: attributes.get(meshloopSearchAttributes.kind),
          proposedAt: execution.startTime.toISOString(),
          ...(critic && typeof critic.verdict === 'string'
            ? { critic: { verdict: critic.verdict, summary: String(critic.summary ?? '').slice(0, 300) } }
            : {}),
        });
        if (rows.length >= MAX_LISTED_WORKFLOWS) break;
      }
      return rows;
    });
  }

  /** The product's status as its workflow answers `getStatus` (what `meshloop show` prints). */
  status(productId: string): Promise<Answer<ProductStatus>> {
    return this.cache.get(`status:${productId}`, 'Temporal (the product workflow)', async () => {
      const { client, connection } = await this.temporalClient();
      // A query waits for a worker: the deadline makes "no worker" an answer, not a hang.
      try {
        return await connection.withDeadline(Date.now() + SERVICE_TIMEOUT_MS - 1000, () =>
          client.workflow.getHandle(workflowIdOf(productId)).query(getStatusQuery),
        );
      } catch (error) {
        throw new Error(
          `its status query got no answer (${messageOf(error)}): is a worker running on its task queue? (\`npm start\` runs one)`,
        );
      }
    });
  }

  /** Up to SAMPLE_ROWS rows of the product's Iceberg table, read-only in DuckDB. */
  sample(productId: string): Promise<Answer<ProductQueryAnswer>> {
    return this.cache.get(`sample:${productId}`, 'Iceberg (the product table)', () =>
      queryProduct(this.config, productId, {
        sql: `SELECT * FROM t LIMIT ${SAMPLE_ROWS}`,
        maxRows: SAMPLE_ROWS,
      }),
    );
  }

  /**
   * The analysis history of every product, newest cycles first (bounded), from the signed `cycle`
   * rows of the results table: rows read, breaches and findings per cycle. Empty without the table.
   */
  analysisHistory(): Promise<Answer<ReadonlyMap<string, HistoryCycle[]>>> {
    return this.cache.get('history', 'Iceberg (analysis results)', async () => {
      const ref = this.options.resultsTable ?? resultsTableRef(this.config.materialize.catalog);
      const catalog = IcebergCatalogClient.of(this.config.iceberg, 5000);
      let location: string;
      try {
        location = (await catalog.loadTable({ namespace: [ref.namespace], name: ref.name })).metadata
          .location;
      } catch (error) {
        if (error instanceof IcebergCatalogError && error.notFound) return new Map<string, HistoryCycle[]>();
        throw error;
      }
      this.extensionDir ??= ensureDuckDbExtensions(this.config.stack.cacheDir);
      const lake = await IcebergLake.open({
        extensionDir: await this.extensionDir,
        catalog: this.config.iceberg,
        tables: [{ ref, location }],
      });
      try {
        const result = await lake.query(
          `SELECT product_id, cycle_key, snapshot_id, rule, outcome, failing, "rows", figures, examples, summary ` +
            `FROM t WHERE rule = '${CYCLE_ROW}' ORDER BY analysed_at DESC LIMIT ${MAX_CYCLE_ROWS}`,
          { table: ref, maxRows: MAX_CYCLE_ROWS },
        );
        return historyOf(result.rows, this.recordKey);
      } finally {
        lake.close();
      }
    });
  }

  private temporalClient(): Promise<{ client: Client; connection: Connection }> {
    const config = this.config;
    this.temporal ??= Connection.connect({
      ...temporalConnectOptions(config.temporal.connection),
      connectTimeout: 3000,
    }).then(
      (connection) => ({
        connection,
        client: new Client({
          connection,
          namespace: config.temporal.namespace,
          dataConverter: dataConverterFor(config.codec.payloadKeys),
        }),
      }),
      (error: unknown) => {
        this.temporal = undefined;
        throw error;
      },
    );
    return this.temporal;
  }

  async close(): Promise<void> {
    const temporal = await this.temporal?.catch(() => undefined);
    await temporal?.connection.close().catch(() => undefined);
  }
}

const str = (value: unknown) =>
  typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'bigint'
      ? String(value)
      : '';
const num = (value: unknown) => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};

/** Signed cycle rows, grouped by product, newest first; rows the record key did not sign are left out. */
export function historyOf(
  rows: ReadonlyArray<Record<string, unknown>>,
  recordKey: RecordKey,
): Map<string, HistoryCycle[]> {
  const history = new Map<string, HistoryCycle[]>();
  for (const raw of rows) {
    const snapshot = raw.snapshot_id;
    const row = {
      productId: str(raw.product_id),
      cycleKey: str(raw.cycle_key),
      snapshotId: snapshot === null || snapshot === undefined ? null : str(snapshot),
      rule: str(raw.rule),
      outcome: str(raw.outcome),
      failing: num(raw.failing),
      rows: num(raw.rows),
      figures: str(raw.figures),
      examples: str(raw.examples),
      summary: str(raw.summary),
    };
    const figures = verifiedFigures(row, recordKey);
    const outcome = figures === undefined ? undefined : outcomeOfCycleRow(figures);
    if (!outcome || outcome.productId !== row.productId) continue;
    const cycles = history.get(row.productId) ?? [];
    if (cycles.some((c) => c.cycleKey === outcome.cycleKey)) continue;
    cycles.push({
      cycleKey: outcome.cycleKey,
      at: outcome.at,
      outcome: outcome.outcome,
      rows: outcome.rows,
      breaches: outcome.breaches,
      findings: outcome.findings,
    });
    history.set(row.productId, cycles);
  }
  return history;
}

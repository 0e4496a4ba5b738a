import type { IcebergCatalogClient } from '../adapters/iceberg';
import { IcebergCatalogError } from '../adapters/iceberg';
import type { LakeTable } from '../adapters/duckdb/lake';
import type { WriterColumn } from '../adapters/duckdb/lake-writer';
import { IcebergLakeWriter } from '../adapters/duckdb/lake-writer';
import type { CycleOutcome } from '../domain/analysis';
import { SchemaIncompatibleError, UpstreamUnavailableError } from '../domain/errors';
import { analysisCycleSummarySchema } from '../domain/analysis';
import type { IcebergTableRef } from '../domain/materialization';
import type { IcebergConnection } from '../config';

/**
 * `meshloop.analysis_results`: every analysis cycle's results, one row per check, so the history is
 * queryable (`meshloop query meshloop.analysis_results "select ..."`). Each cycle writes its rows
 * in one commit, a `cycle` row among them carrying the whole outcome, and a retried cycle finds
 * that row instead of writing again. Later cycles read their predecessors' rows count, snapshot and
 * per-rule failing counts back from here (volume, drift, the analyst's rule history).
 */

export const RESULTS_NAMESPACE = 'meshloop';
export const RESULTS_TABLE_NAME = 'analysis_results';
/** The rule name of the row that summarises a whole cycle. */
export const CYCLE_ROW = 'cycle';

export type ResultRow = Readonly<{
  productId: string;
  cycleKey: string;
  snapshotId: string | null;
  /** A quality rule's label, `sla:freshness`, `sla:volume`, `drift` or `cycle`. */
  rule: string;
  /** pass / fail / uncheckable for checks; ok / drop / spike / insufficientHistory for volume; the cycle's outcome. */
  outcome: string;
  failing: number;
  rows: number;
  /** JSON text. */
  figures: string;
  /** JSON text: an array of keys of failing rows. */
  examples: string;
  summary: string;
  at: string;
}>;

const columns: ReadonlyArray<WriterColumn & { iceberg: string; required: boolean }> = [
  { name: 'product_id', type: 'VARCHAR', iceberg: 'string', required: true },
  { name: 'cycle_key', type: 'VARCHAR', iceberg: 'string', required: true },
  // Exact decimal text: snapshot ids are 64-bit and travel as strings everywhere else too.
  { name: 'snapshot_id', type: 'VARCHAR', iceberg: 'string', required: false },
  { name: 'rule', type: 'VARCHAR', iceberg: 'string', required: true },
  { name: 'outcome', type: 'VARCHAR', iceberg: 'string', required: true },
  { name: 'failing', type: 'BIGINT', iceberg: 'long', required: false },
  { name: 'rows', type: 'BIGINT', iceberg: 'long', required: false },
  { name: 'figures', type: 'VARCHAR', iceberg: 'string', required: false },
  { name: 'examples', type: 'VARCHAR', iceberg: 'string', required: false },
  { name: 'summary', type: 'VARCHAR', iceberg: 'string', required: false },
  // Not `at`: that is a keyword in DuckDB (time travel), and people query this table by hand.
  { name: 'analysed_at', type: 'TIMESTAMPTZ', iceberg: 'timestamptz', required: true },
];

export function resultsTableRequest() {
  return {
    name: RESULTS_TABLE_NAME,
    schema: {
      type: 'struct',
      'schema-id': 0,
      fields: columns.map((c, i) => ({ id: i + 1, name: c.name, required: c.required, type: c.iceberg })),
    },
    // One folder per product: a cycle reads only its own product's history.
    partitionSpec: {
      'spec-id': 0,
      fields: [{ 'source-id': 1, 'field-id': 1000, name: 'product_id', transform: 'identity' }],
    },
    properties: { 'format-version': '2', 'meshloop.kind': 'analysis-results' },
  };
}

export const resultsTableRef = (catalog: string): IcebergTableRef => ({
  catalog,
  namespace: RESULTS_NAMESPACE,
  name: RESULTS_TABLE_NAME,
});

/** Create the results table unless it exists (idempotent); its location confines the writer. */
export async function ensureResultsTable(
  catalog: IcebergCatalogClient,
  ref: IcebergTableRef,
): Promise<LakeTable> {
  await catalog.ensureNamespace([ref.namespace]);
  const name = { namespace: [ref.namespace], name: ref.name };
  try {
    const created = await catalog.createTable([ref.namespace], { ...resultsTableRequest(), name: ref.name });
    return { ref, location: created.metadata.location };
  } catch (error) {
    if (!(error instanceof IcebergCatalogError && error.status === 409)) throw error;
    const loaded = await catalog.loadTable(name);
    const have = new Set(loaded.currentSchema?.fields.map((f) => f.name) ?? []);
    const missing = columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      throw new SchemaIncompatibleError(
        `${ref.namespace}.${ref.name} exists without the columns ${missing.join(', ')}: it is not Meshloop's analysis results table (drop it, or set another)`,
      );
    }
    return { ref, location: loaded.metadata.location };
  }
}

/** A cycle as later cycles need it. */
export type PastCycle = Readonly<{ cycleKey: string; snapshotId: string; rows: number; at: string }>;

const text = (value: unknown) =>
  typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'bigint'
      ? value.toString()
      : '';
/** DuckDB's JSON rendering: BIGINT as a string. */
const count = (value: unknown) => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};

/** The stored outcome of a cycle, from its `cycle` row's figures; undefined when unreadable. */
export function outcomeOfCycleRow(figures: string): CycleOutcome | undefined {
  try {
    const stored = (JSON.parse(figures) as { outcome?: unknown }).outcome;
    const parsed = analysisCycleSummarySchema.omit({ proposals: true }).safeParse(stored);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isCommitConflict = (error: unknown) =>
  /Conflict_409|CommitFailedException|created concurrently/i.test(
    String((error as Error | undefined)?.message),
  );

/** One append at a time per table in this process: racing commits are what lose writes. */
const appending = new Map<string, Promise<unknown>>();
async function serialised<T>(ref: IcebergTableRef, work: () => Promise<T>): Promise<T> {
  const key = `${ref.catalog}.${ref.namespace}.${ref.name}`;
  const previous = appending.get(key) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  appending.set(key, next);
  try {
    return await next;
  } finally {
    if (appending.get(key) === next) appending.delete(key);
  }
}

export class AnalysisResultsTable {
  private constructor(private readonly writer: IcebergLakeWriter) {}

  static async open(options: {
    extensionDir: string;
    catalog: IcebergConnection;
    table: LakeTable;
  }): Promise<AnalysisResultsTable> {
    return new AnalysisResultsTable(await IcebergLakeWriter.open(options));
  }

  /** The outcome this cycle stored already (a retried activity), if any. */
  async storedCycle(productId: string, cycleKey: string): Promise<CycleOutcome | undefined> {
    const rows = await this.writer.select(
      `SELECT figures FROM r WHERE product_id = $1 AND cycle_key = $2 AND rule = '${CYCLE_ROW}' LIMIT 1`,
      [productId, cycleKey],
    );
    return rows[0] ? outcomeOfCycleRow(text(rows[0].figures)) : undefined;
  }

  /** The product's last `limit` cycles that read a snapshot, oldest first. */
  async pastCycles(productId: string, limit: number): Promise<PastCycle[]> {
    const rows = await this.writer.select(
      `SELECT cycle_key, snapshot_id, "rows", CAST(analysed_at AS VARCHAR) AS at_text FROM r ` +
        `WHERE product_id = $1 AND rule = '${CYCLE_ROW}' AND snapshot_id IS NOT NULL ` +
        `ORDER BY analysed_at DESC, cycle_key DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
      [productId],
    );
    return rows
      .map((row) => ({
        cycleKey: text(row.cycle_key),
        snapshotId: text(row.snapshot_id),
        rows: count(row.rows),
        at: text(row.at_text),
      }))
      .reverse();
  }

  /** Per rule, the failing counts of the product's last `limit` cycles (oldest first). */
  async ruleHistory(productId: string, limit: number): Promise<Record<string, number[]>> {
    const rows = await this.writer.select(
      `WITH cycles AS (SELECT cycle_key, analysed_at AS cycle_at FROM r WHERE product_id = $1 AND rule = '${CYCLE_ROW}' AND snapshot_id IS NOT NULL ` +
        `ORDER BY analysed_at DESC, cycle_key DESC LIMIT ${Math.max(1, Math.floor(limit))}) ` +
        `SELECT r.rule, r.failing FROM r JOIN cycles USING (cycle_key) ` +
        `WHERE r.product_id = $1 AND r.outcome IN ('pass', 'fail') ORDER BY cycles.cycle_at, cycles.cycle_key`,
      [productId],
    );
    const history: Record<string, number[]> = {};
    for (const row of rows) {
      const rule = text(row.rule);
      if (rule === CYCLE_ROW) continue;
      (history[rule] ??= []).push(count(row.failing));
    }
    return history;
  }

  /** Whether the table holds this cycle's row now. */
  async hasCycle(productId: string, cycleKey: string): Promise<boolean> {
    const rows = await this.writer.select(
      `SELECT count(*) AS n FROM r WHERE product_id = $1 AND cycle_key = $2 AND rule = '${CYCLE_ROW}'`,
      [productId, cycleKey],
    );
    return count(rows[0]?.n) > 0;
  }

  /** One commit of rows, as they are. */
  async append(rows: readonly ResultRow[]): Promise<void> {
    await this.writer.append(
      columns,
      rows.map((row) => [
        row.productId,
        row.cycleKey,
        row.snapshotId,
        row.rule,
        row.outcome,
        BigInt(Math.max(0, Math.floor(row.failing))),
        BigInt(Math.max(0, Math.floor(row.rows))),
        row.figures,
        row.examples,
        row.summary,
        row.at,
      ]),
    );
  }

  /**
   * One cycle's rows (its `cycle` row among them), stored exactly once. Appends are serialised in
   * this process, and each is read back: DuckDB 1.5.5's Iceberg commits that race another writer's
   * may fail with 409 or, measured here, report success without landing; either is tried again
   * (the read-back first, so a late landing is not written twice).
   */
  async appendCycle(rows: readonly ResultRow[], options: { attempts?: number } = {}): Promise<void> {
    const cycle = rows.find((row) => row.rule === CYCLE_ROW);
    if (!cycle) throw new Error('a cycle is stored with its cycle row');
    const attempts = options.attempts ?? 6;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        await delay(Math.round(100 * attempt * (0.5 + Math.random())));
        if (await this.hasCycle(cycle.productId, cycle.cycleKey)) return;
      }
      try {
        await serialised(this.writer.ref, () => this.append(rows));
      } catch (error) {
        if (!isCommitConflict(error)) throw error;
        lastError = error;
        continue;
      }
      if (await this.hasCycle(cycle.productId, cycle.cycleKey)) return;
    }
    throw new UpstreamUnavailableError(
      'Iceberg',
      `the results of cycle ${cycle.cycleKey} were not stored after ${attempts} attempts (concurrent commits)`,
      lastError,
    );
  }

  close(): void {
    this.writer.close();
  }
}

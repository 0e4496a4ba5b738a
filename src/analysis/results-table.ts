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
import type { RecordKey } from '../signing/record-key';
import { processRecordKey } from '../signing/record-key';

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

export const RESULT_COLUMNS: ReadonlyArray<WriterColumn & { iceberg: string; required: boolean }> = [
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
      fields: RESULT_COLUMNS.map((c, i) => ({
        id: i + 1,
        name: c.name,
        required: c.required,
        type: c.iceberg,
      })),
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
    const missing = RESULT_COLUMNS.filter((c) => !have.has(c.name)).map((c) => c.name);
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

/** Rows are signed for this purpose, each over its own fields (src/signing/record-key.ts). */
export const RESULT_ROW_PURPOSE = 'analysis-result-row';
/** The key in a row's `figures` JSON that holds the row's signature. */
const SIGNATURE_FIELD = '_signature';

/** The fields of a row a signature covers, as text: `analysed_at` is not (the cycle's time is, in its outcome). */
function rowSigningText(row: Omit<ResultRow, 'at'>, figuresBody: string): string {
  return JSON.stringify([
    row.productId,
    row.cycleKey,
    row.snapshotId,
    row.rule,
    row.outcome,
    Math.max(0, Math.floor(row.failing)),
    Math.max(0, Math.floor(row.rows)),
    figuresBody,
    row.examples,
    row.summary,
  ]);
}

/** The row's `figures` with its signature in: what is stored. */
export function signedFigures(row: ResultRow, recordKey: RecordKey): string {
  const figures = JSON.parse(row.figures) as Record<string, unknown>;
  const body = JSON.stringify(figures);
  const signature = recordKey.sign(RESULT_ROW_PURPOSE, rowSigningText(row, body));
  return JSON.stringify({ ...figures, [SIGNATURE_FIELD]: signature });
}

/** A stored row as read: its figures without the signature when the record key signed it, else undefined. */
export function verifiedFigures(row: Omit<ResultRow, 'at'>, recordKey: RecordKey): string | undefined {
  let figures: unknown;
  try {
    figures = JSON.parse(row.figures);
  } catch {
    return undefined;
  }
  if (figures === null || typeof figures !== 'object' || Array.isArray(figures)) return undefined;
  const { [SIGNATURE_FIELD]: signature, ...rest } = figures as Record<string, unknown>;
  const body = JSON.stringify(rest);
  return recordKey.verify(RESULT_ROW_PURPOSE, rowSigningText(row, body), signature) ? body : undefined;
}

/** A row as DuckDB returns it (JSON: BIGINT as strings), back in its typed shape. */
function rowOf(raw: Record<string, unknown>): Omit<ResultRow, 'at'> & { at: string } {
  const snapshot = raw.snapshot_id;
  return {
    productId: text(raw.product_id),
    cycleKey: text(raw.cycle_key),
    snapshotId: snapshot === null || snapshot === undefined ? null : text(snapshot),
    rule: text(raw.rule),
    outcome: text(raw.outcome),
    failing: count(raw.failing),
    rows: count(raw.rows),
    figures: text(raw.figures),
    examples: text(raw.examples),
    summary: text(raw.summary),
    at: text(raw.at_text),
  };
}

const ROW_COLUMNS =
  'product_id, cycle_key, snapshot_id, rule, outcome, failing, "rows", figures, examples, summary, CAST(analysed_at AS VARCHAR) AS at_text';

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

/**
 * The results table. Anyone who can write the lake can append rows, so each row is signed with the
 * worker's record key (in its `figures`), and every read here takes only rows that verify: a row
 * appended by hand is never a stored cycle, a past cycle or a rule's history.
 */
export class AnalysisResultsTable {
  private constructor(
    private readonly writer: IcebergLakeWriter,
    private readonly recordKey: RecordKey,
  ) {}

  static async open(options: {
    extensionDir: string;
    catalog: IcebergConnection;
    table: LakeTable;
    /** Signs and verifies rows (default: this process's, from MESHLOOP_RECORD_KEY_FILE). */
    recordKey?: RecordKey;
  }): Promise<AnalysisResultsTable> {
    return new AnalysisResultsTable(
      await IcebergLakeWriter.open(options),
      options.recordKey ?? processRecordKey(),
    );
  }

  /** Rows of a query over ROW_COLUMNS that the record key signed (figures without the signature). */
  private async verifiedRows(sql: string, values: string[]): Promise<Array<ResultRow>> {
    const rows = (await this.writer.select(sql, values)).map(rowOf);
    return rows.flatMap((row) => {
      const figures = verifiedFigures(row, this.recordKey);
      return figures === undefined ? [] : [{ ...row, figures }];
    });
  }

  /** The outcome this cycle stored (a retried activity, the workflow confirming a signal), if any. */
  async storedCycle(productId: string, cycleKey: string): Promise<CycleOutcome | undefined> {
    // Every cycle row of the key: one appended by hand beside (or before) the real one is skipped.
    const rows = await this.verifiedRows(
      `SELECT ${ROW_COLUMNS} FROM r WHERE product_id = $1 AND cycle_key = $2 AND rule = '${CYCLE_ROW}'`,
      [productId, cycleKey],
    );
    for (const row of rows) {
      const outcome = outcomeOfCycleRow(row.figures);
      if (outcome && outcome.productId === productId && outcome.cycleKey === cycleKey) return outcome;
    }
    return undefined;
  }

  /** The product's last `limit` signed cycles that read a snapshot, oldest first. */
  async pastCycles(productId: string, limit: number): Promise<PastCycle[]> {
    const wanted = Math.max(1, Math.floor(limit));
    const rows = await this.verifiedRows(
      `SELECT ${ROW_COLUMNS} FROM r WHERE product_id = $1 AND rule = '${CYCLE_ROW}' AND snapshot_id IS NOT NULL ` +
        `ORDER BY analysed_at DESC, cycle_key DESC LIMIT ${wanted * 4 + 20}`,
      [productId],
    );
    const seen = new Set<string>();
    const past: PastCycle[] = [];
    for (const row of rows) {
      if (past.length >= wanted || seen.has(row.cycleKey)) continue;
      seen.add(row.cycleKey);
      past.push({ cycleKey: row.cycleKey, snapshotId: row.snapshotId ?? '', rows: row.rows, at: row.at });
    }
    return past.reverse();
  }

  /** Per rule, the failing counts of the product's last `limit` signed cycles (oldest first). */
  async ruleHistory(productId: string, limit: number): Promise<Record<string, number[]>> {
    const cycles = await this.pastCycles(productId, limit);
    const order = new Map(cycles.map((c, i) => [c.cycleKey, i]));
    if (cycles.length === 0) return {};
    const keys = cycles.map((c) => c.cycleKey);
    const placeholders = keys.map((_key, i) => `$${i + 2}`).join(', ');
    const rows = await this.verifiedRows(
      `SELECT ${ROW_COLUMNS} FROM r WHERE product_id = $1 AND cycle_key IN (${placeholders}) ` +
        `AND outcome IN ('pass', 'fail') AND rule <> '${CYCLE_ROW}'`,
      [productId, ...keys],
    );
    const history: Record<string, number[]> = {};
    const inOrder = rows
      .filter((row) => order.has(row.cycleKey))
      .sort((a, b) => (order.get(a.cycleKey) ?? 0) - (order.get(b.cycleKey) ?? 0));
    for (const row of inOrder) (history[row.rule] ??= []).push(row.failing);
    return history;
  }

  /** Whether the table holds this cycle's signed row now. */
  async hasCycle(productId: string, cycleKey: string): Promise<boolean> {
    return (await this.storedCycle(productId, cycleKey)) !== undefined;
  }

  /** One commit of rows, each signed. */
  async append(rows: readonly ResultRow[]): Promise<void> {
    await this.writer.append(
      RESULT_COLUMNS,
      rows.map((row) => [
        row.productId,
        row.cycleKey,
        row.snapshotId,
        row.rule,
        row.outcome,
        BigInt(Math.max(0, Math.floor(row.failing))),
        BigInt(Math.max(0, Math.floor(row.rows))),
        signedFigures(row, this.recordKey),
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

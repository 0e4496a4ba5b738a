import { fileURLToPath } from 'node:url';
import type { DuckDBConnection, DuckDBInstance as DuckDBInstanceType } from '@duckdb/node-api';
import { DuckDBInstance, StatementType } from '@duckdb/node-api';
import { MeshloopError } from '../../domain/errors';
import type { IcebergConnection } from '../../config';
import type { IcebergTableRef } from '../../domain/materialization';
import { attachIcebergCatalog } from './attach';

/**
 * Read-only SQL over Iceberg tables in embedded DuckDB, through the REST catalog. Each reader is
 * opened for a set of tables and then locked down: the catalog is attached READ_ONLY, DuckDB may
 * touch no file outside those tables' folders (`enable_external_access = false` with
 * `allowed_directories`), and the configuration is locked so a query cannot undo that. Queries pass a
 * statement-kind check first: exactly one SELECT. The table being asked about is `t`, at its current
 * snapshot or a pinned one (the analysis agent pins one per cycle).
 */

export class LakeQueryError extends MeshloopError {
  constructor(message: string, cause?: unknown) {
    super('LakeQueryRefused', message, false, { cause });
  }
}

export type LakeTable = Readonly<{
  ref: IcebergTableRef;
  /** The table's location from its metadata (`file:/…/warehouse/ns/name`); reads are confined to it. */
  location: string;
}>;

export type LakeOptions = Readonly<{
  /** From `ensureDuckDbExtensions`. */
  extensionDir: string;
  /** The Iceberg REST catalog (`config.iceberg`): URL, warehouse, credentials, object store. */
  catalog: IcebergConnection;
  /** The tables this reader may read. */
  tables: readonly LakeTable[];
  /** DuckDB's memory limit, e.g. '1GB'. */
  memoryLimit?: string;
  threads?: number;
}>;

export type QueryResult = Readonly<{
  columns: readonly string[];
  /** Rows as JSON-safe objects (BIGINT and DECIMAL as strings, timestamps as text). */
  rows: ReadonlyArray<Record<string, unknown>>;
  /** More rows existed than `maxRows`. */
  truncated: boolean;
}>;

export type QueryOptions = Readonly<{
  /** The table the query calls `t`. */
  table: IcebergTableRef;
  /** Read the table as of this snapshot (exact decimal id) instead of the current one. */
  snapshotId?: string;
  /** At most this many rows come back (default 10,000). */
  maxRows?: number;
  /**
   * More tables of this reader, each under its own name (a lower-case identifier other than `t`),
   * for queries over two tables (the analyst measuring how keys overlap).
   */
  alsoAs?: Readonly<Record<string, Readonly<{ table: IcebergTableRef; snapshotId?: string }>>>;
}>;

export type LakeSnapshot = Readonly<{
  snapshotId: string;
  sequenceNumber: number;
  committedAt: string;
  operation: string;
}>;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteString = (text: string) => `'${text.replace(/'/g, "''")}'`;
const CATALOG = 'lake';

/** Reject anything but one SELECT (after DuckDB's own parser has split and typed the statements). */
export async function assertSingleSelect(connection: DuckDBConnection, sql: string): Promise<void> {
  let extracted;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    throw new LakeQueryError(`the query does not parse: ${(error as Error).message}`, error);
  }
  if (extracted.count !== 1)
    throw new LakeQueryError(`one SELECT statement expected, got ${extracted.count}`);
  let prepared;
  try {
    prepared = await extracted.prepare(0);
  } catch (error) {
    throw new LakeQueryError((error as Error).message, error);
  }
  if (prepared.statementType !== StatementType.SELECT) {
    throw new LakeQueryError(
      `only SELECT is allowed (this is a ${StatementType[prepared.statementType] ?? 'other'} statement)`,
    );
  }
}

export class IcebergLake {
  private constructor(
    private readonly instance: DuckDBInstanceType,
    private readonly connection: DuckDBConnection,
    private readonly tables: readonly LakeTable[],
  ) {}

  static async open(options: LakeOptions): Promise<IcebergLake> {
    const instance = await DuckDBInstance.create(':memory:', {
      extension_directory: options.extensionDir,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: options.memoryLimit ?? '1GB',
      threads: String(options.threads ?? 2),
    });
    const connection = await instance.connect();
    try {
      await attachIcebergCatalog(connection, CATALOG, options.catalog, { readOnly: true });
      const directories = options.tables.map((table) => localDirectoryOf(table.location));
      await connection.run(`SET allowed_directories = [${directories.map(quoteString).join(', ')}]`);
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    } catch (error) {
      connection.closeSync();
      instance.closeSync();
      throw error;
    }
    return new IcebergLake(instance, connection, options.tables);
  }

  private tableSql(ref: IcebergTableRef): string {
    if (!this.tables.some((table) => sameTable(table.ref, ref))) {
      throw new LakeQueryError(`${ref.namespace}.${ref.name} is not a table this reader was opened for`);
    }
    return `${CATALOG}.${quoteIdent(ref.namespace)}.${quoteIdent(ref.name)}`;
  }

  private async defineView(name: string, table: IcebergTableRef, snapshot: string | undefined) {
    if (snapshot !== undefined && !/^-?\d{1,20}$/.test(snapshot)) {
      throw new LakeQueryError(`'${snapshot}' is not a snapshot id`);
    }
    await this.connection.run(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(name)} AS SELECT * FROM ${this.tableSql(table)}${
        snapshot === undefined ? '' : ` AT (VERSION => ${snapshot})`
      }`,
    );
  }

  /** Run one SELECT where `t` is the table (at `snapshotId` when given). */
  async query(sql: string, options: QueryOptions): Promise<QueryResult> {
    await this.defineView('t', options.table, options.snapshotId);
    for (const [name, other] of Object.entries(options.alsoAs ?? {})) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name) || name === 't')
        throw new LakeQueryError(`'${name}' cannot name a table in a query`);
      await this.defineView(name, other.table, other.snapshotId);
    }
    // Checked after `t` exists: DuckDB binds the statement to type it.
    await assertSingleSelect(this.connection, sql);
    const maxRows = options.maxRows ?? 10_000;
    const reader = await this.connection.runAndReadUntil(sql, maxRows + 1);
    const rows = reader.getRowObjectsJson();
    return {
      columns: reader.columnNames(),
      rows: rows.slice(0, maxRows),
      truncated: rows.length > maxRows || !reader.done,
    };
  }

  /** Query-at-snapshot for callers that pin one (the analysis agent's quality checks). */
  queryAtSnapshot(
    table: IcebergTableRef,
    snapshotId: string,
    sql: string,
    maxRows?: number,
  ): Promise<QueryResult> {
    return this.query(sql, { table, snapshotId, maxRows });
  }

  /** The table's snapshots as DuckDB sees them, oldest first. */
  async snapshots(table: IcebergTableRef): Promise<LakeSnapshot[]> {
    const reader = await this.connection.runAndReadAll(
      `SELECT snapshot_id::VARCHAR AS snapshot_id, sequence_number, timestamp_ms::VARCHAR AS committed_at, operation FROM iceberg_snapshots(${this.tableSql(table)}) ORDER BY sequence_number`,
    );
    return reader.getRowObjectsJson().map((row) => ({
      snapshotId: row.snapshot_id as string,
      sequenceNumber: Number(row.sequence_number),
      committedAt: row.committed_at as string,
      operation: (row.operation as string | null) ?? '',
    }));
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function sameTable(a: IcebergTableRef, b: IcebergTableRef): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

/** `file:/a/b` or `file:///a/b` → `/a/b`; other schemes (object stores) are passed as they are. */
export function localDirectoryOf(location: string): string {
  if (location.startsWith('file:')) {
    return location.startsWith('file://') ? fileURLToPath(location) : location.slice('file:'.length);
  }
  return location;
}

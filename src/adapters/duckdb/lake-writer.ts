import type { DuckDBConnection, DuckDBInstance as DuckDBInstanceType, DuckDBValue } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import type { IcebergConnection } from '../../config';
import type { IcebergTableRef } from '../../domain/materialization';
import { attachIcebergCatalog } from './attach';
import type { LakeTable } from './lake';
import { localDirectoryOf } from './lake';

/**
 * Appends to one Iceberg table of Meshloop's own (the analysis results) through the REST catalog,
 * in its own DuckDB instance: never the locked read-only reader that runs product SQL. Only this
 * code's statements run here; still, DuckDB may touch no file outside the table's folder and the
 * configuration is locked. Each `append` is one INSERT, one Iceberg commit (one snapshot).
 */

export type LakeWriterOptions = Readonly<{
  extensionDir: string;
  /** The Iceberg REST catalog (`config.iceberg`). */
  catalog: IcebergConnection;
  table: LakeTable;
  memoryLimit?: string;
}>;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteString = (text: string) => `'${text.replace(/'/g, "''")}'`;
const CATALOG = 'lake';

/** A column of an append: its name and the DuckDB type its parameter is cast to. */
export type WriterColumn = Readonly<{ name: string; type: 'VARCHAR' | 'BIGINT' | 'TIMESTAMPTZ' }>;

export class IcebergLakeWriter {
  private constructor(
    private readonly instance: DuckDBInstanceType,
    private readonly connection: DuckDBConnection,
    readonly ref: IcebergTableRef,
  ) {}

  static async open(options: LakeWriterOptions): Promise<IcebergLakeWriter> {
    const instance = await DuckDBInstance.create(':memory:', {
      extension_directory: options.extensionDir,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: options.memoryLimit ?? '256MB',
      threads: '1',
    });
    const connection = await instance.connect();
    try {
      await attachIcebergCatalog(connection, CATALOG, options.catalog, { readOnly: false });
      await connection.run(
        `SET allowed_directories = [${quoteString(localDirectoryOf(options.table.location))}]`,
      );
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    } catch (error) {
      connection.closeSync();
      instance.closeSync();
      throw error;
    }
    return new IcebergLakeWriter(instance, connection, options.table.ref);
  }

  private get tableSql(): string {
    return `${CATALOG}.${quoteIdent(this.ref.namespace)}.${quoteIdent(this.ref.name)}`;
  }

  /** Read the table (current snapshot) with a query where `r` names it; parameters as `$1`, ... */
  async select(sql: string, values: DuckDBValue[] = []): Promise<Array<Record<string, unknown>>> {
    // A query with its own WITH clause continues ours.
    const rest = /^\s*WITH\s/i.test(sql) ? `, ${sql.replace(/^\s*WITH\s/i, '')}` : ` ${sql}`;
    const reader = await this.connection.runAndReadAll(
      `WITH r AS (SELECT * FROM ${this.tableSql})${rest}`,
      values,
    );
    return reader.getRowObjectsJson();
  }

  /** Append rows in one commit; values are bound as parameters, never spliced into the SQL. */
  async append(columns: readonly WriterColumn[], rows: ReadonlyArray<readonly DuckDBValue[]>): Promise<void> {
    if (rows.length === 0) return;
    const values: DuckDBValue[] = [];
    const tuples = rows.map((row) => {
      if (row.length !== columns.length)
        throw new Error(`a row of ${row.length} values for ${columns.length} columns`);
      return `(${columns
        .map((column, i) => {
          values.push(row[i] as DuckDBValue);
          return `CAST($${values.length} AS ${column.type})`;
        })
        .join(', ')})`;
    });
    await this.connection.run(
      `INSERT INTO ${this.tableSql} (${columns.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${tuples.join(', ')}`,
      values,
    );
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

import { ensureDuckDbExtensions } from '../adapters/duckdb/extensions';
import type { QueryResult } from '../adapters/duckdb/lake';
import { IcebergLake } from '../adapters/duckdb/lake';
import type { Snapshot } from '../adapters/iceberg';
import { IcebergCatalogClient, IcebergCatalogError } from '../adapters/iceberg';
import type { MeshloopConfig } from '../config';
import { MeshloopError } from '../domain/errors';
import type { IcebergTableRef } from '../domain/materialization';
import type { TableStatus } from '../domain/materialization';
import { rowCountOf, tableStatusOf } from '../domain/materialization';

/** `meshloop query` and `meshloop snapshots`: a product's Iceberg table, read-only, in DuckDB. */

export class ProductQueryError extends MeshloopError {
  constructor(message: string) {
    super('ProductQueryFailed', message, false);
  }
}

export function productTableOf(productId: string, catalog: string): IcebergTableRef {
  const match = /^([^.\s]+)\.([^.\s]+)$/.exec(productId.trim());
  if (!match) throw new ProductQueryError(`'${productId}' is not a product id (<domain>.<name>)`);
  return { catalog, namespace: match[1]!, name: match[2]! };
}

/**
 * The snapshot `asOf` names: an exact snapshot id, or an ISO time (the newest snapshot committed at
 * or before it). Pure, for tests.
 */
export function resolveAsOf(snapshots: readonly Snapshot[], asOf: string): Snapshot {
  const text = asOf.trim();
  if (/^-?\d+$/.test(text)) {
    const found = snapshots.find((snapshot) => snapshot.snapshotId === text);
    if (!found) throw new ProductQueryError(`no snapshot ${text} (see \`meshloop snapshots\`)`);
    return found;
  }
  const time = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time)) {
    throw new ProductQueryError(
      `--as-of '${asOf}' is neither a snapshot id nor an ISO time like 2026-12-01T10:00:00Z`,
    );
  }
  const before = [...snapshots]
    .filter((snapshot) => snapshot.timestampMs <= time)
    .sort((a, b) => b.timestampMs - a.timestampMs);
  if (!before[0])
    throw new ProductQueryError(`the table has no snapshot at or before ${new Date(time).toISOString()}`);
  return before[0];
}

async function loadProductTable(config: MeshloopConfig, productId: string) {
  const ref = productTableOf(productId, config.materialize.catalog);
  const catalog = IcebergCatalogClient.of(config.iceberg);
  try {
    return { ref, loaded: await catalog.loadTable({ namespace: [ref.namespace], name: ref.name }) };
  } catch (error) {
    if (error instanceof IcebergCatalogError && error.notFound) {
      throw new ProductQueryError(
        `product ${productId} has no Iceberg table yet (${ref.catalog}.${ref.namespace}.${ref.name}); is it active?`,
      );
    }
    throw error;
  }
}

export type ProductQueryAnswer = QueryResult &
  Readonly<{ table: string; snapshotId?: string; committedAt?: string }>;

export async function queryProduct(
  config: MeshloopConfig,
  productId: string,
  options: { sql?: string; asOf?: string; maxRows?: number; progress?: (message: string) => void },
): Promise<ProductQueryAnswer> {
  const { ref, loaded } = await loadProductTable(config, productId);
  const snapshot = options.asOf ? resolveAsOf(loaded.snapshots, options.asOf) : loaded.currentSnapshot;
  const table = `${ref.catalog}.${ref.namespace}.${ref.name}`;
  if (!snapshot) {
    throw new ProductQueryError(
      `${table} has no snapshot yet: nothing has been committed (wait for the commit interval)`,
    );
  }
  const lake = await IcebergLake.open({
    extensionDir: await ensureDuckDbExtensions(config.stack.cacheDir, options.progress),
    catalog: config.iceberg,
    tables: [{ ref, location: loaded.metadata.location }],
  });
  try {
    const result = await lake.query(options.sql ?? 'SELECT * FROM t LIMIT 20', {
      table: ref,
      snapshotId: snapshot.snapshotId,
      maxRows: options.maxRows,
    });
    return {
      ...result,
      table,
      snapshotId: snapshot.snapshotId,
      committedAt: new Date(snapshot.timestampMs).toISOString(),
    };
  } finally {
    lake.close();
  }
}

export type SnapshotLine = Readonly<{
  snapshotId: string;
  parentSnapshotId?: string;
  committedAt: string;
  operation: string;
  addedRecords?: number;
  totalRecords?: number;
  schemaId?: number;
  current: boolean;
}>;

/** The table's snapshots, oldest first, with the catalog's exact ids and counters. */
export async function productSnapshots(
  config: MeshloopConfig,
  productId: string,
): Promise<{ table: string; snapshots: SnapshotLine[] }> {
  const { ref, loaded } = await loadProductTable(config, productId);
  return {
    table: `${ref.catalog}.${ref.namespace}.${ref.name}`,
    snapshots: loaded.snapshots.map((snapshot) => ({
      snapshotId: snapshot.snapshotId,
      parentSnapshotId: snapshot.parentSnapshotId,
      committedAt: new Date(snapshot.timestampMs).toISOString(),
      operation: snapshot.summary.operation ?? '',
      addedRecords:
        snapshot.summary['added-records'] === undefined
          ? undefined
          : Number(snapshot.summary['added-records']),
      totalRecords: rowCountOf(snapshot.summary),
      schemaId: snapshot.schemaId,
      current: snapshot.snapshotId === loaded.currentSnapshot?.snapshotId,
    })),
  };
}

/**
 * The live status of a product's table for `meshloop show`: table, current snapshot, row count,
 * last commit and freshness (computed by `tableStatusOf`); undefined when it has no table.
 */
export async function productTableStatus(
  config: MeshloopConfig,
  productId: string,
  slaFreshnessMs?: number,
): Promise<TableStatus | undefined> {
  const ref = productTableOf(productId, config.materialize.catalog);
  const catalog = IcebergCatalogClient.of(config.iceberg, 5000);
  try {
    const loaded = await catalog.loadTable({ namespace: [ref.namespace], name: ref.name });
    return tableStatusOf({
      table: ref,
      provider: 'flink',
      snapshots: loaded.snapshots.length,
      current: loaded.currentSnapshot,
      now: Date.now(),
      slaFreshnessMs,
    });
  } catch (error) {
    if (error instanceof IcebergCatalogError && error.notFound) return undefined;
    throw error;
  }
}

/** One line for people: `lake.orders.x  snapshot 123…  1,200 rows  committed 12 s ago`. */
export function formatTableStatus(status: TableStatus): string {
  if (!status.snapshotId) return `${status.table}  (no commit yet)`;
  const ago = Math.round((status.freshnessMs ?? 0) / 1000);
  return (
    `${status.table}  snapshot ${status.snapshotId}  ${status.rowCount ?? '?'} rows  ` +
    `last commit ${status.lastCommitAt} (${ago} s ago${status.withinSla === false ? ', older than the SLA' : ''})  ${status.snapshots} snapshots`
  );
}

import { IcebergLake } from '../adapters/duckdb/lake';
import type { IcebergCatalogClient } from '../adapters/iceberg';
import type { IcebergConnection } from '../config';
import type { MaterializationPlan } from '../domain/materialization';
import { catalogNameOf } from './iceberg-table';
import type { BadRecord } from './types';

/** The earliest bad record of a product (lowest offset), read from its dead-letter table with DuckDB. */
export function firstBadRecordReader(deps: {
  catalog: IcebergCatalogClient;
  extensionDir: () => Promise<string>;
  icebergConnection: IcebergConnection;
}) {
  return async (plan: MaterializationPlan): Promise<BadRecord | undefined> => {
    const loaded = await deps.catalog.loadTable(catalogNameOf(plan.deadLetterTable));
    if (!loaded.currentSnapshot) return undefined;
    const lake = await IcebergLake.open({
      extensionDir: await deps.extensionDir(),
      catalog: deps.icebergConnection,
      tables: [{ ref: plan.deadLetterTable, location: loaded.metadata.location }],
      threads: 1,
    });
    try {
      const { rows } = await lake.query(
        `SELECT topic, "partition", "offset", error FROM t WHERE error NOT LIKE 'tombstone%' ORDER BY "offset", "partition" LIMIT 1`,
        { table: plan.deadLetterTable, snapshotId: loaded.currentSnapshot.snapshotId },
      );
      const row = rows[0];
      if (!row) return undefined;
      return {
        topic: String(row.topic),
        partition: Number(row.partition),
        offset: Number(row.offset),
        error: String(row.error),
      };
    } finally {
      lake.close();
    }
  };
}

import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Producer } from 'kafkajs';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import type { MeshloopConfig } from '../../src/config';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { Stage } from '../../src/domain/lifecycle';
import { materializationPlanOf } from '../../src/domain/materialization';
import type { ProductSpec } from '../../src/domain/spec';
import { ensureProductTable } from '../../src/materialize/iceberg-table';

/**
 * Products with Iceberg tables, fast: the table created as the materialization creates it (same
 * schema, partitioning and properties), its rows written by DuckDB's Iceberg INSERT through the
 * REST catalog (each statement one snapshot), and its descriptor published to a catalog topic.
 */

export async function createProductTable(config: MeshloopConfig, spec: ProductSpec): Promise<void> {
  const plan = materializationPlanOf(spec, 1, config.materialize);
  await ensureProductTable(new IcebergCatalogClient({ url: config.iceberg.catalogUrl }), plan);
}

/** A writable DuckDB attached to the catalog as `lake`, for test data only. */
export async function openLakeWriter(config: MeshloopConfig): Promise<{
  connection: DuckDBConnection;
  close: () => void;
}> {
  const instance = await DuckDBInstance.create(':memory:', {
    extension_directory: await ensureDuckDbExtensions(config.stack.cacheDir),
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const connection = await instance.connect();
  await connection.run('LOAD iceberg');
  await connection.run(
    `ATTACH 'warehouse' AS lake (TYPE iceberg, ENDPOINT '${config.iceberg.catalogUrl}', AUTHORIZATION_TYPE 'none')`,
  );
  return {
    connection,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** `lake."domain"."name"`: the product's table in the writer's SQL. */
export const lakeTableSql = (spec: Pick<ProductSpec, 'domain' | 'name'>) =>
  `lake."${spec.domain}"."${spec.name}"`;

export async function publishProduct(
  producer: Producer,
  spec: ProductSpec,
  stage: Stage,
  topic: string,
): Promise<void> {
  // A live product carries the approval that moved it to provisioning (what product inputs check).
  const at = new Date().toISOString();
  const decisions = ['active', 'deprecated', 'degraded'].includes(stage)
    ? [{ by: 'alice', action: 'approve' as const, at, revision: 1, stage: 'provisioning' as const }]
    : [];
  await publishCatalogRecord(
    producer,
    toCatalogDescriptor({ spec, stage, decisions, resources: [], updatedAt: new Date(), version: 1 }),
    topic,
  );
}

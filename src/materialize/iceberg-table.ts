import type { IcebergCatalogClient, LoadedTable, TableName } from '../adapters/iceberg';
import { IcebergCatalogError } from '../adapters/iceberg';
import { SchemaIncompatibleError } from '../domain/errors';
import type { IcebergTableRef, MaterializationPlan } from '../domain/materialization';
import { checkSchemaEvolution, icebergTypeOf, tablePropertiesOf, WriteMode } from '../domain/materialization';
import type { FieldType } from '../domain/spec';

/**
 * The product's Iceberg tables through the REST catalog: created from the spec's schema (format v2,
 * partitioned by day of the event time, the product id and revision as properties), idempotent by
 * name, and evolved by added nullable columns when a later revision asks for them.
 */

export const catalogNameOf = (ref: IcebergTableRef): TableName => ({
  namespace: [ref.namespace],
  name: ref.name,
});

type IcebergField = { id: number; name: string; required: boolean; type: string };

/** Iceberg type names back to spec types, to compare an existing table with the plan. */
const specTypeOfIceberg = (type: unknown): FieldType | undefined =>
  (Object.entries(icebergTypeOf).find(
    ([, iceberg]) => iceberg.replace(/\s/g, '') === String(type).replace(/\s/g, ''),
  )?.[0] ?? undefined) as FieldType | undefined;

export type EnsuredTable = Readonly<{
  table: string;
  tableUuid: string;
  created: boolean;
  /** Columns added to an existing table (schema evolution), in order. */
  addedColumns: readonly string[];
  currentSchemaId: number;
}>;

export function productTableRequest(plan: MaterializationPlan) {
  const fields: IcebergField[] = plan.fields.map((field, i) => ({
    id: i + 1,
    name: field.name,
    // Identifier (key) fields must be required in Iceberg; a key is never null anyway.
    required: !field.nullable || (plan.writeMode === WriteMode.upsert && plan.key.includes(field.name)),
    type: icebergTypeOf[field.type],
  }));
  const partitionSource = fields.find((field) => field.name === plan.partitionDayField);
  return {
    name: plan.table.name,
    schema: {
      type: 'struct',
      'schema-id': 0,
      fields,
      'identifier-field-ids':
        plan.writeMode === WriteMode.upsert
          ? fields.filter((field) => plan.key.includes(field.name)).map((field) => field.id)
          : [],
    },
    partitionSpec: {
      'spec-id': 0,
      fields: partitionSource
        ? [
            {
              'source-id': partitionSource.id,
              'field-id': 1000,
              name: `${partitionSource.name}_day`,
              transform: 'day',
            },
          ]
        : [],
    },
    properties: tablePropertiesOf(plan),
  };
}

export function deadLetterTableRequest(plan: MaterializationPlan) {
  const columns: Array<[string, string, boolean]> = [
    ['topic', 'string', true],
    ['partition', 'int', true],
    ['offset', 'long', true],
    ['kafka_timestamp', 'timestamptz', false],
    ['error', 'string', true],
    // The record itself with `log`; null with `skip` (counted by coordinates only).
    ['payload', 'string', false],
  ];
  return {
    name: plan.deadLetterTable.name,
    schema: {
      type: 'struct',
      'schema-id': 0,
      fields: columns.map(([name, type, required], i) => ({ id: i + 1, name, type, required })),
    },
    partitionSpec: { 'spec-id': 0, fields: [] },
    properties: {
      'format-version': '2',
      'meshloop.product-id': plan.productId,
      'meshloop.dead-letter-of': plan.table.name,
      'history.expire.max-snapshot-age-ms': String(plan.snapshotRetentionMs),
    },
  };
}

/** Create the table, or find it (same product) and add the plan's new nullable columns. */
export async function ensureProductTable(
  catalog: IcebergCatalogClient,
  plan: MaterializationPlan,
): Promise<EnsuredTable> {
  const name = catalogNameOf(plan.table);
  const display = `${plan.table.catalog}.${plan.table.namespace}.${plan.table.name}`;
  await catalog.ensureNamespace(name.namespace, { 'meshloop.domain': plan.table.namespace });
  let created = false;
  let loaded: LoadedTable;
  try {
    loaded = await catalog.createTable(name.namespace, productTableRequest(plan));
    created = true;
  } catch (error) {
    if (!(error instanceof IcebergCatalogError && error.status === 409)) throw error;
    loaded = await catalog.loadTable(name);
  }
  const owner = loaded.metadata.properties?.['meshloop.product-id'];
  if (owner !== plan.productId) {
    throw new SchemaIncompatibleError(
      `Iceberg table ${display} exists and belongs to ${owner ? `product ${owner}` : 'no Meshloop product'}, not ${plan.productId}`,
    );
  }
  const addedColumns = created ? [] : await evolveTable(catalog, name, loaded, plan, display);
  if (!created) {
    await catalog.commitTable(name, {
      requirements: [],
      updates: [{ action: 'set-properties', updates: tablePropertiesOf(plan) }],
    });
  }
  const after = addedColumns.length > 0 ? await catalog.loadTable(name) : loaded;
  await ensureDeadLetterTable(catalog, plan);
  return {
    table: display,
    tableUuid: after.metadata['table-uuid'],
    created,
    addedColumns,
    currentSchemaId: after.metadata['current-schema-id'],
  };
}

async function ensureDeadLetterTable(
  catalog: IcebergCatalogClient,
  plan: MaterializationPlan,
): Promise<void> {
  try {
    await catalog.createTable([plan.deadLetterTable.namespace], deadLetterTableRequest(plan));
  } catch (error) {
    if (!(error instanceof IcebergCatalogError && error.status === 409)) throw error;
  }
}

/** `ALTER TABLE … ADD` through the catalog: a new schema with the added columns, committed atomically. */
async function evolveTable(
  catalog: IcebergCatalogClient,
  name: TableName,
  loaded: LoadedTable,
  plan: MaterializationPlan,
  display: string,
): Promise<string[]> {
  const current = loaded.currentSchema;
  if (!current) throw new SchemaIncompatibleError(`Iceberg table ${display} has no current schema`);
  const existing = current.fields.map((field) => ({
    name: field.name,
    type: specTypeOfIceberg(field.type) ?? 'string',
    nullable: !field.required,
  }));
  const identifierIds = (current as { 'identifier-field-ids'?: number[] })['identifier-field-ids'] ?? [];
  const existingKey = current.fields
    .filter((field) => identifierIds.includes(field.id))
    .map((field) => field.name);
  const change = checkSchemaEvolution(
    { fields: existing, key: existingKey },
    { fields: plan.fields, key: plan.writeMode === WriteMode.upsert ? plan.key : [] },
  );
  if (!change.compatible) {
    throw new SchemaIncompatibleError(
      `Iceberg table ${display} cannot take the new schema: ${change.problems.join('; ')}`,
    );
  }
  if (change.added.length === 0) return [];
  const lastColumnId = Number(
    loaded.metadata['last-column-id'] ?? Math.max(...current.fields.map((f) => f.id)),
  );
  const newFields = change.added.map((field, i) => ({
    id: lastColumnId + 1 + i,
    name: field.name,
    required: false,
    type: icebergTypeOf[field.type],
  }));
  const newSchemaId = Math.max(...loaded.metadata.schemas.map((schema) => schema['schema-id'])) + 1;
  await catalog.commitTable(name, {
    requirements: [
      { type: 'assert-current-schema-id', 'current-schema-id': current['schema-id'] },
      { type: 'assert-last-assigned-field-id', 'last-assigned-field-id': lastColumnId },
    ],
    updates: [
      {
        action: 'add-schema',
        schema: {
          type: 'struct',
          'schema-id': newSchemaId,
          'identifier-field-ids': identifierIds,
          fields: [...current.fields, ...newFields],
        },
        'last-column-id': lastColumnId + newFields.length,
      },
      { action: 'set-current-schema', 'schema-id': -1 },
    ],
  });
  return newFields.map((field) => field.name);
}

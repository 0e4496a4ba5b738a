export { IcebergCatalogClient, IcebergCatalogError, parseIcebergJson } from './catalog';
export type {
  LoadedTable,
  NamespaceName,
  SchemaField,
  Snapshot,
  TableMetadata,
  TableName,
  TableSchema,
} from './catalog';

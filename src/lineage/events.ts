import { createHash } from 'node:crypto';

/**
 * OpenLineage run events for product jobs and analysis cycles, built as plain JSON. Pure: no
 * clock, no I/O (the caller passes the time), so every event can be unit-tested and validated
 * against the OpenLineage schema. Facet schema URLs are the versions openlineage-python 1.54 carries.
 */

export const OPENLINEAGE_RUN_EVENT_SCHEMA =
  'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
/** Who produced an event (OpenLineage `producer`, a URI). */
export const MESHLOOP_PRODUCER = 'https://github.com/meshloop/meshloop';

const facetUrl = (file: string, version: string) =>
  `https://openlineage.io/spec/facets/${version}/${file}.json#/$defs/${file}`;

export const FACET_SCHEMAS = {
  schema: facetUrl('SchemaDatasetFacet', '1-2-0'),
  columnLineage: facetUrl('ColumnLineageDatasetFacet', '1-2-0'),
  symlinks: facetUrl('SymlinksDatasetFacet', '1-0-1'),
  catalog: facetUrl('CatalogDatasetFacet', '1-1-0'),
  errorMessage: facetUrl('ErrorMessageRunFacet', '1-0-1'),
  jobType: facetUrl('JobTypeJobFacet', '2-0-4'),
  sql: facetUrl('SQLJobFacet', '1-1-0'),
  inputStatistics: facetUrl('InputStatisticsInputDatasetFacet', '1-0-0'),
  outputStatistics: facetUrl('OutputStatisticsOutputDatasetFacet', '1-0-2'),
  dataQualityAssertions: facetUrl('DataQualityAssertionsDatasetFacet', '1-1-0'),
  dataQualityMetrics: facetUrl('DataQualityMetricsInputDatasetFacet', '1-0-3'),
} as const;

export type EventType = 'START' | 'RUNNING' | 'COMPLETE' | 'ABORT' | 'FAIL';

type Facet = Readonly<{ _producer: string; _schemaURL: string }> & Readonly<Record<string, unknown>>;
type Facets = Readonly<Record<string, Facet>>;

export type Dataset = Readonly<{ namespace: string; name: string; facets: Facets }>;
export type InputDataset = Dataset & Readonly<{ inputFacets?: Facets }>;
export type OutputDataset = Dataset & Readonly<{ outputFacets?: Facets }>;

export type RunEvent = Readonly<{
  eventType: EventType;
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: Readonly<{ runId: string; facets?: Facets }>;
  job: Readonly<{ namespace: string; name: string; facets?: Facets }>;
  inputs: readonly InputDataset[];
  outputs: readonly OutputDataset[];
}>;

/** Where the mesh's datasets live, as OpenLineage names them. */
export type LineageNaming = Readonly<{
  /** The job namespace (`meshloop` unless configured). */
  namespace: string;
  producer: string;
  /** The first Kafka bootstrap server, `host:port`. */
  kafkaBootstrap: string;
  /** The Iceberg REST catalog's URL and name, and its warehouse as configured. */
  iceberg: Readonly<{ catalogUri: string; catalogName: string; warehouse?: string }>;
}>;

export type Column = Readonly<{ name: string; type: string; description?: string }>;

const facet = (naming: LineageNaming, schemaURL: string, body: Record<string, unknown>): Facet => ({
  _producer: naming.producer,
  _schemaURL: schemaURL,
  ...body,
});

/**
 * A UUID (version 5 layout, SHA-1 over the parts) that is the same for the same parts: a retried
 * activity sends the run id its first attempt sent.
 */
export function stableRunId(...parts: readonly (string | number)[]): string {
  const hex = createHash('sha1')
    .update(`meshloop-openlineage\u0000${parts.join('\u0000')}`)
    .digest('hex');
  const variant = ((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}

/** Kafka: namespace `kafka://{bootstrap host}:{port}`, name the topic (OpenLineage naming). */
export function kafkaDatasetId(naming: LineageNaming, topic: string): { namespace: string; name: string } {
  return { namespace: `kafka://${naming.kafkaBootstrap}`, name: topic };
}

/**
 * Iceberg: the table's location, named as its storage is (`s3://{bucket}` + object key, `file` +
 * path), as OpenLineage's Spark and Flink integrations name Iceberg tables; the catalog's own
 * name for it goes in the symlinks facet. Without a location (not loaded yet): the catalog's URI
 * and `<namespace>.<table>`.
 */
export function icebergDatasetId(
  naming: LineageNaming,
  table: Readonly<{ namespace: string; name: string }>,
  location: string | undefined,
): { namespace: string; name: string } {
  if (location) {
    const url = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(location);
    if (url && url[1] && url[1].toLowerCase() !== 'file') {
      const scheme = url[1].toLowerCase().replace(/^s3[an]$/, 's3');
      return { namespace: `${scheme}://${url[2] ?? ''}`, name: (url[3] ?? '/').replace(/^\/+/, '') || '/' };
    }
    const localPath = location.replace(/^file:(\/\/)?/i, '');
    if (localPath.startsWith('/')) return { namespace: 'file', name: localPath };
  }
  return { namespace: naming.iceberg.catalogUri, name: `${table.namespace}.${table.name}` };
}

export function schemaFacet(naming: LineageNaming, columns: readonly Column[]): Facet {
  return facet(naming, FACET_SCHEMAS.schema, {
    fields: columns.map((c) => ({
      name: c.name,
      type: c.type,
      ...(c.description ? { description: c.description } : {}),
    })),
  });
}

export function kafkaDataset(naming: LineageNaming, topic: string, columns: readonly Column[]): Dataset {
  return { ...kafkaDatasetId(naming, topic), facets: { schema: schemaFacet(naming, columns) } };
}

export function icebergDataset(
  naming: LineageNaming,
  table: Readonly<{ namespace: string; name: string }>,
  location: string | undefined,
  columns: readonly Column[],
): Dataset {
  const id = icebergDatasetId(naming, table, location);
  const logical = `${table.namespace}.${table.name}`;
  const { catalogUri, catalogName, warehouse } = naming.iceberg;
  const symlinked = id.namespace !== catalogUri;
  return {
    ...id,
    facets: {
      schema: schemaFacet(naming, columns),
      ...(symlinked
        ? {
            symlinks: facet(naming, FACET_SCHEMAS.symlinks, {
              identifiers: [{ namespace: catalogUri, name: logical, type: 'TABLE' }],
            }),
          }
        : {}),
      catalog: facet(naming, FACET_SCHEMAS.catalog, {
        framework: 'iceberg',
        type: 'rest',
        name: catalogName,
        metadataUri: catalogUri,
        ...(warehouse ? { warehouseUri: warehouse } : {}),
      }),
    },
  };
}

/** One output column's origins: `input` is the alias the SQL reads the input by. */
export type ColumnOrigins = Readonly<{
  column: string;
  from: ReadonlyArray<Readonly<{ input: string; field: string }>>;
}>;

/**
 * The column-lineage facet of an output dataset from the SQL guard's lineage; `inputs` resolves
 * each alias to its dataset. An origin whose alias is unknown is left out (never guessed).
 */
export function columnLineageFacet(
  naming: LineageNaming,
  lineage: readonly ColumnOrigins[],
  inputs: ReadonlyMap<string, { namespace: string; name: string }>,
): Facet {
  const fields: Record<string, { inputFields: Array<{ namespace: string; name: string; field: string }> }> =
    {};
  for (const column of lineage) {
    const inputFields = column.from.flatMap((origin) => {
      const dataset = inputs.get(origin.input);
      return dataset ? [{ namespace: dataset.namespace, name: dataset.name, field: origin.field }] : [];
    });
    fields[column.column] = { inputFields };
  }
  return facet(naming, FACET_SCHEMAS.columnLineage, { fields });
}

export function errorMessageFacet(naming: LineageNaming, message: string, language: string): Facet {
  // Bounded: a Flink root exception can be long; the first 4000 characters say what happened.
  return facet(naming, FACET_SCHEMAS.errorMessage, {
    message: message.slice(0, 4000),
    programmingLanguage: language,
  });
}

export function jobTypeFacet(
  naming: LineageNaming,
  processingType: 'STREAMING' | 'BATCH',
  integration: string,
  jobType: string,
): Facet {
  return facet(naming, FACET_SCHEMAS.jobType, { processingType, integration, jobType });
}

export function sqlFacet(naming: LineageNaming, query: string): Facet {
  return facet(naming, FACET_SCHEMAS.sql, { query: query.slice(0, 100_000), dialect: 'flink' });
}

export function inputStatisticsFacet(naming: LineageNaming, rowCount: number): Facet {
  return facet(naming, FACET_SCHEMAS.inputStatistics, { rowCount });
}

export function outputStatisticsFacet(naming: LineageNaming, rowCount: number): Facet {
  return facet(naming, FACET_SCHEMAS.outputStatistics, { rowCount });
}

/** One quality check of an analysis cycle: `success` false when it failed. */
export type QualityAssertion = Readonly<{
  assertion: string;
  success: boolean;
  column?: string;
  description?: string;
  actual?: string;
}>;

export function dataQualityAssertionsFacet(
  naming: LineageNaming,
  assertions: readonly QualityAssertion[],
): Facet {
  return facet(naming, FACET_SCHEMAS.dataQualityAssertions, {
    assertions: assertions.map((a) => ({
      assertion: a.assertion,
      success: a.success,
      ...(a.column ? { column: a.column } : {}),
      ...(a.description ? { description: a.description.slice(0, 1000) } : {}),
      ...(a.actual !== undefined ? { actual: a.actual } : {}),
    })),
  });
}

export type ColumnMetrics = Readonly<{
  nullCount?: number;
  distinctCount?: number;
  count?: number;
  min?: number;
  max?: number;
}>;

export function dataQualityMetricsFacet(
  naming: LineageNaming,
  metrics: Readonly<{
    rowCount: number;
    lastUpdated?: string;
    columns: Readonly<Record<string, ColumnMetrics>>;
  }>,
): Facet {
  return facet(naming, FACET_SCHEMAS.dataQualityMetrics, {
    rowCount: metrics.rowCount,
    ...(metrics.lastUpdated ? { lastUpdated: metrics.lastUpdated } : {}),
    columnMetrics: metrics.columns,
  });
}

/** One run event; facets that are empty are left out. */
export function runEvent(
  naming: LineageNaming,
  event: Readonly<{
    eventType: EventType;
    eventTime: Date;
    runId: string;
    jobName: string;
    runFacets?: Facets;
    jobFacets?: Facets;
    inputs?: readonly InputDataset[];
    outputs?: readonly OutputDataset[];
  }>,
): RunEvent {
  const some = (facets: Facets | undefined) =>
    facets && Object.keys(facets).length > 0 ? facets : undefined;
  const runFacets = some(event.runFacets);
  const jobFacets = some(event.jobFacets);
  return {
    eventType: event.eventType,
    eventTime: event.eventTime.toISOString(),
    producer: naming.producer,
    schemaURL: OPENLINEAGE_RUN_EVENT_SCHEMA,
    run: { runId: event.runId, ...(runFacets ? { facets: runFacets } : {}) },
    job: { namespace: naming.namespace, name: event.jobName, ...(jobFacets ? { facets: jobFacets } : {}) },
    inputs: event.inputs ?? [],
    outputs: event.outputs ?? [],
  };
}

/** OpenLineage's job name of a product's job: `<product id>.creation` or `<product id>.materialization`. */
export function productJobNameFor(
  productId: string,
  kind: 'creation' | 'materialization' | 'analysis',
): string {
  return `${productId}.${kind}`;
}

/**
 * What a Flink job state (or a Tableflow phase) means for its run: RUNNING, a terminal event, or
 * nothing to say (starting, restarting within tolerance).
 */
export function eventTypeOfJobState(state: string): EventType | undefined {
  switch (state.toUpperCase()) {
    case 'RUNNING':
      return 'RUNNING';
    case 'FAILED':
      return 'FAIL';
    case 'FINISHED':
      return 'COMPLETE';
    case 'CANCELED':
      return 'ABORT';
    default:
      return undefined;
  }
}

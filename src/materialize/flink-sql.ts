import {
  jsonFieldText as rawValue,
  kafkaTableOptions,
  quoteIdentifier as q,
  quoteLiteral,
  typedJsonValue as typedValue,
} from '../domain/flink-types';
import type { IcebergConnection } from '../config';
import type { IcebergTableRef, MaterializationPlan } from '../domain/materialization';
import { productJobRestartStrategy, retainedCheckpoints } from '../domain/recovery';
import { flinkIcebergCatalogProperties } from './flink-catalog';

/**
 * The Flink SQL of a product's materialization job. The topic is read as raw text with its
 * coordinates (topic, partition, offset), each record is parsed and typed in SQL, and one statement
 * set writes the good rows to the product's table and the bad ones (with the reason) to its
 * dead-letter table. So a poison record never fails the job by surprise, and none is dropped
 * uncounted: every record read lands in exactly one of the two tables.
 */

export type MaterializationSqlOptions = Readonly<{
  /** Kafka as Flink reaches it, with its client properties (config.flink.kafka: secrets). */
  kafka: Readonly<{ bootstrapServers: string; properties: Readonly<Record<string, string>> }>;
  icebergCatalogUri: string;
  /** The catalog's warehouse and credentials and its object store (secrets: session-only). */
  icebergCatalog?: Omit<IcebergConnection, 'catalogUrl'>;
  /**
   * `earliest` for a first start; `group-offsets` to continue where the product's consumer group
   * committed (a redeploy whose savepoint state does not match the new plan).
   */
  startFrom?: 'earliest' | 'group-offsets';
  /** Stop at the offsets that are the latest when the job starts (benchmarks, backfills). */
  bounded?: boolean;
  /**
   * The jar of the one-pass parser (a path or URI Flink's SQL Gateway reads): each record is
   * parsed once. Without it every field is extracted by its own JSON function call (a parse each).
   */
  parserJar?: string;
}>;

const SOURCE = 'meshloop_source';
const PARSED = 'meshloop_parsed';
/** The records that go to the dead-letter table, with their coordinates and error. */
const DEAD_LETTERS = 'meshloop_dead_letters';
const RAW = 'meshloop_raw';
/** The one-pass parser (src/materialize/udf/JsonFields.java), registered in the job's session. */
export const PARSER_FUNCTION = 'meshloop_json_fields';
export const PARSER_FUNCTION_CLASS = 'dev.meshloop.flink.JsonFields';
const rawColumn = (i: number) => `raw_${i}`;
/**
 * A record's coordinates and text. The topic is the one topic the source reads, as a constant: read
 * as Kafka metadata it is a Java String per record, which the parser's operator encodes to UTF-8 when
 * it copies the row, good records included (a tenth of the parsing job's thread in Java Flight
 * Recorder; bench/materialize, docs/benchmarks.md).
 */
const coordinates = (plan: MaterializationPlan) =>
  `CAST(${quoteLiteral(plan.topic)} AS STRING) AS kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, payload`;

/** `CREATE TEMPORARY FUNCTION` of the one-pass parser from its jar (a path or URI Flink reads). */
export function parserFunctionStatement(jar: string): string {
  return `CREATE TEMPORARY FUNCTION ${q(PARSER_FUNCTION)} AS ${quoteLiteral(PARSER_FUNCTION_CLASS)} LANGUAGE JAVA USING JAR ${quoteLiteral(jar)}`;
}

/** The parser function's field list: `name:type`, `!` after the type for a required field. */
export function parserFieldSpec(plan: MaterializationPlan): string {
  return plan.fields.map((field) => `${field.name}:${field.type}${field.nullable ? '' : '!'}`).join(',');
}

/**
 * The parsing view with ONE parse per record: the parser is a table function emitting one row per
 * record, its typed fields (v0, v1, …) and the error, so the planner gives it an operator of its own
 * (Correlate). It types and checks as the per-field SQL below does, with the same Flink methods
 * (src/materialize/udf/JsonFields.java; test/integration/materialize-parser.test.ts compares them).
 */
function onePassParsedViews(plan: MaterializationPlan): [string, string] {
  const spec = quoteLiteral(parserFieldSpec(plan));
  const parsed = `CREATE TEMPORARY VIEW ${q(PARSED)} AS
SELECT
  ${coordinates(plan)},
  ${plan.fields.map((field, i) => `parsed.v${i} AS ${q(field.name)}`).join(',\n  ')},
  parsed.error AS error
FROM ${q(SOURCE)},
  LATERAL TABLE(${q(PARSER_FUNCTION)}(payload, ${spec})) AS parsed`;
  // The dead letters' own call: the planner gives each branch its own parser operator (each with its
  // branch's filter), and with 'errors' the function makes no row for a good record (it reuses the
  // other branch's parse of the record either way). The branch cost 16 % of the job into Iceberg.
  const deadLetters = `CREATE TEMPORARY VIEW ${q(DEAD_LETTERS)} AS
SELECT
  ${coordinates(plan)},
  parsed.error AS error
FROM ${q(SOURCE)},
  LATERAL TABLE(${q(PARSER_FUNCTION)}(payload, ${spec}, 'errors')) AS parsed`;
  return [parsed, deadLetters];
}

/**
 * The parsing views with one JSON function call per field (each parses the record again): the
 * texts, then their types and the error. Used without the parser's jar.
 */
function perFieldViews(plan: MaterializationPlan): [string, string, string] {
  const rawView = `CREATE TEMPORARY VIEW ${q(RAW)} AS
SELECT
  ${coordinates(plan)},
  payload IS JSON OBJECT AS is_object,
  ${plan.fields.map((field, i) => `${rawValue(field.name, field.type)} AS ${rawColumn(i)}`).join(',\n  ')}
FROM ${q(SOURCE)}`;
  const typed = plan.fields.map((field, i) => ({
    field,
    raw: rawColumn(i),
    typed: typedValue(rawColumn(i), field.type),
  }));
  const checks = typed.map(({ field, raw, typed: value }) =>
    field.nullable
      ? `CASE WHEN ${raw} IS NOT NULL AND ${value} IS NULL THEN ${quoteLiteral(`${field.name}: not a ${field.type}`)} END`
      : `CASE WHEN ${value} IS NULL THEN ${quoteLiteral(`${field.name}: missing, null or not a ${field.type}`)} END`,
  );
  const view = `CREATE TEMPORARY VIEW ${q(PARSED)} AS
SELECT
  kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, payload,
  ${typed.map(({ field, typed: value }) => `${value} AS ${q(field.name)}`).join(',\n  ')},
  CASE
    WHEN payload IS NULL THEN 'tombstone: deletes are not applied to the table'
    WHEN NOT is_object THEN 'not a JSON object'
    ELSE CONCAT_WS('; ', ${checks.join(', ')})
  END AS error
FROM ${q(RAW)}`;
  const deadLetters = `CREATE TEMPORARY VIEW ${q(DEAD_LETTERS)} AS
SELECT kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, payload, error FROM ${q(PARSED)} WHERE error <> ''`;
  return [rawView, view, deadLetters];
}

export const tableSql = (table: IcebergTableRef) =>
  `${q(table.catalog)}.${q(table.namespace)}.${q(table.name)}`;

/** Everything the job's session needs before the statement set: catalog, source, parsing view. */
export function materializationSetupStatements(
  plan: MaterializationPlan,
  options: MaterializationSqlOptions,
): string[] {
  const startup = `'scan.startup.mode' = ${options.startFrom === 'group-offsets' ? "'group-offsets'" : "'earliest-offset'"}`;
  const kafka = kafkaTableOptions(options.kafka, {
    'group.id': `meshloop-materialize.${plan.productId}`,
    'isolation.level': 'read_committed',
    ...(options.startFrom === 'group-offsets' ? { 'auto.offset.reset': 'earliest' } : {}),
  });
  const source = `CREATE TEMPORARY TABLE ${q(SOURCE)} (
  payload STRING,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  kafka_timestamp TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL
) WITH (
  'connector' = 'kafka',
  'topic' = ${quoteLiteral(plan.topic)},
  ${kafka.join(',\n  ')},
  ${startup},${options.bounded ? "\n  'scan.bounded.mode' = 'latest-offset'," : ''}
  'value.format' = 'raw'
)`;
  return [
    `CREATE CATALOG ${q(plan.table.catalog)} WITH (${Object.entries(
      flinkIcebergCatalogProperties(options.icebergCatalogUri, options.icebergCatalog),
    )
      .map(([key, value]) => `${quoteLiteral(key)} = ${quoteLiteral(value)}`)
      .join(', ')})`,
    ...(options.parserJar
      ? [parserFunctionStatement(options.parserJar), source, ...onePassParsedViews(plan)]
      : [source, ...perFieldViews(plan)]),
  ];
}

/** The job itself: one statement set, two sinks. `skip` keeps only the coordinates of bad records. */
export function materializationInsertStatement(plan: MaterializationPlan): string {
  const columns = plan.fields.map((field) => q(field.name)).join(', ');
  const payload = plan.errorMode === 'skip' ? 'CAST(NULL AS STRING)' : 'payload';
  return `EXECUTE STATEMENT SET BEGIN
INSERT INTO ${tableSql(plan.table)} SELECT ${columns} FROM ${q(PARSED)} WHERE error = '';
INSERT INTO ${tableSql(plan.deadLetterTable)} SELECT kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, error, ${payload} FROM ${q(DEAD_LETTERS)} WHERE error <> '';
END`;
}

/** Settings of the job (statement-level), including its name and commit interval. */
export function materializationJobConfig(plan: MaterializationPlan): Record<string, string> {
  return {
    'pipeline.name': plan.jobName,
    // The Iceberg sink commits on checkpoints: the commit interval is the checkpoint interval.
    'execution.checkpointing.interval': `${plan.commitIntervalMs} ms`,
    // Restarted by Flink, then by the workflow from its last retained checkpoint (src/domain/recovery.ts).
    ...productJobRestartStrategy,
    ...retainedCheckpoints,
    'table.local-time-zone': 'UTC',
    // Chained operators hand rows on without a deep copy each (bench/materialize: parsing 0.69 → 0.90,
    // into Iceberg 0.31 → 0.48 of Flink's JSON format → blackhole). Safe here: the Kafka source makes
    // a row per record, the parser copies the one record it keeps (its memo), and Iceberg's writers
    // copy the keys they keep (upsert).
    'pipeline.object-reuse': 'true',
  };
}

import type { InputBinding } from '../domain/creation';
import {
  flinkTypeOf,
  jsonFieldText,
  quoteIdentifier as q,
  quoteLiteral,
  typedJsonValue,
} from '../domain/flink-types';
import type { ProductSpec } from '../domain/spec';

/**
 * The Flink SQL around a product's approved SELECT. Each input topic is read as raw text with its
 * coordinates; its JSON fields are typed in computed columns (a watermark on the event time), and
 * a temporary view named by the input's alias holds the records that parsed. The records that did
 * not (not JSON, a field of the wrong type, no event time) go to the product's rejected topic: a
 * malformed record neither stops the job nor vanishes uncounted.
 *
 * The SQL guard declares inputs with the same statements, so what it validates is what runs.
 */

export type InputSqlOptions = Readonly<{
  kafkaBootstrapServers: string;
  /** The consumer group of the product's job (offsets are committed on checkpoints). */
  groupId: string;
  /** `earliest` for a new product or a redeploy from scratch. */
  startFrom?: 'earliest' | 'group-offsets';
  /** How far event time may run behind the newest record of a partition. Default 5 s. */
  watermarkDelaySeconds?: number;
}>;

/** The source table behind an input's view: the raw records and their typed fields. */
export const sourceTableOf = (alias: string) => `meshloop_source_${alias}`;
export const SINK_TABLE = 'meshloop_sink';
export const REJECTED_TABLE = 'meshloop_rejected';

/** The condition under which an input record is usable, and the reason when it is not. */
function validity(input: InputBinding): { valid: string; reason: string } {
  const checks = input.fields.map((field) => {
    const raw = jsonFieldText(field.name, field.type);
    const typed = q(field.name);
    const mustHave = field.name === input.eventTimeField;
    return {
      ok: mustHave ? `${typed} IS NOT NULL` : `(${raw} IS NULL OR ${typed} IS NOT NULL)`,
      reason: mustHave
        ? `CASE WHEN ${typed} IS NULL THEN ${quoteLiteral(`${field.name}: missing or not a ${field.type} (the event time)`)} END`
        : `CASE WHEN ${raw} IS NOT NULL AND ${typed} IS NULL THEN ${quoteLiteral(`${field.name}: not a ${field.type}`)} END`,
    };
  });
  return {
    valid: ['payload IS JSON OBJECT', ...checks.map((check) => check.ok)].join(' AND '),
    reason: `CASE WHEN payload IS NULL THEN 'empty record' WHEN NOT (payload IS JSON OBJECT) THEN 'not a JSON object' ELSE CONCAT_WS('; ', ${checks.map((check) => check.reason).join(', ')}) END`,
  };
}

/** CREATE TEMPORARY TABLE (raw source) and VIEW (the alias) for one input. */
export function inputStatements(input: InputBinding, options: InputSqlOptions): string[] {
  // `raw` reads the record's bytes as text (the JSON path functions parse them); the typed
  // columns take the path from `payload` for each field.
  const startup =
    options.startFrom === 'group-offsets'
      ? `'scan.startup.mode' = 'group-offsets',\n  'properties.auto.offset.reset' = 'earliest'`
      : `'scan.startup.mode' = 'earliest-offset'`;
  const delay = options.watermarkDelaySeconds ?? 5;
  const columns = [
    'payload STRING',
    "kafka_partition INT METADATA FROM 'partition' VIRTUAL",
    "kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL",
    ...input.fields.map(
      (field) => `${q(field.name)} AS ${typedJsonValue(jsonFieldText(field.name, field.type), field.type)}`,
    ),
  ];
  const eventTime = input.fields.find((field) => field.name === input.eventTimeField);
  if (eventTime && eventTime.type === 'timestamp') {
    columns.push(`WATERMARK FOR ${q(eventTime.name)} AS ${q(eventTime.name)} - INTERVAL '${delay}' SECOND`);
  }
  const source = `CREATE TEMPORARY TABLE ${q(sourceTableOf(input.alias))} (
  ${columns.join(',\n  ')}
) WITH (
  'connector' = 'kafka',
  'topic' = ${quoteLiteral(input.topic)},
  'properties.bootstrap.servers' = ${quoteLiteral(options.kafkaBootstrapServers)},
  'properties.group.id' = ${quoteLiteral(options.groupId)},
  'properties.isolation.level' = 'read_committed',
  ${startup},
  'value.format' = 'raw'
)`;
  const view = `CREATE TEMPORARY VIEW ${q(input.alias)} AS
SELECT ${input.fields.map((field) => q(field.name)).join(', ')}
FROM ${q(sourceTableOf(input.alias))}
WHERE ${validity(input).valid}`;
  return [source, view];
}

/**
 * The insert that sends an input's unusable records (with the reason) to the rejected topic. A
 * product holding personal data keeps only their coordinates: the raw record may hold what the
 * product masks.
 */
export function rejectedInsert(input: InputBinding, options: { keepPayload: boolean }): string {
  const { valid, reason } = validity(input);
  const payload = options.keepPayload ? 'payload' : 'CAST(NULL AS STRING)';
  return `INSERT INTO ${q(REJECTED_TABLE)}
SELECT ${quoteLiteral(input.alias)}, ${quoteLiteral(input.topic)}, kafka_partition, kafka_offset, ${reason}, ${payload}
FROM ${q(sourceTableOf(input.alias))}
WHERE NOT (${valid}) OR payload IS NULL`;
}

export type SinkSqlOptions = Readonly<{ kafkaBootstrapServers: string; rejectedTopic: string }>;

/** Keyed products on compacted topics are upserted (Kafka keeps the newest row per key). */
export function isUpsertProduct(spec: Pick<ProductSpec, 'schema' | 'outputTopic'>): boolean {
  return spec.schema.key.length > 0 && spec.outputTopic.cleanupPolicy.includes('compact');
}

/** The output topic's table (typed by the spec) and the rejected topic's. */
export function sinkStatements(spec: ProductSpec, options: SinkSqlOptions): string[] {
  const upsert = isUpsertProduct(spec);
  const key = spec.schema.key;
  const keyFields = spec.schema.fields.filter((field) => key.includes(field.name));
  // A single string key is written as the Kafka key's plain text (what the demo's topics use).
  const rawKey = keyFields.length === 1 && keyFields[0]?.type === 'string';
  // An upserted key cannot be null (Flink makes primary key columns NOT NULL); an appended one can.
  const columns = spec.schema.fields.map(
    (field) =>
      `${q(field.name)} ${flinkTypeOf[field.type]}${upsert && key.includes(field.name) ? ' NOT NULL' : ''}`,
  );
  if (upsert) columns.push(`PRIMARY KEY (${key.map(q).join(', ')}) NOT ENFORCED`);
  const keyOptions =
    key.length === 0
      ? []
      : [
          `'key.format' = ${rawKey ? "'raw'" : "'json'"}`,
          ...(upsert ? [] : [`'key.fields' = ${quoteLiteral(key.join(';'))}`]),
          "'value.fields-include' = 'ALL'",
        ];
  const common = [
    `'topic' = ${quoteLiteral(spec.outputTopic.name)}`,
    `'properties.bootstrap.servers' = ${quoteLiteral(options.kafkaBootstrapServers)}`,
    // A missing topic fails the job within seconds instead of blocking a minute per record, and a
    // batch the broker refuses (its topic deleted) fails in 30 s instead of Kafka's two minutes.
    "'properties.max.block.ms' = '10000'",
    "'properties.request.timeout.ms' = '10000'",
    "'properties.delivery.timeout.ms' = '30000'",
    "'value.format' = 'json'",
    "'value.json.timestamp-format.standard' = 'ISO-8601'",
    "'value.json.encode.decimal-as-plain-number' = 'true'",
  ];
  const sink = `CREATE TEMPORARY TABLE ${q(SINK_TABLE)} (
  ${columns.join(',\n  ')}
) WITH (
  'connector' = ${upsert ? "'upsert-kafka'" : "'kafka'"},
  ${[...common, ...keyOptions].join(',\n  ')}
)`;
  const rejected = `CREATE TEMPORARY TABLE ${q(REJECTED_TABLE)} (
  input STRING,
  topic STRING,
  \`partition\` INT,
  \`offset\` BIGINT,
  reason STRING,
  payload STRING
) WITH (
  'connector' = 'kafka',
  'topic' = ${quoteLiteral(options.rejectedTopic)},
  'properties.bootstrap.servers' = ${quoteLiteral(options.kafkaBootstrapServers)},
  'properties.max.block.ms' = '10000',
  'properties.request.timeout.ms' = '10000',
  'properties.delivery.timeout.ms' = '30000',
  'format' = 'json'
)`;
  return [sink, rejected];
}

/** The approved SELECT as written, without a trailing semicolon. */
export function approvedSelect(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

/**
 * The job: the product's rows into its topic, every input's rejected records into theirs. An
 * upserted product's rows need a key (it is the row's identity, and Flink makes it NOT NULL): rows
 * without one are left out of the topic. They cannot be counted in the rejected topic like input
 * records, because an updating query (a left join) cannot feed an append-only topic.
 */
export function jobStatementSet(spec: ProductSpec, inputs: readonly InputBinding[], sql: string): string {
  const columns = spec.schema.fields.map((field) => q(field.name)).join(', ');
  // A sink takes at most one event-time attribute (a join yields one per side): the cast turns
  // each timestamp into a plain value.
  const values = spec.schema.fields
    .map((field) =>
      field.type === 'timestamp'
        ? `CAST(${q(field.name)} AS ${flinkTypeOf.timestamp}) AS ${q(field.name)}`
        : q(field.name),
    )
    .join(', ');
  const product = `(
${approvedSelect(sql)}
) AS meshloop_product`;
  const keyless = isUpsertProduct(spec)
    ? spec.schema.key.map((field) => `${q(field)} IS NULL`).join(' OR ')
    : undefined;
  const inserts = [
    `INSERT INTO ${q(SINK_TABLE)} (${columns})\nSELECT ${values} FROM ${product}${keyless ? `\nWHERE NOT (${keyless})` : ''}`,
    ...inputs.map((input) => rejectedInsert(input, { keepPayload: !spec.classification.pii })),
  ];
  return `EXECUTE STATEMENT SET BEGIN\n${inserts.map((insert) => `${insert};`).join('\n')}\nEND`;
}

/** Settings of the job's session: the guard's too (dynamic options off: no hint rewrites a table). */
export const guardedSessionProperties: Readonly<Record<string, string>> = {
  'table.dynamic-table-options.enabled': 'false',
  'table.local-time-zone': 'UTC',
};

/** Statement-level settings of the product's job. */
export function productJobConfig(jobName: string): Record<string, string> {
  return {
    'pipeline.name': jobName,
    // Without it one empty partition holds every window and join back.
    'table.exec.source.idle-timeout': '10 s',
    // A bad deployment fails for real after a few tries (the product is degraded with the
    // reason) instead of restarting forever.
    'restart-strategy.type': 'fixed-delay',
    'restart-strategy.fixed-delay.attempts': '3',
    'restart-strategy.fixed-delay.delay': '5 s',
    'execution.checkpointing.interval': '10 s',
    // A failed job keeps its last checkpoint, so a redeploy resumes from it (state and offsets);
    // a cancelled or stopped one does not (stop takes a savepoint).
    'execution.checkpointing.externalized-checkpoint-retention': 'DELETE_ON_CANCELLATION',
    // Rows crossing an exchange (a join's shuffle) wait at most this long for a full network
    // buffer: Flink's 100 ms default was most of a joined product's latency (bench/creation).
    'execution.buffer-timeout.interval': '10 ms',
  };
}

import type { InputBinding } from '../domain/creation';
import {
  avroConfluentOptions,
  flinkTypeOf,
  jsonFieldText,
  kafkaTableOptions,
  quoteIdentifier as q,
  quoteLiteral,
  typedJsonValue,
} from '../domain/flink-types';
import type { ProductSpec } from '../domain/spec';
import { productJobRestartStrategy, retainedCheckpoints } from '../domain/recovery';
import type { AvroReader } from './avro-sql';

/**
 * The Flink SQL around a product's approved SELECT. Each input topic is read as raw text with its
 * coordinates; its JSON fields are typed in computed columns (a watermark on the event time), and
 * a temporary view named by the input's alias holds the records that parsed. The records that did
 * not (not JSON, a field of the wrong type, no event time) go to the product's rejected topic: a
 * malformed record neither stops the job nor vanishes uncounted.
 *
 * An Avro input (Confluent wire format) is decoded by Flink's `avro-confluent` format with the
 * registered schema (./avro-sql.ts); a record that does not decode at all (not wire format, an
 * unknown schema id) fails the job, with Flink's reason, rather than being skipped.
 *
 * Kafka's client properties (SASL, TLS: config.flink.kafka) and the registry's auth go into every
 * table's options: these statements are built in activities and sent to a gateway session only.
 *
 * The SQL guard declares inputs with the same statements, so what it validates is what runs.
 */

/** Kafka and the Schema Registry as Flink reaches them (config.flink): their options hold secrets. */
export type FlinkConnectors = Readonly<{
  kafka: Readonly<{ bootstrapServers: string; properties: Readonly<Record<string, string>> }>;
  schemaRegistry: Readonly<{ url: string; options: Readonly<Record<string, string>> }>;
}>;

export type InputSqlOptions = Readonly<{
  connectors: FlinkConnectors;
  /** The consumer group of the product's job (offsets are committed on checkpoints). */
  groupId: string;
  /** `earliest` for a new product or a redeploy from scratch. */
  startFrom?: 'earliest' | 'group-offsets';
  /** How far event time may run behind the newest record of a partition. Default 5 s. */
  watermarkDelaySeconds?: number;
  /** The reader of each Avro input, by topic (resolveAvroReaders). */
  avroReaders?: ReadonlyMap<string, AvroReader>;
  /**
   * A bounded read (the preview): from these offsets to those, per partition, by topic. The
   * source then ends, so the same SQL runs in batch mode.
   */
  bounded?: ReadonlyMap<
    string,
    Readonly<{ start: ReadonlyMap<number, string>; end: ReadonlyMap<number, string> }>
  >;
}>;

/** `partition:0,offset:42;partition:1,offset:7`: Kafka offsets as Flink's options write them. */
const offsetsOption = (offsets: ReadonlyMap<number, string>) =>
  [...offsets].map(([partition, offset]) => `partition:${partition},offset:${offset}`).join(';');

/** The source table behind an input's view: the raw records and their typed fields. */
export const sourceTableOf = (alias: string) => `meshloop_source_${alias}`;
export const SINK_TABLE = 'meshloop_sink';
export const REJECTED_TABLE = 'meshloop_rejected';

/** An Avro input's typed field: a computed column (its name is the Avro field's, taken). */
const avroValueColumn = (i: number) => `meshloop_value_${i}`;

/** Each field's raw expression (NULL when the record has none) and typed column, in the source table. */
function fieldValues(input: InputBinding, reader: AvroReader | undefined) {
  if (!reader) {
    return input.fields.map((field) => ({
      field,
      raw: jsonFieldText(field.name, field.type),
      typed: q(field.name),
    }));
  }
  return input.fields.map((field, i) => ({
    field,
    raw: reader.fields[i]!.raw,
    typed: q(avroValueColumn(i)),
  }));
}

function readerOf(input: InputBinding, readers: ReadonlyMap<string, AvroReader> | undefined) {
  if (input.format !== 'avro') return undefined;
  const reader = readers?.get(input.topic);
  if (!reader) throw new Error(`no Avro reader resolved for topic ${input.topic} (resolveAvroReaders first)`);
  return reader;
}

/**
 * The condition under which an input record is usable, and the reason when it is not. An Avro
 * record that reached SQL decoded against its schema: only the spec's own demands are checked.
 */
function validity(input: InputBinding, reader: AvroReader | undefined): { valid: string; reason: string } {
  const checks = fieldValues(input, reader).map(({ field, raw, typed }) => {
    const mustHave = field.name === input.eventTimeField;
    return {
      ok: mustHave ? `${typed} IS NOT NULL` : `(${raw} IS NULL OR ${typed} IS NOT NULL)`,
      reason: mustHave
        ? `CASE WHEN ${typed} IS NULL THEN ${quoteLiteral(`${field.name}: missing or not a ${field.type} (the event time)`)} END`
        : `CASE WHEN ${raw} IS NOT NULL AND ${typed} IS NULL THEN ${quoteLiteral(`${field.name}: not a ${field.type}`)} END`,
    };
  });
  const reasons = `CONCAT_WS('; ', ${checks.map((check) => check.reason).join(', ')})`;
  if (reader) {
    return { valid: checks.map((check) => check.ok).join(' AND ') || 'TRUE', reason: reasons };
  }
  return {
    valid: ['payload IS JSON OBJECT', ...checks.map((check) => check.ok)].join(' AND '),
    reason: `CASE WHEN payload IS NULL THEN 'empty record' WHEN NOT (payload IS JSON OBJECT) THEN 'not a JSON object' ELSE ${reasons} END`,
  };
}

/** CREATE TEMPORARY TABLE (raw source) and VIEW (the alias) for one input. */
export function inputStatements(input: InputBinding, options: InputSqlOptions): string[] {
  const reader = readerOf(input, options.avroReaders);
  const startup: Record<string, string> =
    options.startFrom === 'group-offsets' ? { 'auto.offset.reset': 'earliest' } : {};
  const delay = options.watermarkDelaySeconds ?? 5;
  const values = fieldValues(input, reader);
  // JSON: `raw` reads the record's bytes as text (the JSON path functions parse them), and the
  // typed columns take the path from `payload` for each field. Avro: Flink decodes the record
  // into the schema's columns, and the typed columns are computed from them.
  const columns = [
    ...(reader ? reader.columns : ['payload STRING']),
    "kafka_partition INT METADATA FROM 'partition' VIRTUAL",
    "kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL",
    ...values.map(({ field }, i) =>
      reader
        ? `${q(avroValueColumn(i))} AS ${reader.fields[i]!.typed}`
        : `${q(field.name)} AS ${typedJsonValue(jsonFieldText(field.name, field.type), field.type)}`,
    ),
  ];
  const eventTime = values.find(({ field }) => field.name === input.eventTimeField);
  if (eventTime && eventTime.field.type === 'timestamp') {
    columns.push(`WATERMARK FOR ${eventTime.typed} AS ${eventTime.typed} - INTERVAL '${delay}' SECOND`);
  }
  const format = reader
    ? avroConfluentOptions(options.connectors.schemaRegistry, reader.readerSchema)
    : ["'value.format' = 'raw'"];
  const source = `CREATE TEMPORARY TABLE ${q(sourceTableOf(input.alias))} (
  ${columns.join(',\n  ')}
) WITH (
  ${[
    "'connector' = 'kafka'",
    `'topic' = ${quoteLiteral(input.topic)}`,
    ...kafkaTableOptions(options.connectors.kafka, {
      'group.id': options.groupId,
      'isolation.level': 'read_committed',
      ...startup,
    }),
    ...scanOptions(input.topic, options),
    ...format,
  ].join(',\n  ')}
)`;
  const view = `CREATE TEMPORARY VIEW ${q(input.alias)} AS
SELECT ${values.map(({ field, typed }) => (typed === q(field.name) ? typed : `${typed} AS ${q(field.name)}`)).join(', ')}
FROM ${q(sourceTableOf(input.alias))}
WHERE ${validity(input, reader).valid}`;
  return [source, view];
}

function scanOptions(topic: string, options: InputSqlOptions): string[] {
  const bounded = options.bounded?.get(topic);
  if (bounded) {
    return [
      "'scan.startup.mode' = 'specific-offsets'",
      `'scan.startup.specific-offsets' = ${quoteLiteral(offsetsOption(bounded.start))}`,
      "'scan.bounded.mode' = 'specific-offsets'",
      `'scan.bounded.specific-offsets' = ${quoteLiteral(offsetsOption(bounded.end))}`,
    ];
  }
  return [
    `'scan.startup.mode' = ${options.startFrom === 'group-offsets' ? "'group-offsets'" : "'earliest-offset'"}`,
  ];
}

/**
 * The insert that sends an input's unusable records (with the reason) to the rejected topic. A
 * product holding personal data keeps only their coordinates: the raw record may hold what the
 * product masks. An Avro record's bytes are not text: only its coordinates are kept.
 */
export function rejectedInsert(
  input: InputBinding,
  options: { keepPayload: boolean; avroReaders?: ReadonlyMap<string, AvroReader> },
): string {
  const reader = readerOf(input, options.avroReaders);
  const { valid, reason } = validity(input, reader);
  const payload = options.keepPayload && !reader ? 'payload' : 'CAST(NULL AS STRING)';
  return `INSERT INTO ${q(REJECTED_TABLE)}
SELECT ${quoteLiteral(input.alias)}, ${quoteLiteral(input.topic)}, kafka_partition, kafka_offset, ${reason}, ${payload}
FROM ${q(sourceTableOf(input.alias))}
WHERE ${reader ? `NOT (${valid})` : `NOT (${valid}) OR payload IS NULL`}`;
}

export type SinkSqlOptions = Readonly<{
  connectors: FlinkConnectors;
  rejectedTopic: string;
  /** The Kafka transactional ids' prefix of this deployment (transactionalIdPrefixOf). */
  transactionalIdPrefix: string;
}>;

/**
 * The broker aborts a transaction left open this long (Kafka's default `transaction.max.timeout.ms`,
 * 15 minutes, is the most it allows). It must outlast a checkpoint plus a recovery: a transaction
 * pre-committed in the checkpoint a job resumes from is committed by the resumed job, and one
 * aborted by the broker first would be lost. It is also how long read-committed readers may wait
 * behind the open transaction of a job lost without a checkpoint to resume from.
 */
export const TRANSACTION_TIMEOUT_MS = 900_000;

/**
 * The transactional ids of a product job's sink: unique per product, revision and deployment (a
 * resumed job aborts the transactions its checkpoint's prefix left open; a new prefix never fences
 * another deployment's producers). Flink appends `-<subtask>-<checkpoint>`.
 */
export function transactionalIdPrefixOf(productId: string, revision: number, deployment: string): string {
  return `meshloop-create.${productId}.r${revision}.${deployment}`;
}

/**
 * The product's topic is written exactly once: in Kafka transactions committed on each checkpoint,
 * so a job resumed from a checkpoint neither repeats nor skips a row for read-committed readers
 * (every reader of product topics reads committed). Rows become visible on the checkpoint (every
 * 10 s) rather than at once.
 */
export function exactlyOnceSinkOptions(transactionalIdPrefix: string): string[] {
  return [
    "'sink.delivery-guarantee' = 'exactly-once'",
    `'sink.transactional-id-prefix' = ${quoteLiteral(transactionalIdPrefix)}`,
  ];
}

/**
 * A missing topic fails the job within seconds instead of blocking a minute per record, and a
 * batch the broker refuses (its topic deleted) fails in 30 s instead of Kafka's two minutes.
 */
const producerTimeouts = {
  'max.block.ms': '10000',
  'request.timeout.ms': '10000',
  'delivery.timeout.ms': '30000',
};

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
    ...kafkaTableOptions(options.connectors.kafka, {
      ...producerTimeouts,
      'transaction.timeout.ms': String(TRANSACTION_TIMEOUT_MS),
    }),
    ...exactlyOnceSinkOptions(options.transactionalIdPrefix),
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
  // The rejected topic stays at-least-once: its size (offsets) is the rejected count, which
  // transaction markers would inflate; a recovery may repeat a rejected record there.
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
  ${kafkaTableOptions(options.connectors.kafka, producerTimeouts).join(',\n  ')},
  'format' = 'json'
)`;
  return [sink, rejected];
}

/** The approved SELECT as written, without a trailing semicolon. */
export function approvedSelect(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

/**
 * The job's INSERT of the product's rows into its topic, around the approved SELECT as written.
 * An upserted product's rows need a key (it is the row's identity, and Flink makes it NOT NULL):
 * rows without one are left out of the topic. The SQL guard plans this very statement.
 */
export function productInsert(spec: ProductSpec, sql: string): string {
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
  return `INSERT INTO ${q(SINK_TABLE)} (${columns})\nSELECT ${values} FROM ${product}${keyless ? `\nWHERE NOT (${keyless})` : ''}`;
}

/**
 * The job: the product's rows into its topic (productInsert), every input's rejected records into
 * theirs. Rows without a key of an upserted product cannot be counted in the rejected topic like
 * input records, because an updating query (a left join) cannot feed an append-only topic.
 */
export function jobStatementSet(
  spec: ProductSpec,
  inputs: readonly InputBinding[],
  sql: string,
  avroReaders?: ReadonlyMap<string, AvroReader>,
): string {
  const inserts = [
    productInsert(spec, sql),
    ...inputs.map((input) => rejectedInsert(input, { keepPayload: !spec.classification.pii, avroReaders })),
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
    // Flink restarts a failed job with growing pauses, then gives up and the workflow takes over
    // (src/domain/recovery.ts).
    ...productJobRestartStrategy,
    'execution.checkpointing.interval': '10 s',
    // A checkpoint that has not finished in two minutes is stuck, not slow: Kafka's producer can
    // wait in its flush for good when the output topic is deleted under it. Failing the checkpoint
    // fails the job, and the restarted job then says why (Flink's default waits ten minutes).
    'execution.checkpointing.timeout': '2 min',
    // A failed, cancelled or lost job keeps its last checkpoint, so a redeploy resumes from it
    // (state and offsets); a stop takes a savepoint.
    ...retainedCheckpoints,
    // Rows crossing an exchange (a join's shuffle) wait at most this long for a full network
    // buffer: Flink's 100 ms default was most of a joined product's latency (bench/creation).
    'execution.buffer-timeout.interval': '10 ms',
  };
}

import type { FieldType } from './spec';

/**
 * How a spec's field types are typed in Flink SQL. Timestamps are `TIMESTAMP_LTZ(3)`: the records
 * carry ISO-8601 instants (`2026-01-01T10:00:00.000Z`) or epoch milliseconds, both absolute times;
 * the JSON format reads and writes them with `json.timestamp-format.standard = 'ISO-8601'`.
 */
export const flinkTypeOf: Readonly<Record<FieldType, string>> = {
  string: 'STRING',
  int: 'INT',
  long: 'BIGINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  decimal: 'DECIMAL(38, 10)',
  boolean: 'BOOLEAN',
  date: 'DATE',
  timestamp: 'TIMESTAMP_LTZ(3)',
  bytes: 'BYTES',
  json: 'STRING',
};

/** A name quoted for Flink SQL (backticks, doubled inside). */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal for Flink SQL (single quotes, doubled inside). */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The expression reading one JSON field as text (objects and arrays as JSON text). */
export function jsonFieldText(name: string, type: FieldType): string {
  // Field names are plain identifiers (the naming policy), so the simple path form is safe.
  const path = quoteLiteral(`$.${name}`);
  return type === 'json'
    ? `COALESCE(JSON_QUERY(payload, ${path}), JSON_VALUE(payload, ${path}))`
    : `JSON_VALUE(payload, ${path})`;
}

/** The typed value of one field, or NULL when it is absent or does not parse as its type. */
export function typedJsonValue(raw: string, type: FieldType): string {
  switch (type) {
    case 'string':
    case 'json':
      return raw;
    case 'timestamp':
      // ISO-8601 instants ('2026-01-01T10:00:00.5Z', the session is in UTC) or epoch milliseconds.
      return (
        `CASE WHEN REGEXP(${raw}, '^-?[0-9]{1,15}$') THEN TO_TIMESTAMP_LTZ(CAST(${raw} AS BIGINT), 3) ` +
        `ELSE TRY_CAST(REGEXP_REPLACE(REPLACE(${raw}, 'T', ' '), 'Z$', '') AS TIMESTAMP_LTZ(3)) END`
      );
    case 'bytes':
      // Flink's JSON format writes BYTES as base64.
      return `TRY_CAST(FROM_BASE64(${raw}) AS BYTES)`;
    default:
      return `TRY_CAST(${raw} AS ${flinkTypeOf[type]})`;
  }
}

/**
 * The options of a Kafka table: the bootstrap list, the client properties Flink's Kafka client
 * needs (security protocol, SASL, TLS: config.flink.kafka) and the table's own ones, which win.
 * Each a `'properties.<key>' = '<value>'` line.
 */
export function kafkaTableOptions(
  kafka: Readonly<{ bootstrapServers: string; properties: Readonly<Record<string, string>> }>,
  own: Readonly<Record<string, string>> = {},
): string[] {
  const properties = { 'bootstrap.servers': kafka.bootstrapServers, ...kafka.properties, ...own };
  return Object.entries(properties).map(
    ([key, value]) => `${quoteLiteral(`properties.${key}`)} = ${quoteLiteral(value)}`,
  );
}

/** The `avro-confluent` value format's options: the registry URL and its auth options. */
export function avroConfluentOptions(
  registry: Readonly<{ url: string; options: Readonly<Record<string, string>> }>,
  readerSchema: string,
): string[] {
  const options = { url: registry.url, ...registry.options, schema: readerSchema };
  return [
    "'value.format' = 'avro-confluent'",
    ...Object.entries(options).map(
      ([key, value]) => `${quoteLiteral(`value.avro-confluent.${key}`)} = ${quoteLiteral(value)}`,
    ),
  ];
}

const sensitiveOption = /jaas|password|secret|token|(^|\.)key$|user-info/i;

/**
 * The secret values among Kafka's client properties and the registry's options (the JAAS config,
 * the passwords and tokens inside it, a private key, user info): what must never leave a gateway
 * session. Errors from the session are scrubbed of them (scrubSecrets).
 */
export function secretValuesOf(
  connectors: Readonly<{
    kafka: Readonly<{ properties: Readonly<Record<string, string>> }>;
    schemaRegistry: Readonly<{ options: Readonly<Record<string, string>> }>;
  }>,
): string[] {
  const options = { ...connectors.kafka.properties, ...connectors.schemaRegistry.options };
  const secrets = Object.entries(options)
    .filter(([key]) => sensitiveOption.test(key))
    .map(([, value]) => value);
  // The quoted values inside a JAAS config (password="…", clientSecret="…") on their own too.
  for (const jaas of secrets.filter((value) => /LoginModule/.test(value))) {
    for (const match of jaas.matchAll(/(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
      if (/password|secret|token/i.test(match[1]!)) secrets.push(match[2]!.replace(/\\(.)/g, '$1'));
    }
  }
  // The user half of user:password is no secret, the password is.
  for (const info of Object.entries(options).filter(([key]) => /user-info/.test(key))) {
    const colon = info[1].indexOf(':');
    if (colon >= 0) secrets.push(info[1].slice(colon + 1));
  }
  return [...new Set(secrets.filter((value) => value.length >= 4))].sort((a, b) => b.length - a.length);
}

/** The text with each secret (also as a SQL literal and JSON would escape it) replaced by `****`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    const forms = new Set([secret, secret.replace(/'/g, "''"), JSON.stringify(secret).slice(1, -1)]);
    for (const form of forms) out = out.split(form).join('****');
  }
  return out;
}

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

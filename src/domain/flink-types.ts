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

import { isUpsertProduct } from './job-sql';
import type { FieldType, ProductSpec } from '../domain/spec';
import { productIdOf } from '../domain/spec';

/**
 * A product's output schema for the Schema Registry: a JSON Schema (draft-07) generated from the
 * spec's fields. Product jobs write plain JSON records (Flink's `json` format, not Confluent's wire
 * format), so JSON Schema describes the records as they are; an Avro schema would describe records
 * nobody writes, and writing Avro would change every reader of the topic. Pure and deterministic:
 * the same spec always gives the same text, so registering it again finds the earlier version.
 *
 * - Types follow what Flink's JSON format writes for each column (job-sql.ts): timestamps as
 *   ISO-8601 text, dates as `yyyy-MM-dd`, decimals as plain numbers, bytes as base64, `json`
 *   columns as JSON text in a string.
 * - `type` is always a list (`["integer"]`, `["integer", "null"]`): Apicurio Registry's BACKWARD
 *   rule then sees a field made nullable as the widening it is (a bare `"integer"` becoming a list
 *   counts there as a changed type).
 * - Nullable fields allow `null`. Fields that are not nullable, and the key fields, are
 *   `required`; other fields may be absent (records written before a nullable field was added lack
 *   it), so adding a nullable field is a compatible change.
 * - `additionalProperties: false` (a closed content model): the job writes exactly the spec's
 *   columns. Under BACKWARD it makes adding an optional field compatible and removing a field, or
 *   changing its type, incompatible: old records must still validate against the new schema.
 */

export const JSON_SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';

/** The subject a product's output schema is registered under (Confluent's TopicNameStrategy). */
export function outputSubjectOf(spec: Pick<ProductSpec, 'outputTopic'>): string {
  return `${spec.outputTopic.name}-value`;
}

type JsonSchemaNode = Record<string, unknown>;

const typeOf: Readonly<Record<FieldType, JsonSchemaNode>> = {
  string: { type: 'string' },
  int: { type: 'integer' },
  long: { type: 'integer' },
  float: { type: 'number' },
  double: { type: 'number' },
  decimal: { type: 'number' },
  boolean: { type: 'boolean' },
  date: { type: 'string', format: 'date' },
  timestamp: { type: 'string', format: 'date-time' },
  bytes: { type: 'string', contentEncoding: 'base64' },
  json: { type: 'string', contentMediaType: 'application/json' },
};

/** The JSON Schema of the product's output records (an object; `outputSchemaText` is what is registered). */
export function outputJsonSchema(
  spec: Pick<ProductSpec, 'domain' | 'name' | 'description' | 'schema' | 'outputTopic'>,
): JsonSchemaNode {
  const key = new Set(spec.schema.key);
  // An upserted product's key columns are NOT NULL in Flink (its primary key).
  const upsert = isUpsertProduct(spec);
  const properties: Record<string, JsonSchemaNode> = {};
  for (const field of spec.schema.fields) {
    const base = typeOf[field.type];
    const nullable = field.nullable && !(upsert && key.has(field.name));
    properties[field.name] = {
      ...base,
      type: nullable ? [base.type, 'null'] : [base.type],
      ...(field.description ? { description: field.description } : {}),
    };
  }
  const required = spec.schema.fields
    .filter((field) => !field.nullable || key.has(field.name))
    .map((field) => field.name);
  return {
    $schema: JSON_SCHEMA_DRAFT,
    title: productIdOf(spec),
    ...(spec.description ? { description: spec.description } : {}),
    type: 'object',
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

/** The schema text registered for the product (compact JSON, fields in the spec's order). */
export function outputSchemaText(spec: Parameters<typeof outputJsonSchema>[0]): string {
  return JSON.stringify(outputJsonSchema(spec));
}

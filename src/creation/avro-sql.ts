import type { InputBinding } from '../domain/creation';
import { flinkTypeOf, quoteIdentifier as q, typedJsonValue } from '../domain/flink-types';
import type { FieldType } from '../domain/spec';

/**
 * How a product job reads an Avro input (Confluent wire format, Flink's `avro-confluent` format).
 *
 * Flink decodes each record with its registered writer schema (by the id in the record) into a
 * reader schema. The reader Flink would derive from the table has its own record name and no
 * enums, so Avro's resolution fails on the demo's `Reason` enum; so we give the reader schema
 * (`value.avro-confluent.schema`): the registered schema itself, cut down to the fields the spec
 * reads (Avro skips the others). Flink then insists that the table's physical columns are exactly
 * what it derives from that schema (names, types, NOT NULL), so the columns are written from the
 * schema by the same rules (AvroSchemaConverter, Flink 1.20, legacy timestamp mapping), and the
 * spec's types are computed from them. Pure.
 */

/** What the registry holds for a topic's values (`<topic>-value`, latest version). */
export type RegisteredValueSchema = Readonly<{ schemaType: string; schema: string }>;

/** The latest value schema of a topic, or undefined when none is registered. */
export type ValueSchemaLookup = (topic: string) => Promise<RegisteredValueSchema | undefined>;

/** An Avro input ready to render: the reader schema, the physical columns, each field's value. */
export type AvroReader = Readonly<{
  readerSchema: string;
  /** `name TYPE [NOT NULL]`, in the reader schema's order. */
  columns: readonly string[];
  /** Per spec field: the expression that is NULL when the record has no value, and the typed value. */
  fields: ReadonlyArray<Readonly<{ name: string; raw: string; typed: string }>>;
}>;

type AvroType = string | AvroComplex | AvroType[];
type AvroComplex = {
  type: AvroType;
  logicalType?: string;
  name?: string;
  namespace?: string;
  fields?: AvroField[];
  items?: AvroType;
  values?: AvroType;
  size?: number;
  precision?: number;
  scale?: number;
};
type AvroField = { name: string; type: AvroType } & Record<string, unknown>;

/** A Flink type as SQL, and whether Avro can hold null there. */
type Converted = { sql: string; nullable: boolean };

const primitives: Record<string, string> = {
  boolean: 'BOOLEAN',
  int: 'INT',
  long: 'BIGINT',
  float: 'FLOAT',
  double: 'DOUBLE',
  string: 'STRING',
  bytes: 'BYTES',
};

class Unsupported extends Error {}

const isNamed = (type: AvroComplex) =>
  typeof type.type === 'string' && ['record', 'enum', 'fixed'].includes(type.type);

/** The types nested in a complex type: its fields', items', values' and wrapped type. */
const innerTypes = (type: AvroComplex): AvroType[] => [
  ...(type.fields ?? []).map((field) => field.type),
  ...(type.items !== undefined ? [type.items] : []),
  ...(type.values !== undefined ? [type.values] : []),
  ...(typeof type.type === 'object' ? [type.type] : []),
];

/** Named types (records, enums, fixed) by full and short name, as Avro resolves references. */
function namedTypes(schema: AvroType, namespace = '', out = new Map<string, AvroComplex>()) {
  if (Array.isArray(schema)) schema.forEach((branch) => namedTypes(branch, namespace, out));
  else if (typeof schema === 'object' && schema !== null) {
    const ns = schema.namespace ?? namespace;
    if (schema.name && isNamed(schema)) {
      out.set(schema.name.includes('.') || !ns ? schema.name : `${ns}.${schema.name}`, schema);
      out.set(schema.name, schema);
    }
    for (const inner of innerTypes(schema)) namedTypes(inner, ns, out);
  }
  return out;
}

const notNull = (sql: string): Converted => ({ sql, nullable: false });
const column = (c: Converted) => `${c.sql}${c.nullable ? '' : ' NOT NULL'}`;

function convertLogical(type: AvroComplex): Converted | undefined {
  switch (type.logicalType) {
    case 'date':
      return notNull('DATE');
    case 'time-millis':
      return notNull('TIME(3)');
    case 'time-micros':
      return notNull('TIME(6)');
    case 'timestamp-millis':
      return notNull('TIMESTAMP(3)');
    case 'timestamp-micros':
      return notNull('TIMESTAMP(6)');
    case 'decimal':
      return notNull(`DECIMAL(${type.precision ?? 10}, ${type.scale ?? 0})`);
    default:
      return undefined;
  }
}

function convertComplex(type: AvroComplex, named: Map<string, AvroComplex>): Converted {
  const logical = convertLogical(type);
  if (logical) return logical;
  switch (type.type) {
    case 'record':
      return notNull(
        `ROW<${(type.fields ?? []).map((f) => `${q(f.name)} ${column(convert(f.type, named))}`).join(', ')}>`,
      );
    case 'enum':
      return notNull('STRING');
    case 'fixed':
      return notNull(`VARBINARY(${type.size ?? 1})`);
    case 'array':
      return notNull(`ARRAY<${column(convert(type.items ?? 'null', named))}>`);
    case 'map':
      return notNull(`MAP<STRING NOT NULL, ${column(convert(type.values ?? 'null', named))}>`);
    default:
      return convert(type.type, named);
  }
}

/** Flink's table type for an Avro type (AvroSchemaConverter.convertToDataType, legacy timestamps). */
function convert(type: AvroType, named: Map<string, AvroComplex>): Converted {
  if (Array.isArray(type)) {
    const branches = type.filter((branch) => branch !== 'null');
    if (branches.length !== 1) throw new Unsupported('a union of several types');
    const inner = convert(branches[0]!, named);
    return { sql: inner.sql, nullable: inner.nullable || branches.length < type.length };
  }
  if (typeof type === 'string') {
    const primitive = primitives[type];
    if (primitive) return notNull(primitive);
    const reference = named.get(type);
    if (!reference) throw new Unsupported(`the type ${type}`);
    return convertComplex(reference, named);
  }
  return convertComplex(type, named);
}

const numericFamilies = ['INT', 'BIGINT', 'FLOAT', 'DOUBLE', 'DECIMAL'];

/** Conversions that need no text parsing, by the spec's type; undefined when none fits. */
const directFrom: Partial<Record<FieldType, (expr: string, family: string) => string | undefined>> = {
  timestamp: (expr, family) =>
    family === 'TIMESTAMP'
      ? `CAST(${expr} AS TIMESTAMP_LTZ(3))`
      : family === 'BIGINT' || family === 'INT'
        ? `TO_TIMESTAMP_LTZ(${expr}, 3)`
        : undefined,
  bytes: (expr, family) => (['BYTES', 'VARBINARY'].includes(family) ? expr : undefined),
  date: (expr, family) => (['DATE', 'TIMESTAMP'].includes(family) ? `CAST(${expr} AS DATE)` : undefined),
  string: (expr, family) => (family === 'STRING' ? expr : undefined),
  json: (expr, family) => (family === 'STRING' ? expr : undefined),
};

/** The spec's type from Flink's: a direct cast where it is safe, text parsing otherwise. */
function typedFrom(expr: string, flinkType: string, type: FieldType): string {
  const family = /^[A-Z]+/.exec(flinkType)?.[0] ?? flinkType;
  if (['ROW', 'ARRAY', 'MAP'].includes(family)) {
    throw new Unsupported(`${flinkType} (a nested value): read its fields, e.g. as <field>.<inner>`);
  }
  const direct = directFrom[type]?.(expr, family);
  if (direct) return direct;
  if (flinkTypeOf[type] === flinkType) return expr;
  if (numericFamilies.includes(family) && ['int', 'long', 'float', 'double', 'decimal'].includes(type))
    return `TRY_CAST(${expr} AS ${flinkTypeOf[type]})`;
  return typedJsonValue(`CAST(${expr} AS STRING)`, type);
}

/** A named type's first use is its definition: a reader without the field that defined it inlines it. */
function withDefinitions(type: AvroType, named: Map<string, AvroComplex>, defined: Set<string>): AvroType {
  if (Array.isArray(type)) return type.map((branch) => withDefinitions(branch, named, defined));
  if (typeof type === 'string') {
    const reference = named.get(type);
    if (!reference || primitives[type] || defined.has(reference.name ?? '')) return type;
    return withDefinitions(reference, named, defined);
  }
  if (typeof type !== 'object' || type === null) return type;
  if (type.name && isNamed(type)) defined.add(type.name);
  return {
    ...type,
    ...(typeof type.type !== 'string' ? { type: withDefinitions(type.type, named, defined) } : {}),
    ...(type.fields
      ? { fields: type.fields.map((f) => ({ ...f, type: withDefinitions(f.type, named, defined) })) }
      : {}),
    ...(type.items !== undefined ? { items: withDefinitions(type.items, named, defined) } : {}),
    ...(type.values !== undefined ? { values: withDefinitions(type.values, named, defined) } : {}),
  };
}

/**
 * The reader of one Avro input from its registered schema, or the problems (each a sentence naming
 * the field). A dotted field name (`address.city`, as discovery flattens nested records) reads the
 * nested field of its top-level record.
 */
export function avroReaderOf(
  input: Pick<InputBinding, 'topic' | 'fields'>,
  registered: RegisteredValueSchema,
): { reader: AvroReader } | { problems: string[] } {
  const where = `topic ${input.topic}`;
  if (registered.schemaType !== 'AVRO') {
    return {
      problems: [
        `${where}: its registered value schema is ${registered.schemaType}, not Avro: product jobs read Avro and JSON only`,
      ],
    };
  }
  let schema: AvroComplex;
  try {
    schema = JSON.parse(registered.schema) as AvroComplex;
  } catch {
    return { problems: [`${where}: its registered Avro schema is not JSON`] };
  }
  if (schema.type !== 'record' || !Array.isArray(schema.fields)) {
    return { problems: [`${where}: its registered Avro schema is not a record: a product reads records`] };
  }
  const named = namedTypes(schema);
  const problems: string[] = [];
  const tops = new Set(input.fields.map((field) => field.name.split('.')[0]!));
  const kept = schema.fields.filter((field) => tops.has(field.name));
  const physical = new Map<string, Converted>();
  for (const field of kept) {
    try {
      physical.set(field.name, convert(field.type, named));
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      problems.push(`${where}: the field '${field.name}' is ${error.message}, which Flink cannot read`);
    }
  }
  const fields = input.fields.flatMap((field) => {
    const [top, ...rest] = field.name.split('.');
    const converted = physical.get(top!);
    if (!kept.some((k) => k.name === top)) {
      problems.push(
        `${where}: the field '${field.name}' is not in its registered Avro schema (fields: ${schema.fields!.map((f) => f.name).join(', ')})`,
      );
      return [];
    }
    if (!converted) return [];
    const raw = [top!, ...rest].map(q).join('.');
    const flinkType = rest.length === 0 ? converted.sql : nestedType(converted.sql, rest);
    if (flinkType === undefined) {
      problems.push(`${where}: the field '${field.name}' is not in its registered Avro schema`);
      return [];
    }
    try {
      return [{ name: field.name, raw, typed: typedFrom(raw, flinkType, field.type) }];
    } catch (error) {
      if (!(error instanceof Unsupported)) throw error;
      problems.push(`${where}: the field '${field.name}' is ${error.message}`);
      return [];
    }
  });
  if (problems.length > 0) return { problems };
  const defined = new Set<string>();
  const reader = withDefinitions({ ...schema, fields: kept }, named, defined);
  return {
    reader: {
      readerSchema: JSON.stringify(reader),
      columns: kept.map((field) => `${q(field.name)} ${column(physical.get(field.name)!)}`),
      fields,
    },
  };
}

/** The type of `a.b` inside `ROW<...>` text: the nested field's SQL type, or undefined. */
function nestedType(rowType: string, path: readonly string[]): string | undefined {
  let type = rowType;
  for (const name of path) {
    const inner = /^ROW<(.*)>$/.exec(type)?.[1];
    if (inner === undefined) return undefined;
    const fields = splitTopLevel(inner);
    const found = fields.find((f) => f.startsWith(`${q(name)} `));
    if (!found) return undefined;
    type = found.slice(q(name).length + 1).replace(/ NOT NULL$/, '');
  }
  return type;
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(') depth++;
    else if (c === '>' || c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}

/**
 * The readers of every Avro input, from the registry (latest `<topic>-value`), or the problems:
 * no schema registered, not Avro, a field it does not have or Flink cannot read.
 */
export async function resolveAvroReaders(
  inputs: readonly InputBinding[],
  lookup: ValueSchemaLookup | undefined,
): Promise<{ readers: Map<string, AvroReader>; problems: string[] }> {
  const readers = new Map<string, AvroReader>();
  const problems: string[] = [];
  for (const input of inputs) {
    if (input.format !== 'avro') continue;
    if (!lookup) {
      problems.push(`inputs: topic ${input.topic}: Avro, but no Schema Registry is configured to read it`);
      continue;
    }
    const registered = await lookup(input.topic);
    if (!registered) {
      problems.push(
        `inputs: topic ${input.topic}: format avro, but the Schema Registry has no schema under ${input.topic}-value (register it, or read the topic as JSON)`,
      );
      continue;
    }
    const result = avroReaderOf(input, registered);
    if ('problems' in result) problems.push(...result.problems.map((p) => `inputs: ${p}`));
    else readers.set(input.topic, result.reader);
  }
  return { readers, problems };
}

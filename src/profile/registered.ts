import type { FieldProfile, ProfiledType, TopicProfile } from './types';

/**
 * What a Schema Registry says about a topic's records: the format, the schema ids seen, and each
 * field's registered name and type. Profiles of decoded records take their types from here rather
 * than from inference (a registered `long` stays a long even when its values look like epoch ms).
 */
export type RegisteredFormat = 'avro' | 'protobuf' | 'json-schema';

export type RegisteredField = Readonly<{
  /** Dotted path for nested records, as the profiler flattens them. */
  name: string;
  /** The profiled type it maps to. */
  type: ProfiledType;
  /** The schema's own word for it: `long`, `timestamp-millis`, `int32`, `google.protobuf.Timestamp`, `integer`. */
  registeredType: string;
}>;

export type RegisteredSchema = Readonly<{
  format: RegisteredFormat;
  schemaIds: readonly number[];
  subjects: readonly string[];
  fields: readonly RegisteredField[];
}>;

/** Nested records are flattened to this depth, as the profiler does with JSON objects. */
const FLATTEN_DEPTH = 3;
const MAX_FIELDS = 500;

type AvroType =
  string | { type: AvroType; logicalType?: string; fields?: AvroField[]; name?: string } | AvroType[];
type AvroField = { name: string; type: AvroType };

function avroTypeOf(type: AvroType): { type: ProfiledType; registeredType: string } | 'record' {
  if (Array.isArray(type)) {
    // Unions: ["null", X] is a nullable X; anything wider is json.
    const branches = type.filter((branch) => branch !== 'null');
    return branches.length === 1 ? avroTypeOf(branches[0]!) : { type: 'json', registeredType: 'union' };
  }
  if (typeof type === 'object' && type !== null) {
    const logical = type.logicalType ? avroLogicalTypes(type.logicalType) : undefined;
    if (logical) return { type: logical, registeredType: type.logicalType! };
    if (type.type === 'record') return 'record';
    if (type.type === 'array') return { type: 'array', registeredType: 'array' };
    if (type.type === 'map') return { type: 'json', registeredType: 'map' };
    if (type.type === 'enum') return { type: 'string', registeredType: 'enum' };
    if (type.type === 'fixed') return { type: 'string', registeredType: 'fixed' };
    return avroTypeOf(type.type);
  }
  const primitive: Record<string, ProfiledType> = {
    int: 'long',
    long: 'long',
    float: 'double',
    double: 'double',
    boolean: 'boolean',
    string: 'string',
    bytes: 'string',
    null: 'null',
  };
  return { type: primitive[type] ?? 'json', registeredType: type };
}

function avroLogicalTypes(logical: string): ProfiledType | undefined {
  if (/^(timestamp|local-timestamp)-(millis|micros|nanos)$/.test(logical) || logical === 'date')
    return 'timestamp';
  return logical === 'decimal' ? 'double' : logical === 'uuid' ? 'string' : undefined;
}

/** The fields of an Avro record schema (its JSON text), flattened. Unparseable schemas give none. */
export function avroFields(schemaText: string): RegisteredField[] {
  const out: RegisteredField[] = [];
  const walk = (record: { fields?: AvroField[] }, prefix: string, depth: number) => {
    for (const field of record.fields ?? []) {
      if (out.length >= MAX_FIELDS || typeof field?.name !== 'string') return;
      const name = prefix ? `${prefix}.${field.name}` : field.name;
      const mapped = avroTypeOf(field.type);
      if (mapped !== 'record') out.push({ name, ...mapped });
      else if (depth < FLATTEN_DEPTH) walk(unionRecord(field.type), name, depth + 1);
      else out.push({ name, type: 'json', registeredType: 'record' });
    }
  };
  try {
    const schema = JSON.parse(schemaText) as AvroType;
    if (typeof schema === 'object' && !Array.isArray(schema) && schema.type === 'record') walk(schema, '', 1);
  } catch {
    return [];
  }
  return out;
}

function unionRecord(type: AvroType): { fields?: AvroField[] } {
  if (Array.isArray(type)) return unionRecord(type.find((branch) => branch !== 'null') ?? 'null');
  return typeof type === 'object' && type !== null ? type : {};
}

type JsonSchemaNode = {
  type?: string | string[];
  format?: string;
  properties?: Record<string, JsonSchemaNode>;
};

const jsonSchemaTypes: Record<string, ProfiledType> = {
  integer: 'long',
  number: 'double',
  boolean: 'boolean',
  string: 'string',
  array: 'array',
};

function jsonSchemaTypeOf(node: JsonSchemaNode | undefined): string {
  const types = (Array.isArray(node?.type) ? node.type : [node?.type]).filter((t) => t && t !== 'null');
  return types.length === 1 ? (types[0] as string) : 'json';
}

function jsonSchemaField(type: string, format: string | undefined): Omit<RegisteredField, 'name'> {
  const timed = type === 'string' && (format === 'date-time' || format === 'date');
  return {
    type: timed ? 'timestamp' : (jsonSchemaTypes[type] ?? 'json'),
    registeredType: format ? `${type} (${format})` : type,
  };
}

/** The properties of a JSON Schema object (its text), flattened. */
export function jsonSchemaFields(schemaText: string): RegisteredField[] {
  const out: RegisteredField[] = [];
  const walk = (node: JsonSchemaNode, prefix: string, depth: number) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (out.length >= MAX_FIELDS) return;
      const name = prefix ? `${prefix}.${key}` : key;
      const type = jsonSchemaTypeOf(child);
      if (type === 'object' && child.properties && depth < FLATTEN_DEPTH) walk(child, name, depth + 1);
      else out.push({ name, ...jsonSchemaField(type, child?.format) });
    }
  };
  try {
    walk(JSON.parse(schemaText) as JsonSchemaNode, '', 1);
  } catch {
    return [];
  }
  return out;
}

/**
 * A profile with what the registry says: its format and schema ids, each field's registered type
 * (and the profiled type taken from it), in the schema's order for fields the sample held.
 */
export function applyRegisteredSchema(profile: TopicProfile, registered: RegisteredSchema): TopicProfile {
  const byName = new Map(registered.fields.map((field) => [field.name, field]));
  const fields: FieldProfile[] = profile.fields.map((field) => {
    const known = byName.get(field.name);
    if (!known) return field;
    const { timeUnit: _unit, ...rest } = field;
    return {
      ...(known.type === 'timestamp' || field.type !== 'timestamp' ? field : rest),
      type: known.type,
      registeredType: known.registeredType,
    };
  });
  return {
    ...profile,
    fields,
    format: {
      kind: registered.format,
      schemaIds: [...registered.schemaIds].sort((a, b) => a - b),
      subjects: [...registered.subjects],
    },
  };
}

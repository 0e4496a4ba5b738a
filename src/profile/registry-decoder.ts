import type { DescEnum, DescField, DescMessage } from '@bufbuild/protobuf';
import { ScalarType } from '@bufbuild/protobuf';
import type {
  AvroDeserializer,
  Client,
  JsonDeserializer,
  ProtobufDeserializer,
} from '@confluentinc/schemaregistry';
import type { SchemaRegistryConfig } from '../config';
import type { Logger } from '../log';
import type { DecodeFailure, ProfiledMessage } from './profiler';
import type { ProfiledType } from './types';
import type { RegisteredField, RegisteredFormat, RegisteredSchema } from './registered';
import { avroFields, jsonSchemaFields } from './registered';
import { createSchemaRegistryClient, topicNameSubjects } from '../adapters/schema-registry/client';
import { protobufIndexesSound, wireSchemaId } from '../adapters/schema-registry/wire';

/**
 * Decodes records in Confluent's wire format (Avro, Protobuf, JSON Schema) through a Schema Registry
 * with the official client's deserializers, into plain JSON the profiler reads with the schema's
 * own field names. Records are untrusted: an unknown schema id or bytes that do not decode are
 * marked (counted as unparseable), never thrown; lookups of unknown ids are remembered and capped,
 * so a topic of garbage costs a bounded number of registry requests. Plain JSON passes untouched.
 */

export type RegistryDecoderOptions = Readonly<{
  /** Wire-format records larger than this are not decoded (the profiler counts them tooLarge). */
  maxRecordBytes?: number;
  /** At most this many distinct schema ids are looked up per run; beyond, records count as unknownSchema. */
  maxSchemaLookups?: number;
  /** Decoded values nest at most this deep; deeper parts are left out. */
  maxDepth?: number;
}>;

type Deserializers = {
  avro: AvroDeserializer;
  protobuf: ProtobufDeserializer;
  json: JsonDeserializer;
};

type Schema = { format: RegisteredFormat; fields: readonly RegisteredField[] | undefined; text: string };

const formatOf = (schemaType: string | undefined): RegisteredFormat | undefined =>
  schemaType === undefined || schemaType === '' || schemaType === 'AVRO'
    ? 'avro'
    : schemaType === 'PROTOBUF'
      ? 'protobuf'
      : schemaType === 'JSON'
        ? 'json-schema'
        : undefined;

export class RegistryDecoder {
  private readonly schemas = new Map<number, Schema | 'unknown'>();
  private lookups = 0;
  /** Set when the registry gave no answer (not a 404): the rest of the run asks it nothing more. */
  private unavailable = false;
  private readonly seen = new Map<
    string,
    { format: RegisteredFormat; ids: Set<number>; fields: Map<string, RegisteredField> }
  >();
  private readonly options: Required<RegistryDecoderOptions>;

  private constructor(
    private readonly client: Client,
    private readonly deserializers: Deserializers,
    private readonly log: Logger | undefined,
    options: RegistryDecoderOptions,
  ) {
    this.options = { maxRecordBytes: 256 * 1024, maxSchemaLookups: 64, maxDepth: 32, ...options };
  }

  static async create(
    config: SchemaRegistryConfig,
    options: RegistryDecoderOptions & { log?: Logger } = {},
  ): Promise<RegistryDecoder> {
    return RegistryDecoder.withClient(await createSchemaRegistryClient(config), options);
  }

  /** Over a given client (tests pass the library's in-memory MockClient). */
  static async withClient(
    client: Client,
    options: RegistryDecoderOptions & { log?: Logger } = {},
  ): Promise<RegistryDecoder> {
    const serde = await import('@confluentinc/schemaregistry');
    const value = serde.SerdeType.VALUE;
    return new RegistryDecoder(
      client,
      {
        avro: new serde.AvroDeserializer(client, value, topicNameSubjects(serde)),
        protobuf: new serde.ProtobufDeserializer(client, value, topicNameSubjects(serde)),
        json: new serde.JsonDeserializer(client, value, topicNameSubjects(serde)),
      },
      options.log,
      options,
    );
  }

  /** The batch with wire-format values decoded to JSON, or marked with why they could not be. */
  async decode(topic: string, messages: readonly ProfiledMessage[]): Promise<ProfiledMessage[]> {
    const out: ProfiledMessage[] = [];
    for (const message of messages) {
      const id = wireSchemaId(message.value);
      if (id === undefined || message.value!.length > this.options.maxRecordBytes) {
        out.push(message);
        continue;
      }
      const result = await this.decodeOne(topic, id, message.value!);
      out.push(
        'failure' in result
          ? { ...message, decodeFailure: result.failure }
          : { ...message, value: Buffer.from(JSON.stringify(result.record)) },
      );
    }
    return out;
  }

  /** What the registry said about each topic that held decodable records. */
  registered(): Map<string, RegisteredSchema> {
    return new Map(
      [...this.seen.entries()].map(([topic, seen]) => [
        topic,
        {
          format: seen.format,
          schemaIds: [...seen.ids],
          subjects: [`${topic}-value`],
          fields: [...seen.fields.values()],
        },
      ]),
    );
  }

  private async schemaOf(topic: string, id: number): Promise<Schema | undefined> {
    const known = this.schemas.get(id);
    if (known !== undefined) return known === 'unknown' ? undefined : known;
    if (this.unavailable || this.lookups >= this.options.maxSchemaLookups) return undefined;
    this.lookups++;
    try {
      const info = await this.client.getBySubjectAndId(`${topic}-value`, id);
      const format = formatOf(info.schemaType);
      const schema: Schema | 'unknown' = format
        ? {
            format,
            text: info.schema,
            fields:
              format === 'avro'
                ? avroFields(info.schema)
                : format === 'json-schema'
                  ? jsonSchemaFields(info.schema)
                  : undefined,
          }
        : 'unknown';
      this.schemas.set(id, schema);
      return schema === 'unknown' ? undefined : schema;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 404) this.schemas.set(id, 'unknown');
      else {
        // No answer rather than the registry's answer: say so once, and wait for no more timeouts.
        this.unavailable = true;
        this.log?.warn('schema registry did not answer; wire-format records count as unknownSchema', {
          topic,
          schemaId: id,
          error: (error as Error).message,
        });
      }
      return undefined;
    }
  }

  private async decodeOne(
    topic: string,
    id: number,
    value: Buffer,
  ): Promise<{ failure: DecodeFailure } | { record: object }> {
    const failure = (reason: DecodeFailure) => ({ failure: reason });
    const schema = await this.schemaOf(topic, id);
    if (!schema) return failure('unknownSchema');
    try {
      let plain: unknown;
      let fields = schema.fields;
      if (schema.format === 'protobuf') {
        if (!protobufIndexesSound(value)) return failure('undecodable');
        const message = (await this.deserializers.protobuf.deserialize(topic, value)) as {
          $typeName: string;
        };
        const desc = this.deserializers.protobuf.fileRegistry.getMessage(message.$typeName);
        if (!desc) return failure('undecodable');
        plain = protobufToPlain(desc, message, this.options.maxDepth);
        fields = protobufFields(desc);
      } else {
        const decoded: unknown = await this.deserializers[
          schema.format === 'avro' ? 'avro' : 'json'
        ].deserialize(topic, value);
        plain = toPlain(decoded, this.options.maxDepth);
      }
      // Only records profile as rows (a registered bare string or array is not a table).
      if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) return failure('undecodable');
      this.remember(topic, id, schema.format, fields ?? []);
      return { record: plain };
    } catch {
      return failure('undecodable');
    }
  }

  private remember(topic: string, id: number, format: RegisteredFormat, fields: readonly RegisteredField[]) {
    let seen = this.seen.get(topic);
    if (!seen) this.seen.set(topic, (seen = { format, ids: new Set(), fields: new Map() }));
    if (seen.ids.has(id)) return;
    seen.ids.add(id);
    // A later schema version's fields join the earlier ones (a field kept keeps its first type).
    for (const field of fields) if (!seen.fields.has(field.name)) seen.fields.set(field.name, field);
  }
}

/** Decoded Avro and JSON values as plain JSON: longs as numbers, bytes as base64, dates as ISO text. */
export function toPlain(value: unknown, depth: number): unknown {
  if (depth < 0) return undefined;
  switch (typeof value) {
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
      if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
      if (Array.isArray(value)) return value.map((item) => toPlain(item, depth - 1));
      const out: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value)) out[key] = toPlain(inner, depth - 1);
      return out;
    }
    default:
      return value;
  }
}

const integerScalars = new Set<ScalarType>([
  ScalarType.INT32,
  ScalarType.INT64,
  ScalarType.UINT32,
  ScalarType.UINT64,
  ScalarType.SINT32,
  ScalarType.SINT64,
  ScalarType.FIXED32,
  ScalarType.FIXED64,
  ScalarType.SFIXED32,
  ScalarType.SFIXED64,
]);
const TIMESTAMP = 'google.protobuf.Timestamp';

function scalarType(scalar: ScalarType): ProfiledType {
  if (scalar === ScalarType.BOOL) return 'boolean';
  if (scalar === ScalarType.DOUBLE || scalar === ScalarType.FLOAT) return 'double';
  // Bytes are profiled as their base64 text.
  return integerScalars.has(scalar) ? 'long' : 'string';
}

function scalarName(scalar: ScalarType): string {
  return (ScalarType[scalar] ?? 'scalar').toLowerCase();
}

/** A Protobuf message as plain JSON under the .proto's own field names (not the generated camelCase). */
export function protobufToPlain(desc: DescMessage, message: unknown, depth: number): unknown {
  if (depth < 0 || message === null || typeof message !== 'object') return undefined;
  const source = message as Record<string, unknown>;
  if (desc.typeName === TIMESTAMP) {
    const seconds = Number(source.seconds ?? 0);
    const ms = seconds * 1000 + Math.floor(Number(source.nanos ?? 0) / 1e6);
    return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : null;
  }
  const out: Record<string, unknown> = {};
  for (const field of desc.fields) {
    const value = field.oneof ? oneofValue(source, field) : source[field.localName];
    if (value === undefined) continue;
    out[field.name] = protobufValue(field, value, depth - 1);
  }
  return out;
}

/** A oneof member lives under the oneof's name as `{ case, value }` in protobuf-es messages. */
function oneofValue(source: Record<string, unknown>, field: DescField): unknown {
  const chosen = source[field.oneof!.localName] as { case?: string; value?: unknown } | undefined;
  return chosen?.case === field.localName ? chosen.value : undefined;
}

function protobufValue(field: DescField, value: unknown, depth: number): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return toPlain(value, depth);
    case 'enum':
      return enumName(field.enum, value);
    case 'message':
      return protobufToPlain(field.message, value, depth);
    case 'list':
      return Array.isArray(value)
        ? value.map((item) =>
            field.listKind === 'message'
              ? protobufToPlain(field.message, item, depth - 1)
              : field.listKind === 'enum'
                ? enumName(field.enum, item)
                : toPlain(item, depth - 1),
          )
        : [];
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        out[key] =
          field.mapKind === 'message'
            ? protobufToPlain(field.message, item, depth - 1)
            : field.mapKind === 'enum'
              ? enumName(field.enum, item)
              : toPlain(item, depth - 1);
      }
      return out;
    }
  }
}

function enumName(desc: DescEnum, value: unknown): unknown {
  return desc.values.find((v) => v.number === value)?.name ?? value;
}

/** The fields of a Protobuf message, flattened as the profiler flattens nested objects. */
export function protobufFields(desc: DescMessage, prefix = '', depth = 1): RegisteredField[] {
  const out: RegisteredField[] = [];
  for (const field of desc.fields) {
    const name = prefix ? `${prefix}.${field.name}` : field.name;
    switch (field.fieldKind) {
      case 'scalar':
        out.push({ name, type: scalarType(field.scalar), registeredType: scalarName(field.scalar) });
        break;
      case 'enum':
        out.push({ name, type: 'string', registeredType: field.enum.typeName });
        break;
      case 'message':
        if (field.message.typeName === TIMESTAMP)
          out.push({ name, type: 'timestamp', registeredType: TIMESTAMP });
        else if (depth < 3) out.push(...protobufFields(field.message, name, depth + 1));
        else out.push({ name, type: 'json', registeredType: field.message.typeName });
        break;
      case 'list':
        out.push({ name, type: 'array', registeredType: 'repeated' });
        break;
      case 'map':
        out.push({ name, type: 'json', registeredType: 'map' });
        break;
    }
  }
  return out;
}

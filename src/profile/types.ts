import type { PiiSignal } from './pii';
import type { KeySketch } from './sketch';

/** Why a record could not be profiled; every such record is counted, none is dropped silently. */
export const unparseableReasons = [
  'empty',
  'binary',
  'notJson',
  'notObject',
  'tooLarge',
  'tooDeep',
  // Confluent wire format whose schema id the registry does not know (or that no registry could answer).
  'unknownSchema',
  // Confluent wire format whose bytes do not decode with their registered schema.
  'undecodable',
] as const;
export type UnparseableReason = (typeof unparseableReasons)[number];

/** Field types as a product spec names them (plus `array`, which specs carry as json). */
export type ProfiledType = 'string' | 'long' | 'double' | 'boolean' | 'timestamp' | 'json' | 'array' | 'null';

export type FieldProfile = {
  /** Dotted path for nested objects: `address.city`. */
  name: string;
  type: ProfiledType;
  /** The Arrow type the column was profiled as (Utf8, Float64, Timestamp<MILLISECOND>, ...). */
  arrowType: string;
  /** How many values of each JSON type were seen: more than one means the schema drifted. */
  observedTypes: Partial<Record<ProfiledType, number>>;
  /** Records with a non-null value. */
  present: number;
  /** Records where the field is null or missing, over all parsed records. */
  nullRatio: number;
  distinct: number;
  distinctExact: boolean;
  min?: number | string;
  max?: number | string;
  /** Epoch fields: the unit their numbers are in. */
  timeUnit?: 'ms' | 's';
  /** Longest string value in UTF-8 bytes. */
  maxLength?: number;
  /** Most frequent values (from the first rows; left out for PII fields and near-unique fields). */
  topValues?: Array<{ value: string; count: number }>;
  /**
   * Key-like fields (string or long, one type, at least 16 distinct values, no PII): the 512
   * smallest hashes of their values, so discovery can measure how far two fields' values overlap
   * (`keyOverlap` in ./sketch) whatever they are called.
   */
  keySketch?: KeySketch;
  pii: PiiSignal[];
  /** For records decoded through a Schema Registry: the type the schema declares (`long`, `int32`, ...). */
  registeredType?: string;
};

export type TopicProfile = {
  topic: string;
  profiledAt: string;
  /** Every record read: parsed + unparseable. */
  records: number;
  parsed: number;
  bytes: number;
  unparseable: {
    total: number;
    byReason: Record<UnparseableReason, number>;
    /** Where the first few are (never their contents: records are untrusted and may hold PII). */
    examples: Array<{ partition: number; offset: string; reason: UnparseableReason }>;
  };
  fields: FieldProfile[];
  /** Fields beyond the column cap, counted but not profiled. */
  droppedFields: number;
  /** Fields whose values are unique and never null: candidates for the product key. */
  candidateKeys: string[];
  eventTimeField?: string;
  /** The Kafka message key: how often it is null, how many distinct, which field it mirrors. */
  messageKey: { nullRatio: number; distinct: number; field?: string };
  /**
   * Fields whose values changed JSON type for a large share of the sample (more than
   * MAX_MISTYPED_SHARE of their values): the schema drifted, and a product would misread them.
   */
  drift: Array<{ field: string; types: Partial<Record<ProfiledType, number>> }>;
  /**
   * Fields of one type but for a few values (at most MAX_MISTYPED_SHARE of them): bad records that a
   * product rejects, not a changed schema. `records` counts the values of another type.
   */
  mistyped?: Array<{
    field: string;
    type: ProfiledType;
    records: number;
    types: Partial<Record<ProfiledType, number>>;
  }>;
  /** Records identical (key and value) to one read before: redeliveries, left out of every figure. */
  duplicates?: number;
  /** PII signals over all fields. */
  pii: PiiSignal[];
  /** Records in a Schema Registry format (Confluent wire format): which, and under which schema ids. */
  format?: { kind: 'avro' | 'protobuf' | 'json-schema'; schemaIds: number[]; subjects: string[] };
  /** Broker timestamps of the sample, ISO. */
  brokerTime?: { min: string; max: string };
};

/**
 * A field whose values are of one type but for at most this share is of that type: the others are
 * bad records a product rejects (4 mistyped records in 2,500). Beyond it the field changed type.
 */
export const MAX_MISTYPED_SHARE = 0.01;
/** How many of a field's values are not of its dominant type. */
export function minorityOf(observed: Partial<Record<ProfiledType, number>>): {
  dominant: number;
  minority: number;
} {
  const counts = Object.values(observed);
  const total = counts.reduce((a, b) => a + b, 0);
  const dominant = Math.max(0, ...counts);
  return { dominant, minority: total - dominant };
}

/** One type, or one type but for a small share of bad values. */
export const isOneType = (observed: Partial<Record<ProfiledType, number>>) => {
  const { dominant, minority } = minorityOf(observed);
  return minority <= MAX_MISTYPED_SHARE * (dominant + minority);
};

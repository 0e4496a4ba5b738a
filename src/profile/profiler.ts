import type { DataType, Vector } from 'apache-arrow';
import {
  Bool,
  Field,
  Float64,
  Int64,
  Null,
  Schema,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  makeVector,
} from 'apache-arrow';
import { detectPii } from './pii';
import type { PiiSignal } from './pii';
import type { Kind } from './scan';
import { looksLikeTime, RecordScanner, Staged } from './scan';
import {
  BottomKSketch,
  DistinctCounter,
  hashBytes,
  hashNumber,
  hashString,
  IdSet,
  recordIdOf,
} from './sketch';
import type { FieldProfile, ProfiledType, TopicProfile, UnparseableReason } from './types';
import { isOneType, minorityOf, unparseableReasons } from './types';
import type { SampledMessage } from '../adapters/kafka/sampler';

/**
 * The message shape the profiler reads: what the Kafka sampler yields. Records in a registry format
 * arrive decoded (as JSON), or marked with why they could not be.
 */
export type ProfiledMessage = SampledMessage & { decodeFailure?: DecodeFailure };
export type DecodeFailure = Extract<UnparseableReason, 'unknownSchema' | 'undecodable'>;

export type ProfilerOptions = Readonly<{
  /** Records larger than this are counted as tooLarge, not parsed. */
  maxRecordBytes?: number;
  /** Nested objects are flattened to dotted fields down to this depth; deeper ones are `json`. */
  flattenDepth?: number;
  /** Records nested deeper than this are counted as tooDeep. */
  maxNesting?: number;
  /** Rows per Arrow record batch. */
  chunkRows?: number;
  /** Top values are counted over this many values per field. */
  topValueRows?: number;
  /** PII checks look at this many non-null values per field. */
  piiSampleSize?: number;
  /** At most this many columns per topic. */
  maxFields?: number;
  /** Longer (dotted) field names are counted in `droppedFields`, not profiled: they become column names. */
  maxFieldNameLength?: number;
  /**
   * Read records with the byte scanner (`./scan`) where it can; false: every record through
   * JSON.parse. The profile is the same either way (tests compare the two); only the speed differs.
   */
  scanner?: boolean;
}>;

const defaults = {
  maxRecordBytes: 256 * 1024,
  flattenDepth: 3,
  maxNesting: 32,
  chunkRows: 8192,
  topValueRows: 20_000,
  piiSampleSize: 500,
  maxFields: 500,
  maxFieldNameLength: 128,
  scanner: true,
};

const kindType: Record<Kind, ProfiledType> = {
  n: 'double',
  s: 'string',
  b: 'boolean',
  t: 'timestamp',
  j: 'json',
  a: 'array',
};

/** Redelivered records are recognised among this many distinct records; beyond, every record counts. */
const MAX_REMEMBERED_RECORDS = 1_000_000;

/** Fields with fewer distinct values (statuses, countries, small counts) get no key sketch. */
export const MIN_KEY_DISTINCT = 16;
const EPOCH_MS_MIN = Date.UTC(2000, 0, 1);
const EPOCH_MS_MAX = Date.UTC(2100, 0, 1);
const TIME_NAME = /(^|[._])(ts|time|timestamp|event_?time|date|datetime)$|_(at|ts|time|date)$/i;
const LATE_TIME_NAME = /(updated|modified|deleted|delivered|expires?|ingested|processed)/i;

/** One more value of `kind`: a named property each (a keyed increment is several times slower). */
function countKind(kinds: Record<Kind, number>, kind: Kind): void {
  switch (kind) {
    case 'n':
      kinds.n++;
      break;
    case 's':
      kinds.s++;
      break;
    case 't':
      kinds.t++;
      break;
    case 'b':
      kinds.b++;
      break;
    case 'j':
      kinds.j++;
      break;
    default:
      kinds.a++;
  }
}

class FieldState {
  readonly kinds: Record<Kind, number> = { n: 0, s: 0, b: 0, t: 0, j: 0, a: 0 };
  present = 0;
  allIntegers = true;
  min = Infinity;
  max = -Infinity;
  maxLength = 0;
  readonly distinct = new DistinctCounter();
  // A bounded sample of the values' hashes, so discovery can tell which fields share values.
  readonly keys = new BottomKSketch();
  readonly top = new Map<string, number>();
  topSeen = 0;
  readonly piiSample: string[] = [];
  // The current chunk's numeric column (numbers, epoch-ms timestamps) and its validity bitmap,
  // in Arrow's layout so it becomes a Float64 vector without copying.
  numbers: Float64Array;
  validity: Uint8Array;
  numericRows = 0;
  constructor(
    readonly name: string,
    readonly order: number,
    chunkRows: number,
  ) {
    this.numbers = new Float64Array(chunkRows);
    this.validity = new Uint8Array(Math.ceil(chunkRows / 8));
  }

  count(text: string, options: typeof defaults): void {
    if (this.topSeen < options.topValueRows) {
      this.topSeen++;
      const seen = this.top.get(text);
      if (seen !== undefined) this.top.set(text, seen + 1);
      else if (this.top.size < 5000) this.top.set(text, 1);
    }
  }
}

/**
 * Profiles one topic's records as they stream in: each record is parsed (or counted as
 * unparseable, with its reason) and flattened into columns. Numeric and time columns are written
 * straight into Arrow-layout buffers (values + validity bitmap); every `chunkRows` rows they
 * become an Arrow record batch whose Float64 vectors give min, max and distinct counts. Strings
 * are hashed and counted as they arrive, without building UTF-8 copies (that alone would halve
 * throughput). The inferred schema is an Arrow schema (`arrowSchemaOf`). Memory stays bounded by
 * the chunk size and the sketches, whatever the sample size.
 */
export class TopicProfiler {
  private readonly options: typeof defaults;
  private readonly fields = new Map<string, FieldState>();
  private droppedFields = new Set<string>();
  private rows = 0; // rows in the current chunk
  private records = 0;
  private parsed = 0;
  private bytes = 0;
  private readonly unparseable: Record<UnparseableReason, number> = Object.fromEntries(
    unparseableReasons.map((reason) => [reason, 0]),
  ) as Record<UnparseableReason, number>;
  private readonly examples: TopicProfile['unparseable']['examples'] = [];
  private keyNulls = 0;
  private readonly keyDistinct = new DistinctCounter();
  private readonly keyMatches = new Map<string, number>();
  private keyChecks = 0;
  private brokerMin = Infinity;
  private brokerMax = -Infinity;
  // Reused per row: a record's flattened values are staged, then committed only if it is sound.
  private readonly staged = new Staged();
  private readonly scanner: RecordScanner | undefined;
  // The fields of the previous record by position: records of a topic mostly share their layout,
  // so most lookups are one string comparison instead of a map lookup.
  private readonly lastLayout: Array<FieldState | undefined> = [];
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  // Records seen (a 53-bit hash of key and value): an identical one again is a redelivery.
  private readonly seen = new IdSet();
  private duplicates = 0;

  constructor(
    readonly topic: string,
    options: ProfilerOptions = {},
  ) {
    this.options = { ...defaults, ...options };
    if (this.options.scanner) this.scanner = new RecordScanner(this.staged, this.options);
  }

  addAll(messages: readonly ProfiledMessage[]): void {
    for (const message of messages) this.add(message);
  }

  add(message: ProfiledMessage): void {
    this.records++;
    const value = message.value;
    const size = value?.length ?? 0;
    this.bytes += size + (message.key?.length ?? 0);
    if (message.timestamp < this.brokerMin) this.brokerMin = message.timestamp;
    if (message.timestamp > this.brokerMax) this.brokerMax = message.timestamp;
    if (message.key === null) this.keyNulls++;
    else this.keyDistinct.add(hashBytes(message.key, 0, message.key.length));

    if (message.decodeFailure) return this.reject(message, message.decodeFailure);
    if (value === null || size === 0) return this.reject(message, 'empty');
    if (size > this.options.maxRecordBytes) return this.reject(message, 'tooLarge');
    // Most records: read from their bytes. The scanner declines anything unusual (see ./scan).
    if (this.scanner?.scan(value)) {
      if (!this.isRedelivery(message, value)) this.commit(message);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (error) {
      if (error instanceof RangeError) return this.reject(message, 'tooDeep');
      return this.reject(message, this.isText(value) ? 'notJson' : 'binary');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return this.reject(message, 'notObject');
    }
    if (this.isRedelivery(message, value)) return;
    this.staged.size = 0;
    if (!this.stage(parsed as Record<string, unknown>, '', 1)) return this.reject(message, 'tooDeep');
    this.commit(message);
  }

  /**
   * Whether the very same record (key and value) was read before: a producer's retry or a replayed
   * batch delivers a record twice, and counting it twice would make a unique key look repeated
   * (the demo's joins came and went with such redeliveries).
   */
  private isRedelivery(message: ProfiledMessage, value: Buffer): boolean {
    const id = recordIdOf(value, message.key);
    const known = this.seen.size < MAX_REMEMBERED_RECORDS ? !this.seen.add(id) : this.seen.has(id);
    if (known) this.duplicates++;
    return known;
  }

  private isText(value: Buffer): boolean {
    try {
      const text = this.decoder.decode(value);
      // Control characters other than whitespace mean bytes, not text.
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c < 32 && c !== 9 && c !== 10 && c !== 13) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  private reject(message: ProfiledMessage, reason: UnparseableReason): void {
    this.unparseable[reason]++;
    if (this.examples.length < 10) {
      this.examples.push({ partition: message.partition, offset: message.offset, reason });
    }
  }

  /** Flatten one record into the staging arrays; false when it nests deeper than allowed. */
  private stage(object: Record<string, unknown>, prefix: string, depth: number): boolean {
    for (const key in object) {
      const value = object[key];
      const name = prefix === '' ? key : `${prefix}.${key}`;
      switch (typeof value) {
        case 'number':
          if (Number.isFinite(value)) this.push(name, 'n', value);
          break;
        case 'string':
          if (looksLikeTime(value)) {
            const ms = Date.parse(value);
            if (Number.isFinite(ms)) {
              this.push(name, 't', ms);
              break;
            }
          }
          this.push(name, 's', value);
          break;
        case 'boolean':
          this.push(name, 'b', value ? 1 : 0);
          break;
        case 'object':
          if (value === null) break;
          if (!Array.isArray(value) && depth < this.options.flattenDepth) {
            if (!this.stage(value as Record<string, unknown>, name, depth + 1)) return false;
            break;
          }
          if (nestingExceeds(value, this.options.maxNesting - depth)) return false;
          this.push(name, Array.isArray(value) ? 'a' : 'j', null);
          break;
        default:
          break;
      }
    }
    return true;
  }

  private push(name: string, kind: Kind, value: number | string | null): void {
    if (name.length > this.options.maxFieldNameLength) {
      // Keys come from untrusted records: a 200 kB key must not become a column (or a spec field).
      if (this.droppedFields.size < 10_000) this.droppedFields.add(`${name.slice(0, 64)}…${name.length}`);
      return;
    }
    const i = this.staged.push(name, kind);
    if (typeof value === 'number') this.staged.numbers[i] = value;
    else if (typeof value === 'string') this.staged.strings[i] = value;
  }

  private commit(message: ProfiledMessage): void {
    const staged = this.staged;
    const checkKey = message.key !== null && this.keyChecks < 1000;
    const key = checkKey ? message.key.toString('utf8') : undefined;
    if (checkKey) this.keyChecks++;
    for (let i = 0; i < staged.size; i++) {
      const field = this.fieldAt(i, staged.names[i] as string);
      if (field === undefined) continue;
      const kind = staged.kinds[i] as Kind;
      countKind(field.kinds, kind);
      field.present++;
      if (kind === 'n' || kind === 't') this.commitNumber(field, kind, staged.numbers[i] as number);
      else if (kind === 's') this.commitString(field, i, key);
      else if (kind === 'b') {
        const value = staged.numbers[i] === 1;
        field.distinct.add(value ? 1 : 2);
        if (field.topSeen < this.options.topValueRows) field.count(value ? 'true' : 'false', this.options);
      }
    }
    this.parsed++;
    this.rows++;
    if (this.rows >= this.options.chunkRows) this.flush();
  }

  /** The field of the `i`th staged value: the previous record's at that position, mostly. */
  private fieldAt(i: number, name: string): FieldState | undefined {
    let field = this.lastLayout[i];
    if (field !== undefined && field.name === name) return field;
    field = this.fields.get(name);
    if (!field) {
      if (this.fields.size >= this.options.maxFields) {
        if (this.droppedFields.size < 10_000) this.droppedFields.add(name);
        return undefined;
      }
      field = new FieldState(name, this.fields.size, this.options.chunkRows);
      this.fields.set(name, field);
    }
    this.lastLayout[i] = field;
    return field;
  }

  private commitNumber(field: FieldState, kind: Kind, v: number): void {
    const row = this.rows;
    const options = this.options;
    field.numbers[row] = v;
    (field.validity[row >> 3] as number) |= 1 << (row & 7);
    field.numericRows++;
    if (kind === 't') {
      // Dates are checked for birth dates (by their field's name): as ISO text.
      if (field.piiSample.length < options.piiSampleSize) field.piiSample.push(new Date(v).toISOString());
    } else {
      if (!Number.isInteger(v)) field.allIntegers = false;
      if (field.topSeen < options.topValueRows) field.count(String(v), options);
      if (field.piiSample.length < options.piiSampleSize && Number.isInteger(v) && Math.abs(v) >= 1e8) {
        field.piiSample.push(String(v));
      }
    }
  }

  /**
   * Strings are profiled as they come: hashed for distinct counts, counted for top values. A plain
   * ASCII string the scanner left in the record's bytes is hashed there (its bytes are its UTF-16
   * code units) and becomes a string only when a top value, a PII sample or the key check needs it.
   */
  private commitString(field: FieldState, i: number, key: string | undefined): void {
    const staged = this.staged;
    const options = this.options;
    let text = staged.strings[i];
    let hash: number;
    let length: number;
    if (text === undefined) {
      const start = staged.starts[i] as number;
      const end = staged.ends[i] as number;
      hash = staged.numbers[i] as number; // hashBytes(staged.bytes, start, end), taken by the scanner
      length = end - start;
      const needed =
        field.topSeen < options.topValueRows ||
        field.piiSample.length < options.piiSampleSize ||
        (key !== undefined && key.length === length);
      if (needed) text = staged.bytes.toString('latin1', start, end);
    } else {
      hash = hashString(text);
      length = text.length;
    }
    field.distinct.add(hash);
    field.keys.add(hash);
    if (length > field.maxLength) field.maxLength = length;
    if (text === undefined) return;
    if (field.topSeen < options.topValueRows) field.count(text, options);
    if (field.piiSample.length < options.piiSampleSize) field.piiSample.push(text);
    if (key !== undefined && text === key)
      this.keyMatches.set(field.name, (this.keyMatches.get(field.name) ?? 0) + 1);
  }

  /**
   * Turn the chunk's numeric columns into an Arrow record batch (Float64 vectors over the very
   * buffers the rows were written into) and fold the vectors into the statistics.
   */
  private flush(): void {
    if (this.rows === 0) return;
    const rows = this.rows;
    // No prototype: field names come from records (`__proto__`, `constructor` are valid JSON keys).
    const vectors = Object.create(null) as Record<string, Vector<Float64>>;
    const states: FieldState[] = [];
    for (const field of this.fields.values()) {
      if (field.numericRows === 0) continue;
      vectors[field.name] = makeVector(
        makeData({
          type: new Float64(),
          length: rows,
          nullCount: rows - field.numericRows,
          nullBitmap: field.validity,
          data: field.numbers.subarray(0, rows),
        }),
      );
      states.push(field);
    }
    if (states.length > 0) {
      const batch = new Table(vectors);
      for (const field of states) {
        const vector = batch.getChild(field.name);
        if (vector) this.fold(field, vector);
        field.validity.fill(0);
        field.numericRows = 0;
      }
    }
    this.rows = 0;
  }

  private fold(field: FieldState, vector: Vector<Float64>): void {
    for (const data of vector.data) {
      const values = data.values;
      const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
      for (let i = 0; i < data.length; i++) {
        const at = data.offset + i;
        if (bitmap && ((bitmap[at >> 3] as number) & (1 << (at & 7))) === 0) continue;
        const v = values[at] as number;
        const hash = hashNumber(v);
        field.distinct.add(hash);
        field.keys.add(hash);
        if (v < field.min) field.min = v;
        if (v > field.max) field.max = v;
      }
    }
  }

  /** The profile of everything added so far. */
  finish(now: Date = new Date()): TopicProfile {
    this.flush();
    const fields = [...this.fields.values()].sort((a, b) => a.order - b.order).map((f) => this.describe(f));
    const unparseableTotal = Object.values(this.unparseable).reduce((a, b) => a + b, 0);
    const keyed = this.records - this.keyNulls;
    const keyField = [...this.keyMatches.entries()].find(
      ([, n]) => this.keyChecks > 0 && n >= 0.99 * this.keyChecks,
    )?.[0];
    const pii = fields.flatMap((f) => f.pii);
    return {
      topic: this.topic,
      profiledAt: now.toISOString(),
      records: this.records,
      parsed: this.parsed,
      bytes: this.bytes,
      unparseable: {
        total: unparseableTotal,
        byReason: { ...this.unparseable },
        examples: [...this.examples],
      },
      fields,
      droppedFields: this.droppedFields.size,
      candidateKeys: fields
        .filter(
          (f) =>
            this.parsed >= 2 &&
            f.present === this.parsed &&
            (f.type === 'string' || f.type === 'long') &&
            // HyperLogLog errs by about 1 %: beyond the exact range, near-unique is unique enough.
            (f.distinctExact ? f.distinct === f.present : f.distinct >= 0.97 * f.present),
        )
        .map((f) => f.name),
      // Never a personal date (a date of birth is no event time).
      eventTimeField: chooseEventTime(fields.filter((f) => f.pii.length === 0)),
      messageKey: {
        nullRatio: this.records === 0 ? 0 : this.keyNulls / this.records,
        distinct: keyed === 0 ? 0 : this.keyDistinct.count(),
        ...(keyField ? { field: keyField } : {}),
      },
      drift: fields
        .filter((f) => !isOneType(f.observedTypes))
        .map((f) => ({ field: f.name, types: f.observedTypes })),
      mistyped: fields
        .filter((f) => Object.keys(f.observedTypes).length > 1 && isOneType(f.observedTypes))
        .map((f) => ({
          field: f.name,
          type: f.type,
          records: minorityOf(f.observedTypes).minority,
          types: f.observedTypes,
        })),
      duplicates: this.duplicates,
      pii,
      ...(this.records > 0
        ? {
            brokerTime: {
              min: new Date(this.brokerMin).toISOString(),
              max: new Date(this.brokerMax).toISOString(),
            },
          }
        : {}),
    };
  }

  private describe(field: FieldState): FieldProfile {
    const observed: Partial<Record<ProfiledType, number>> = {};
    for (const kind of Object.keys(field.kinds) as Kind[]) {
      const n = field.kinds[kind];
      if (n === 0) continue;
      const type = kind === 'n' && field.allIntegers ? 'long' : kindType[kind];
      observed[type] = (observed[type] ?? 0) + n;
    }
    // The dominant type wins; a drifting field reports every type it showed in observedTypes.
    const ranked = (Object.entries(observed) as Array<[ProfiledType, number]>).sort((a, b) => b[1] - a[1]);
    let type: ProfiledType = ranked[0]?.[0] ?? 'null';
    // A few values of another type are bad records, not another schema: the field keeps its type.
    const oneType = isOneType(observed);
    let timeUnit: 'ms' | 's' | undefined;
    const numeric = type === 'long' || type === 'double' || type === 'timestamp';
    if (type === 'timestamp') timeUnit = 'ms';
    if (type === 'long' && oneType && field.min >= EPOCH_MS_MIN && field.max <= EPOCH_MS_MAX) {
      type = 'timestamp';
      timeUnit = 'ms';
    } else if (
      type === 'long' &&
      oneType &&
      TIME_NAME.test(field.name) &&
      field.min >= EPOCH_MS_MIN / 1000 &&
      field.max <= EPOCH_MS_MAX / 1000
    ) {
      type = 'timestamp';
      timeUnit = 's';
    }
    const pii: PiiSignal[] = detectPii(field.name, field.piiSample);
    const nearUnique = field.distinct.count() > 0.5 * Math.max(1, field.topSeen);
    const topValues =
      pii.length > 0 || nearUnique || type === 'timestamp'
        ? undefined
        : [...field.top.entries()]
            .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
            .slice(0, 5)
            .map(([value, count]) => ({ value: value.slice(0, 80), count }));
    const hasRange = numeric && oneType && Number.isFinite(field.min);
    const distinct = field.distinct.count();
    // Only fields that could join: one plain type, enough distinct values to tell anything, no
    // personal data (even hashed, a sketch of e-mails is not for a profile file).
    const keyLike =
      (type === 'string' || type === 'long') && oneType && pii.length === 0 && distinct >= MIN_KEY_DISTINCT;
    const asTime = (v: number) => new Date(timeUnit === 's' ? v * 1000 : v).toISOString();
    return {
      name: field.name,
      type,
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- Arrow types print as `Utf8`, `Int64`, ...
      arrowType: String(arrowTypeOf(type)),
      observedTypes: observed,
      present: field.present,
      nullRatio: this.parsed === 0 ? 0 : round((this.parsed - field.present) / this.parsed),
      distinct,
      distinctExact: field.distinct.isExact,
      ...(hasRange
        ? type === 'timestamp'
          ? { min: asTime(field.min), max: asTime(field.max) }
          : { min: field.min, max: field.max }
        : {}),
      ...(timeUnit ? { timeUnit } : {}),
      ...(field.maxLength > 0 ? { maxLength: field.maxLength } : {}),
      ...(topValues ? { topValues } : {}),
      ...(keyLike ? { keySketch: field.keys.toJSON() } : {}),
      pii,
    };
  }
}

/** The Arrow type a profiled type maps to: the schema a product built from the topic would get. */
export function arrowTypeOf(type: ProfiledType): DataType {
  switch (type) {
    case 'string':
    case 'json':
    case 'array':
      return new Utf8();
    case 'long':
      return new Int64();
    case 'double':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'timestamp':
      return new TimestampMillisecond();
    default:
      return new Null();
  }
}

/** The inferred schema of a profile as an Arrow schema. */
export function arrowSchemaOf(profile: Pick<TopicProfile, 'fields'>): Schema {
  return new Schema(profile.fields.map((f) => new Field(f.name, arrowTypeOf(f.type), f.nullRatio > 0)));
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

/** The event-time field: a timestamp that is (nearly) always there, preferring names that say so. */
export function chooseEventTime(fields: readonly FieldProfile[]): string | undefined {
  const candidates = fields.filter((f) => f.type === 'timestamp' && f.nullRatio <= 0.05);
  const score = (f: FieldProfile) =>
    (TIME_NAME.test(f.name) ? 2 : 0) +
    (LATE_TIME_NAME.test(f.name) ? -1 : 1) +
    (f.name.includes('.') ? -1 : 0);
  return [...candidates].sort((a, b) => score(b) - score(a) || a.nullRatio - b.nullRatio)[0]?.name;
}

/** Whether a JSON value nests deeper than `limit`; walks iteratively and stops early. */
export function nestingExceeds(value: unknown, limit: number): boolean {
  if (limit < 0) return true;
  const stack: Array<[unknown, number]> = [[value, 1]];
  let visited = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (depth > limit) return true;
    // Bounded work per record: a huge but shallow value is not a nesting problem.
    if (++visited > 10_000) return false;
    if (node && typeof node === 'object') {
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (child && typeof child === 'object') stack.push([child, depth + 1]);
      }
    }
  }
  return false;
}

/** Profile a finished list of messages (tests, small samples). */
export function profileMessages(
  topic: string,
  messages: readonly ProfiledMessage[],
  options?: ProfilerOptions,
): TopicProfile {
  const profiler = new TopicProfiler(topic, options);
  profiler.addAll(messages);
  return profiler.finish();
}

/**
 * A JSON reader for the profiler's hot path: it walks a record's bytes once and stages its
 * flattened fields straight from them, with no JSON.parse, no UTF-16 copy of the record, no object
 * per record and no string per field name (names are matched byte by byte against the previous
 * record's, which mostly share their layout). Plain ASCII strings stay byte ranges of the record;
 * numbers are read from their digits.
 *
 * It reads only what it can read exactly as `JSON.parse` + the profiler's `stage` would: the first
 * thing it does not handle the common way (an escape or a non-ASCII byte in a key, a key that is
 * empty or starts with a digit — JavaScript enumerates those first —, a duplicate key, a long name,
 * a value nested near the limit, anything that is not valid JSON) makes it answer false, and the
 * profiler reads that record the old way. Strings with escapes or non-ASCII bytes are decoded by
 * `JSON.parse` of their own bytes; numbers it cannot read exactly by `Number` of their text.
 */

import { fmix32 } from './sketch';

/** The kinds of values a row pass sees; `t` is an ISO timestamp string already turned into epoch ms. */
export type Kind = 'n' | 's' | 'b' | 't' | 'j' | 'a';

/**
 * One record's flattened fields, staged before they are committed (a record is committed only when
 * it is sound). A value is in `numbers` (`n`, `t`, and `b` as 1 or 0) or in `strings` (`s`), or,
 * for a plain ASCII string the scanner did not decode, the byte range `starts`–`ends` of `bytes`.
 */
export class Staged {
  size = 0;
  names: string[] = [];
  kinds: Kind[] = [];
  numbers = new Float64Array(64);
  strings: Array<string | undefined> = [];
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  bytes: Buffer = Buffer.alloc(0);

  /** A new slot for a value of `name`; its value is set by the caller. */
  push(name: string, kind: Kind): number {
    const i = this.size++;
    if (i === this.numbers.length) this.grow();
    this.names[i] = name;
    this.kinds[i] = kind;
    this.strings[i] = undefined;
    return i;
  }

  /** Set a staged number (after `push`: it may grow the arrays). */
  set(i: number, value: number): void {
    this.numbers[i] = value;
  }

  private grow(): void {
    const numbers = new Float64Array(this.numbers.length * 2);
    numbers.set(this.numbers);
    this.numbers = numbers;
    const starts = new Int32Array(numbers.length);
    starts.set(this.starts);
    this.starts = starts;
    const ends = new Int32Array(numbers.length);
    ends.set(this.ends);
    this.ends = ends;
  }
}

export type ScanLimits = Readonly<{ flattenDepth: number; maxNesting: number; maxFieldNameLength: number }>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOT = 0x2e;
const MINUS = 0x2d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;
const isWhitespace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
// What may follow a backslash in a JSON string (u is checked for its four hex digits).
const ESCAPES = new Uint8Array(128);
for (const c of '"\\/bfnrt') ESCAPES[c.charCodeAt(0)] = 1;
const isHex = (c: number | undefined) =>
  c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

type LayoutEntry = { bytes: Uint8Array; name: string };

function sameBytes(known: Uint8Array, path: Uint8Array, length: number): boolean {
  if (known.length !== length) return false;
  for (let i = 0; i < length; i++) if (known[i] !== path[i]) return false;
  return true;
}

export class RecordScanner {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  // The dotted name being read, as bytes (`address.city`).
  private readonly path: Buffer;
  // The names of the previous records' keys by position; `verified`: those up to `layoutSize` were
  // seen together in one record without a duplicate.
  private readonly layout: LayoutEntry[] = [];
  private layoutSize = 0;
  private verified = false;
  private keys = 0;
  private rewritten = false;
  private name = '';

  constructor(
    private readonly staged: Staged,
    private readonly limits: ScanLimits,
  ) {
    this.path = Buffer.alloc(limits.maxFieldNameLength + 1);
  }

  /** Stage the record `value` (one JSON object); false: read it with JSON.parse instead. */
  scan(value: Buffer): boolean {
    this.buf = value;
    this.pos = 0;
    this.end = value.length;
    this.keys = 0;
    this.rewritten = false;
    this.staged.size = 0;
    this.staged.bytes = value;
    this.skipWhitespace();
    if (value[this.pos] !== OPEN_OBJECT) return false;
    this.pos++;
    if (!this.object(0, 1)) return false;
    this.skipWhitespace();
    return this.pos === this.end && this.keysUnique();
  }

  private skipWhitespace(): void {
    while (this.pos < this.end && isWhitespace(this.buf[this.pos])) this.pos++;
  }

  /** The members of an object whose `{` was read; names start with `path` up to `prefix`. */
  private object(prefix: number, depth: number): boolean {
    this.skipWhitespace();
    if (this.buf[this.pos] === CLOSE_OBJECT) {
      this.pos++;
      return true;
    }
    for (;;) {
      const length = this.key(prefix);
      if (length < 0) return false;
      this.skipWhitespace();
      if (this.buf[this.pos] !== COLON) return false;
      this.pos++;
      this.skipWhitespace();
      if (!this.member(length, depth)) return false;
      this.skipWhitespace();
      const c = this.buf[this.pos++];
      if (c === CLOSE_OBJECT) return true;
      if (c !== COMMA) return false;
      this.skipWhitespace();
    }
  }

  /** Read a key into `path` after `prefix`; the dotted name's length, or -1 to give up. */
  private key(prefix: number): number {
    const buf = this.buf;
    if (buf[this.pos] !== QUOTE) return -1;
    const start = ++this.pos;
    const first = buf[start];
    // Empty keys flatten oddly and integer-like keys come first in JavaScript's order: the slow way.
    if (first === QUOTE || isDigit(first)) return -1;
    let at = prefix;
    const max = this.limits.maxFieldNameLength;
    for (;;) {
      const c = buf[this.pos++];
      if (c === QUOTE) break;
      if (c === undefined || c === BACKSLASH || c < 0x20 || c >= 0x80 || at >= max) return -1;
      this.path[at++] = c;
    }
    this.name = this.nameAt(at);
    return at;
  }

  /** The name of the key just read (`path` up to `length`), from the layout when it is the same. */
  private nameAt(length: number): string {
    const k = this.keys++;
    const entry = this.layout[k];
    if (entry !== undefined && sameBytes(entry.bytes, this.path, length)) return entry.name;
    const name = this.path.toString('latin1', 0, length);
    this.layout[k] = { bytes: new Uint8Array(this.path.subarray(0, length)), name };
    this.rewritten = true;
    this.verified = false;
    return name;
  }

  /** Whether the record's keys were all distinct (JSON.parse keeps the last of duplicates). */
  private keysUnique(): boolean {
    if (!this.rewritten && this.verified && this.keys <= this.layoutSize) return true;
    const names = new Set<string>();
    for (let k = 0; k < this.keys; k++) names.add((this.layout[k] as LayoutEntry).name);
    if (names.size < this.keys) return false;
    this.verified = true;
    this.layoutSize = this.keys;
    return true;
  }

  private member(length: number, depth: number): boolean {
    const c = this.buf[this.pos];
    switch (c) {
      case QUOTE:
        return this.string();
      case OPEN_OBJECT:
        if (depth < this.limits.flattenDepth) {
          if (length + 1 >= this.limits.maxFieldNameLength) return false;
          this.path[length] = DOT;
          this.pos++;
          return this.object(length + 1, depth + 1);
        }
        return this.nested('j', depth);
      case OPEN_ARRAY:
        return this.nested('a', depth);
      case 0x74: // true
      case 0x66: // false
        return this.boolean(c === 0x74);
      case 0x6e: // null: nothing to stage
        return this.literal('null');
      default:
        return this.number();
    }
  }

  private literal(word: string): boolean {
    for (let i = 0; i < word.length; i++) {
      if (this.buf[this.pos + i] !== word.charCodeAt(i)) return false;
    }
    this.pos += word.length;
    return true;
  }

  private boolean(value: boolean): boolean {
    if (!this.literal(value ? 'true' : 'false')) return false;
    this.staged.set(this.staged.push(this.name, 'b'), value ? 1 : 0);
    return true;
  }

  /** An array, or an object too deep to flatten: staged as one value, if not nested too deep. */
  private nested(kind: 'j' | 'a', depth: number): boolean {
    // Values nested up to the limit only; near it, the slow way decides (and counts tooDeep).
    if (!this.skipValue(1, this.limits.maxNesting - depth)) return false;
    this.staged.push(this.name, kind);
    return true;
  }

  /** Skip any JSON value, checking it, nested at most `limit` deep (`level` is its own depth). */
  private skipValue(level: number, limit: number): boolean {
    const c = this.buf[this.pos];
    if (c === QUOTE) return this.skipString() >= 0;
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (level > limit) return false;
      this.pos++;
      return this.skipMembers(c === OPEN_OBJECT, level, limit);
    }
    if (c === 0x74) return this.literal('true');
    if (c === 0x66) return this.literal('false');
    if (c === 0x6e) return this.literal('null');
    return this.numberEnd() > 0;
  }

  private skipMembers(isObject: boolean, level: number, limit: number): boolean {
    const close = isObject ? CLOSE_OBJECT : CLOSE_ARRAY;
    this.skipWhitespace();
    if (this.buf[this.pos] === close) {
      this.pos++;
      return true;
    }
    for (;;) {
      if (isObject) {
        if (this.buf[this.pos] !== QUOTE || this.skipString() < 0) return false;
        this.skipWhitespace();
        if (this.buf[this.pos++] !== COLON) return false;
        this.skipWhitespace();
      }
      if (!this.skipValue(level + 1, limit)) return false;
      this.skipWhitespace();
      const c = this.buf[this.pos++];
      if (c === close) return true;
      if (c !== COMMA) return false;
      this.skipWhitespace();
    }
  }

  /**
   * Skip a string at `pos` (its opening quote), checking it: -1 when it is not valid JSON, else
   * 0 for plain ASCII, 1 when it holds escapes or non-ASCII bytes.
   */
  private skipString(): number {
    const buf = this.buf;
    let plain = true;
    this.pos++;
    for (;;) {
      const c = buf[this.pos++];
      if (c === QUOTE) return plain ? 0 : 1;
      if (c === undefined || c < 0x20) return -1;
      if (c === BACKSLASH) {
        if (!this.escape()) return -1;
        plain = false;
      } else if (c >= 0x80) plain = false;
    }
  }

  private escape(): boolean {
    const c = this.buf[this.pos++];
    if (c === 0x75) {
      for (let i = 0; i < 4; i++) if (!isHex(this.buf[this.pos++])) return false;
      return true;
    }
    return c !== undefined && c < 128 && ESCAPES[c] === 1;
  }

  /** A string value: a time when it reads as one (as Date.parse reads it), else a string. */
  private string(): boolean {
    const start = this.pos;
    const hash = this.plainString();
    const plain = hash >= 0 ? 0 : this.skipString();
    if (plain < 0) return false;
    const staged = this.staged;
    if (plain === 1) {
      // Escapes or non-ASCII (maybe invalid UTF-8, which decoding replaces): decoded as JSON.parse would.
      const text = JSON.parse(this.buf.toString('utf8', start, this.pos)) as string;
      const ms = looksLikeTime(text) ? Date.parse(text) : NaN;
      if (Number.isFinite(ms)) staged.set(staged.push(this.name, 't'), ms);
      else staged.strings[staged.push(this.name, 's')] = text;
      return true;
    }
    const from = start + 1;
    const to = this.pos - 1;
    const ms = this.timeOf(from, to);
    if (Number.isFinite(ms)) {
      staged.set(staged.push(this.name, 't'), ms);
      return true;
    }
    const i = staged.push(this.name, 's');
    staged.starts[i] = from;
    staged.ends[i] = to;
    // A plain string's hash (hashBytes of its range) was taken as it was read: kept with it.
    staged.set(i, hash);
    return true;
  }

  /**
   * A plain ASCII string at `pos` (no escapes): move past it and return its hash (FNV-1a over its
   * bytes with the murmur3 finaliser, as `hashBytes`), or -1 with `pos` left where it was.
   */
  private plainString(): number {
    const buf = this.buf;
    let at = this.pos + 1;
    let h = 0x811c9dc5;
    for (;;) {
      const c = buf[at++];
      if (c === QUOTE) break;
      if (c === undefined || c < 0x20 || c === BACKSLASH || c >= 0x80) return -1;
      h = Math.imul(h ^ c, 0x01000193);
    }
    this.pos = at;
    return fmix32(h);
  }

  /** Epoch ms of a plain ASCII string that Date.parse reads as a time; NaN if it is none. */
  private timeOf(from: number, to: number): number {
    const length = to - from;
    const buf = this.buf;
    if (length < 10 || length > 35 || buf[from + 4] !== MINUS || buf[from + 7] !== MINUS) return NaN;
    const fast = isoUtc(buf, from, length);
    return fast >= 0 ? fast : Date.parse(buf.toString('latin1', from, to));
  }

  /** A number value, read exactly as JSON.parse reads it. */
  private number(): boolean {
    const start = this.pos;
    const end = this.numberEnd();
    if (end < 0) return false;
    const value = this.fastNumber(start, end);
    const v = Number.isNaN(value) ? Number(this.buf.toString('latin1', start, end)) : value;
    // Out of range (1e400) is Infinity to JSON.parse, and no number to the profiler.
    if (Number.isFinite(v)) this.staged.set(this.staged.push(this.name, 'n'), v);
    return true;
  }

  /** Check the JSON number at `pos` and move past it; its end, or -1 when it is none. */
  private numberEnd(): number {
    const buf = this.buf;
    if (buf[this.pos] === MINUS) this.pos++;
    const first = buf[this.pos];
    if (!isDigit(first)) return -1;
    this.pos++;
    if (first !== 0x30) while (isDigit(buf[this.pos])) this.pos++;
    if (buf[this.pos] === DOT) {
      this.pos++;
      if (!this.digits()) return -1;
    }
    const e = buf[this.pos];
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sign = buf[this.pos];
      if (sign === 0x2b || sign === MINUS) this.pos++;
      if (!this.digits()) return -1;
    }
    return this.pos;
  }

  private digits(): boolean {
    if (!isDigit(this.buf[this.pos])) return false;
    while (isDigit(this.buf[this.pos])) this.pos++;
    return true;
  }

  /**
   * A checked number without exponent and with at most 15 digits: its digits as an integer (exact
   * below 2^53) divided by a power of ten (exact up to 10^22), so correctly rounded like
   * JSON.parse. NaN when it is not that simple.
   */
  private fastNumber(start: number, end: number): number {
    const buf = this.buf;
    const negative = buf[start] === MINUS;
    let digits = 0;
    let fraction = -1;
    let mantissa = 0;
    for (let i = negative ? start + 1 : start; i < end; i++) {
      const c = buf[i] as number;
      if (c === DOT) fraction = 0;
      else if (c < 0x30 || c > 0x39) return NaN;
      else {
        mantissa = mantissa * 10 + (c - 0x30);
        digits++;
        if (fraction >= 0) fraction++;
      }
    }
    if (digits > 15) return NaN;
    const value = fraction > 0 ? mantissa / (POW10[fraction] as number) : mantissa;
    return negative ? -value : value;
  }
}

/** What the profiler takes for a time string before asking Date.parse (as it always did). */
export const looksLikeTime = (text: string) =>
  text.length >= 10 && text.length <= 35 && text.charCodeAt(4) === MINUS && text.charCodeAt(7) === MINUS;

const digitsAt = (buf: Uint8Array, at: number, count: number) => {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
};

/**
 * `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` (what toISOString writes) in epoch ms,
 * for a valid date of the years 1000–9999; -1 for anything else (Date.parse decides then).
 */
export function isoUtc(buf: Uint8Array, at: number, length: number): number {
  if (!isoShape(buf, at, length)) return -1;
  const year = digitsAt(buf, at, 4);
  const month = digitsAt(buf, at + 5, 2);
  const day = digitsAt(buf, at + 8, 2);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return -1;
  const hour = inRange(digitsAt(buf, at + 11, 2), 23);
  const minute = inRange(digitsAt(buf, at + 14, 2), 59);
  const second = inRange(digitsAt(buf, at + 17, 2), 59);
  const ms = length === 24 ? digitsAt(buf, at + 20, 3) : 0;
  if (hour < 0 || minute < 0 || second < 0 || ms < 0) return -1;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The separators of `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` (the dashes are checked). */
const isoShape = (buf: Uint8Array, at: number, length: number) =>
  (length === 20 || (length === 24 && buf[at + 19] === DOT)) &&
  buf[at + 10] === 0x54 &&
  buf[at + length - 1] === 0x5a &&
  buf[at + 13] === COLON &&
  buf[at + 16] === COLON;

const inRange = (n: number, max: number) => (n > max ? -1 : n);
const daysIn = (year: number, month: number) =>
  (DAYS[month - 1] as number) +
  (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0);

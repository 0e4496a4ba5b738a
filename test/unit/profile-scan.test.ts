import assert from 'node:assert/strict';
import { profileMessages } from '../../src/profile';
import type { ProfiledMessage } from '../../src/profile';
import { isoUtc, RecordScanner, Staged } from '../../src/profile/scan';
import { IdSet, recordIdOf } from '../../src/profile/sketch';

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed by its seed. */
function prng(seed: number) {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(random() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { random, int, pick };
}

// Number texts JSON.parse reads (and a few it does not), strings with escapes, Unicode and
// time-like shapes, and keys the scanner reads or leaves to JSON.parse.
const numbers = [
  '0',
  '-0',
  '1',
  '-1',
  '42',
  '3.14',
  '-2.5',
  '1e3',
  '1E-7',
  '0.1',
  '0.30000000000000004',
  '123456789012345',
  '1234567890123456',
  '9007199254740993',
  '1e400',
  '-1e400',
  '5e-324',
  '100.000',
  '1.5e+2',
  '-0.0',
  '01',
  '1.',
  '.5',
  '+1',
  '-',
  '1e',
  '2.50',
];
const strings = [
  '""',
  '"plain"',
  '"a\\"b"',
  '"\\u00e9t\\u00e9"',
  '"\\ud83d\\ude00"',
  '"\\ud800"',
  '"héllo"',
  '"東京"',
  '"tab\\there"',
  '"2026-01-01"',
  '"2026-01-01T10:00:00Z"',
  '"2026-01-01T10:00:00.123Z"',
  '"2026-02-29T00:00:00.000Z"',
  '"2024-02-29T23:59:59.999Z"',
  '"2026-04-31T00:00:00Z"',
  '"2026-13-01T00:00:00Z"',
  '"2026-01-01T24:00:00Z"',
  '"2026-01-01T10:00:00+02:00"',
  '"0999-01-01T00:00:00Z"',
  '"2026-01-01 10:00"',
  '"1234-56-78"',
  '"ab\\u0000cd"',
  '"a@b.example"',
  '"+41 79 123 45 67"',
  '"\\x"',
  '"ctl\u0001"',
  '"2026-1-1xxxxxx"',
  '"k0"',
  '"k1"',
];
const keys = [
  '"a"',
  '"b"',
  '"id"',
  '"ts"',
  '"name"',
  '"email"',
  '"x.y"',
  '"\\u0061"',
  '"é"',
  '"1"',
  '"0"',
  '""',
  '"__proto__"',
  '"constructor"',
  `"${'k'.repeat(130)}"`,
  '"a"',
];
const literals = ['true', 'false', 'null', 'tru', 'nul'];

/** A random JSON-ish value: mostly valid, sometimes not (the two readings must still agree). */
function value(r: ReturnType<typeof prng>, depth: number): string {
  const roll = r.random();
  if (roll < 0.3) return r.pick(numbers);
  if (roll < 0.6) return r.pick(strings);
  if (roll < 0.7) return r.pick(literals);
  if (depth > 5) return '1';
  if (roll < 0.85) return object(r, depth + 1, 1 + r.int(4));
  const items = Array.from({ length: r.int(4) }, () => value(r, depth + 1));
  return `[${items.join(r.random() < 0.05 ? ' ' : ',')}]`;
}

function object(r: ReturnType<typeof prng>, depth: number, size: number): string {
  const ws = () => r.pick(['', '', '', ' ', '\n', '\t ']);
  const members = Array.from(
    { length: size },
    () => `${ws()}${r.pick(keys)}${ws()}:${ws()}${value(r, depth)}${ws()}`,
  );
  return `{${members.join(',')}}`;
}

/** Records of a few layouts (so the scanner's layout cache is used) with random values. */
function records(seed: number, count: number): ProfiledMessage[] {
  const r = prng(seed);
  const layouts = Array.from({ length: 4 }, () => Array.from({ length: 2 + r.int(6) }, () => r.pick(keys)));
  return Array.from({ length: count }, (_, i) => {
    let text: string;
    if (r.random() < 0.8) {
      const layout = r.pick(layouts);
      text = `{${layout.map((k) => `${k}:${value(r, 2)}`).join(',')}}`;
    } else text = object(r, 1, r.int(6));
    const mutate = r.random();
    if (mutate < 0.05) text = text.slice(0, r.int(text.length));
    else if (mutate < 0.08) text = `${text}${r.pick([' ', 'x', ',', '\n'])}`;
    else if (mutate < 0.1) text = ` ${text}`;
    return {
      partition: 0,
      offset: String(i),
      key: r.random() < 0.5 ? Buffer.from(r.pick(['k0', 'k1', 'plain'])) : null,
      value: Buffer.from(text),
      timestamp: Date.UTC(2026, 0, 1) + i,
    };
  });
}

const limits = { flattenDepth: 3, maxNesting: 32, maxFieldNameLength: 128 };
/** The number the scanner stages for one number text, or undefined when it leaves the record. */
function scanned(text: string): number | undefined {
  const staged = new Staged();
  const ok = new RecordScanner(staged, limits).scan(Buffer.from(`{"x":${text}}`));
  return ok && staged.size === 1 ? staged.numbers[0] : undefined;
}

describe('the profiler reading records from their bytes', () => {
  it('gives the very profile JSON.parse gives, over random and broken records', function () {
    this.timeout(60_000);
    let read = 0;
    let parsed = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const messages = records(seed, 300);
      const fast = profileMessages('t', messages);
      const slow = profileMessages('t', messages, { scanner: false });
      assert.deepEqual({ ...fast, profiledAt: '' }, { ...slow, profiledAt: '' }, `seed ${seed}`);
      assert.ok(slow.parsed > 30, `seed ${seed}: too few good records to compare (${slow.parsed})`);
      const scanner = new RecordScanner(new Staged(), limits);
      read += messages.filter((m) => m.value && scanner.scan(m.value)).length;
      parsed += slow.parsed;
    }
    // Both ways were taken: the scanner read a good share of the sound records itself.
    assert.ok(read > 0.2 * parsed && read < parsed, `the scanner read ${read} of ${parsed}`);
  });

  it('reads numbers exactly as JSON.parse does, -0 and 17 digits included', () => {
    const r = prng(7);
    const texts = [...numbers.filter((n) => !['01', '1.', '.5', '+1', '-', '1e'].includes(n))];
    for (let i = 0; i < 5000; i++) {
      const digits = String(r.int(1e9)) + String(r.int(1e9));
      const point = r.int(digits.length);
      texts.push(
        `${r.random() < 0.5 ? '-' : ''}${digits.slice(0, point) || '0'}.${digits.slice(point) || '0'}`,
      );
      texts.push(String(r.random() * 10 ** r.int(20)));
    }
    for (const text of texts) {
      const parsed = JSON.parse(text) as number;
      const got = scanned(text);
      if (Number.isFinite(parsed))
        assert.ok(got !== undefined && Object.is(got, parsed), `${text}: ${got} ≠ ${parsed}`);
      else assert.equal(got, undefined, `${text} is not finite: no value`);
    }
  });

  it('leaves what JSON.parse rejects to JSON.parse', () => {
    for (const text of ['01', '1.', '.5', '+1', '-', '1e', 'tru', '"\\x"', '"a\u0001"', '[1 2]', '{"a" 1}']) {
      assert.equal(scanned(text), undefined, text);
    }
  });

  it('reads ISO times as Date.parse does, and leaves the others to it', () => {
    const r = prng(11);
    const cases = [
      '2026-02-29T00:00:00Z',
      '2024-02-29T00:00:00.000Z',
      '1000-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
    ];
    for (let i = 0; i < 20_000; i++) {
      const pad = (n: number, w: number) => String(n).padStart(w, '0');
      const base = `${pad(900 + r.int(9200), 4)}-${pad(r.int(14), 2)}-${pad(r.int(33), 2)}T${pad(r.int(26), 2)}:${pad(r.int(61), 2)}:${pad(r.int(61), 2)}`;
      cases.push(r.random() < 0.5 ? `${base}Z` : `${base}.${pad(r.int(1000), 3)}Z`);
    }
    let fast = 0;
    for (const text of cases) {
      const ms = isoUtc(Buffer.from(text), 0, text.length);
      if (ms < 0) continue;
      fast++;
      assert.equal(ms, Date.parse(text), text);
    }
    assert.ok(fast > 5000, `only ${fast} of ${cases.length} read without Date.parse`);
  });
});

describe('record ids and their set', () => {
  it('remembers exactly the ids added, 0 and growth included', () => {
    const r = prng(3);
    const ids = new IdSet();
    const reference = new Set<number>();
    for (let i = 0; i < 50_000; i++) {
      const id = i % 1000 === 0 ? 0 : Math.floor(r.random() * 2 ** 21) * 2 ** 32 + r.int(2 ** 32);
      assert.equal(ids.has(id), reference.has(id));
      ids.add(id);
      reference.add(id);
      if (r.random() < 0.3) ids.add(id);
    }
    assert.equal(ids.size, reference.size);
    for (const id of reference) assert.ok(ids.has(id));
    assert.equal(ids.has(12345), reference.has(12345));
  });

  it('gives equal records equal ids and tells keys apart', () => {
    const value = Buffer.from('{"a":1,"b":"two"}');
    const ids = new Set<number>();
    for (const key of [null, Buffer.alloc(0), Buffer.from('k'), Buffer.from('k2')]) {
      const id = recordIdOf(value, key);
      assert.equal(id, recordIdOf(Buffer.from(value), key && Buffer.from(key)));
      assert.ok(Number.isSafeInteger(id) && id >= 0);
      ids.add(id);
    }
    for (let n = 0; n < 9; n++) ids.add(recordIdOf(value.subarray(0, n), null));
    assert.equal(ids.size, 13);
  });
});

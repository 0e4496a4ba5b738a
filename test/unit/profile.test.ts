import assert from 'node:assert/strict';
import {
  arrowSchemaOf,
  detectPii,
  luhnValid,
  nestingExceeds,
  profileMessages,
  TopicProfiler,
} from '../../src/profile';
import type { ProfiledMessage } from '../../src/profile';
import { HyperLogLog, hashString } from '../../src/profile/sketch';
import { ThreadedProfiler } from '../../src/profile/threaded';

let offset = 0;
const message = (value: unknown, key: string | null = null): ProfiledMessage => ({
  partition: 0,
  offset: String(offset++),
  key: key === null ? null : Buffer.from(key),
  value:
    value === null
      ? null
      : Buffer.isBuffer(value)
        ? value
        : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
  timestamp: Date.UTC(2026, 0, 1) + offset,
});
const field = (profile: ReturnType<typeof profileMessages>, name: string) => {
  const found = profile.fields.find((f) => f.name === name);
  assert.ok(found, `no field ${name} in ${profile.fields.map((f) => f.name).join(', ')}`);
  return found;
};

describe('profiling', () => {
  describe('types', () => {
    const profile = profileMessages(
      'types',
      Array.from({ length: 100 }, (_, i) => ({
        id: `id-${i}`,
        count: i,
        price: i + 0.5,
        ok: i % 2 === 0,
        at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
        epoch: Date.UTC(2026, 0, 1) + i * 1000,
        address: { city: i % 3 === 0 ? 'Berlin' : 'Paris', geo: { lat: 52.5 } },
        tags: ['a', 'b'],
        maybe: i % 4 === 0 ? null : 'x',
      })).map((v) => message(v)),
    );

    it('infers string, long, double, boolean, timestamp (ISO and epoch ms), nested and array fields', () => {
      assert.equal(field(profile, 'id').type, 'string');
      assert.equal(field(profile, 'count').type, 'long');
      assert.equal(field(profile, 'price').type, 'double');
      assert.equal(field(profile, 'ok').type, 'boolean');
      assert.equal(field(profile, 'at').type, 'timestamp');
      assert.equal(field(profile, 'epoch').type, 'timestamp');
      assert.equal(field(profile, 'epoch').timeUnit, 'ms');
      assert.equal(field(profile, 'address.city').type, 'string');
      assert.equal(field(profile, 'address.geo.lat').type, 'double');
      assert.equal(field(profile, 'tags').type, 'array');
    });

    it('gives an Arrow schema with matching Arrow types and nullability', () => {
      const schema = arrowSchemaOf(profile);
      const types = Object.fromEntries(schema.fields.map((f) => [f.name, String(f.type)]));
      assert.equal(types.id, 'Utf8');
      assert.equal(types.count, 'Int64');
      assert.equal(types.price, 'Float64');
      assert.equal(types.ok, 'Bool');
      assert.equal(types.at, 'Timestamp<MILLISECOND>');
      assert.equal(schema.fields.find((f) => f.name === 'maybe')?.nullable, true);
      assert.equal(schema.fields.find((f) => f.name === 'id')?.nullable, false);
    });

    it('reports drift when a field changes type', () => {
      const drifting = profileMessages('drift', [
        ...Array.from({ length: 10 }, (_, i) => message({ q: i })),
        ...Array.from({ length: 5 }, (_, i) => message({ q: String(i) })),
      ]);
      assert.deepEqual(drifting.drift, [{ field: 'q', types: { long: 10, string: 5 } }]);
      assert.equal(field(drifting, 'q').type, 'long');
    });
  });

  describe('statistics', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      order_id: `ord-${i}`,
      customer_id: `cus-${i % 50}`,
      status: i % 10 === 0 ? 'cancelled' : 'created',
      amount: i,
      note: i % 4 === 0 ? null : 'n',
      created_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      updated_at: i % 2 === 0 ? new Date(Date.UTC(2026, 0, 2)).toISOString() : null,
    }));
    const profile = profileMessages(
      'orders.orders',
      rows.map((r) => message(r, r.order_id)),
      { chunkRows: 64 }, // many Arrow batches, so folding across batches is exercised
    );

    it('counts nulls and missing values per field', () => {
      assert.equal(field(profile, 'note').nullRatio, 0.25);
      assert.equal(field(profile, 'order_id').nullRatio, 0);
      assert.equal(field(profile, 'updated_at').nullRatio, 0.5);
    });

    it('counts distinct values exactly in small samples', () => {
      assert.equal(field(profile, 'order_id').distinct, 1000);
      assert.equal(field(profile, 'customer_id').distinct, 50);
      assert.equal(field(profile, 'status').distinct, 2);
      assert.equal(field(profile, 'amount').distinct, 1000);
      assert.equal(field(profile, 'order_id').distinctExact, true);
    });

    it('finds min, max and top values', () => {
      assert.equal(field(profile, 'amount').min, 0);
      assert.equal(field(profile, 'amount').max, 999);
      assert.equal(field(profile, 'created_at').min, '2026-01-01T00:00:00.000Z');
      assert.equal(
        field(profile, 'created_at').max,
        new Date(Date.UTC(2026, 0, 1) + 999 * 60_000).toISOString(),
      );
      assert.deepEqual(field(profile, 'status').topValues, [
        { value: 'created', count: 900 },
        { value: 'cancelled', count: 100 },
      ]);
      assert.equal(field(profile, 'order_id').topValues, undefined, 'near-unique fields have no top values');
    });

    it('finds candidate keys, the event-time field and the field the message key mirrors', () => {
      assert.deepEqual(profile.candidateKeys, ['order_id', 'amount']);
      assert.equal(profile.eventTimeField, 'created_at');
      assert.equal(profile.messageKey.field, 'order_id');
      assert.equal(profile.messageKey.distinct, 1000);
      assert.equal(profile.messageKey.nullRatio, 0);
    });

    it('estimates large cardinalities with HyperLogLog within 3 %', () => {
      const hll = new HyperLogLog();
      for (let i = 0; i < 200_000; i++) hll.add(hashString(`value-${i}`));
      const estimate = hll.estimate();
      assert.ok(Math.abs(estimate - 200_000) / 200_000 < 0.03, `estimate ${estimate}`);
      const profiler = new TopicProfiler('big');
      for (let i = 0; i < 60_000; i++) profiler.add(message({ id: `k${i}`, group: `g${i % 7}` }));
      const big = profiler.finish();
      const id = field(big, 'id');
      assert.equal(id.distinctExact, false);
      assert.ok(Math.abs(id.distinct - 60_000) / 60_000 < 0.03, `distinct ${id.distinct}`);
      assert.equal(field(big, 'group').distinct, 7);
      assert.deepEqual(big.candidateKeys, ['id']);
    });
  });

  describe('PII', () => {
    it('validates card numbers with Luhn', () => {
      assert.equal(luhnValid('4111111111111111'), true);
      assert.equal(luhnValid('4111111111111112'), false);
      assert.equal(luhnValid('79927398713'), true);
    });

    it('flags e-mails, phones, cards, national ids and person names, and not ordinary fields', () => {
      const rows = Array.from({ length: 50 }, (_, i) => ({
        contact: `person${i}@example.org`,
        mobile: `+31 6 ${String(10_000_000 + i * 7919).slice(0, 8)}`,
        card: i % 2 === 0 ? '4111 1111 1111 1111' : '5500-0000-0000-0004',
        ssn: `123-45-${String(1000 + i)}`,
        full_name: ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'][i % 3],
        city: ['Berlin', 'Paris', 'Rome'][i % 3],
        order_id: `ord-${i}`,
        amount: 1000 + i,
      }));
      const profile = profileMessages(
        'customers.profiles',
        rows.map((r) => message(r)),
      );
      const kinds = Object.fromEntries(profile.fields.map((f) => [f.name, f.pii.map((s) => s.kind)]));
      assert.deepEqual(kinds, {
        contact: ['email'],
        mobile: ['phone'],
        card: ['cardNumber'],
        ssn: ['nationalId'],
        full_name: ['personName'],
        city: [],
        order_id: [],
        amount: [],
      });
      assert.equal(field(profile, 'contact').topValues, undefined, 'PII values never appear as top values');
    });

    it('finds card numbers written as JSON numbers', () => {
      const profile = profileMessages(
        'payments',
        Array.from({ length: 20 }, () => message({ pan: 4111111111111111 })),
      );
      assert.deepEqual(
        field(profile, 'pan').pii.map((s) => s.kind),
        ['cardNumber'],
      );
    });

    it('does not call a 16-digit number failing Luhn a card, nor a capitalised city a name', () => {
      assert.deepEqual(detectPii('reference', ['4111111111111112', '1234567812345678']), []);
      assert.deepEqual(detectPii('city', ['Berlin', 'Paris']), []);
      assert.deepEqual(
        detectPii('last_name', ['Berlin', 'Paris']).map((s) => s.kind),
        ['personName'],
      );
    });
  });

  describe('malformed records', () => {
    let deep = '1';
    for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
    const poison: Array<[string, unknown]> = [
      ['empty', null],
      ['empty', ''],
      ['binary', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])],
      ['notJson', 'this is not json'],
      ['notJson', '{"truncated": '],
      ['notObject', '[1, 2, 3]'],
      ['notObject', '42'],
      ['tooLarge', JSON.stringify({ blob: 'x'.repeat(1024 * 1024) })],
      ['tooDeep', `{"a": ${'['.repeat(200)}${']'.repeat(200)}}`],
      ['tooDeep', deep],
    ];

    it('counts every malformed record by reason, never crashes, and profiles the good ones', () => {
      const good = Array.from({ length: 20 }, (_, i) => message({ id: i }));
      const bad = poison.map(([, value]) => message(value));
      const profile = profileMessages('poisoned', [...good.slice(0, 10), ...bad, ...good.slice(10)]);
      assert.equal(profile.records, 30);
      assert.equal(profile.parsed, 20);
      assert.equal(profile.unparseable.total, 10);
      assert.equal(profile.records, profile.parsed + profile.unparseable.total);
      const expected: Record<string, number> = {};
      for (const [reason] of poison) expected[reason] = (expected[reason] ?? 0) + 1;
      // A top-level array 100,000 deep is either too deep for JSON.parse or not an object: both are counted.
      const byReason = { ...profile.unparseable.byReason };
      assert.equal(byReason.tooDeep + byReason.notObject, expected.tooDeep! + expected.notObject!);
      assert.equal(byReason.empty, 2);
      assert.equal(byReason.binary, 1);
      assert.equal(byReason.notJson, 2);
      assert.equal(byReason.tooLarge, 1);
      assert.ok(byReason.tooDeep >= 1);
      assert.equal(field(profile, 'id').distinct, 20);
      assert.equal(field(profile, 'id').nullRatio, 0);
      assert.equal(profile.unparseable.examples.length, 10);
      assert.ok(
        profile.unparseable.examples.every((e) => !('value' in e)),
        'examples carry no contents',
      );
    });

    it('bounds nesting checks', () => {
      assert.equal(nestingExceeds({ a: { b: { c: 1 } } }, 2), true);
      assert.equal(nestingExceeds({ a: { b: { c: 1 } } }, 3), false);
    });

    it('handles a record with more fields than the column cap', () => {
      const wide = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`f${i}`, i]));
      const profile = profileMessages('wide', [message(wide)], { maxFields: 100 });
      assert.equal(profile.fields.length, 100);
      assert.equal(profile.droppedFields, 1900);
      assert.equal(profile.parsed, 1);
    });
  });

  describe('on a profiling thread', () => {
    it('gives the same profile as profiling on the calling thread, malformed records included', async function () {
      this.timeout(30_000);
      const messages = [
        ...Array.from({ length: 3000 }, (_, i) =>
          message(
            { id: `k${i}`, n: i % 17, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() },
            `k${i}`,
          ),
        ),
        message(null),
        message(Buffer.from([0xff, 0x00, 0xfe])),
        message('not json'),
      ];
      const threaded = new ThreadedProfiler({}, 2);
      for (let i = 0; i < messages.length; i += 250) await threaded.add('t', messages.slice(i, i + 250));
      assert.equal(threaded.threaded, true);
      const [fromThread] = await threaded.finish();
      const inline = profileMessages('t', messages);
      assert.deepEqual({ ...fromThread, profiledAt: '' }, { ...inline, profiledAt: '' });
      assert.equal(fromThread!.unparseable.total, 3);
    });

    /** Messages whose keys and values are views of one buffer, as a Kafka fetch decodes them. */
    const viewsOfOneBuffer = (records: ReadonlyArray<{ key: string | null; value: string | null }>) => {
      const parts: Buffer[] = [];
      const at: Array<{ key?: [number, number]; value?: [number, number] }> = [];
      let size = 0;
      const put = (text: string): [number, number] => {
        parts.push(Buffer.from('\u0007hdr'), Buffer.from(text));
        size += 4;
        const range: [number, number] = [size, size + Buffer.byteLength(text)];
        size = range[1];
        return range;
      };
      for (const r of records) {
        at.push({
          key: r.key === null ? undefined : put(r.key),
          value: r.value === null ? undefined : put(r.value),
        });
      }
      const response = Buffer.concat([Buffer.from('head'), ...parts]);
      const view = (range?: [number, number]) =>
        range ? response.subarray(range[0] + 4, range[1] + 4) : null;
      return at.map((r, i) => ({
        partition: i % 3,
        offset: String(1000 + i),
        key: view(r.key),
        value: view(r.value),
        timestamp: 1_700_000_000_000 + i,
      }));
    };

    it('profiles views of one buffer as it profiles separate buffers', async function () {
      this.timeout(30_000);
      // The first 400 records again after them: redeliveries.
      const records = Array.from({ length: 2000 }, (_, n) => {
        const i = n % 400;
        return {
          key: i % 7 === 0 ? null : `k${i}`,
          value: i % 11 === 0 ? null : JSON.stringify({ id: `k${i}`, n: i % 13, s: 'é'.repeat(i % 3) }),
        };
      });
      const views = viewsOfOneBuffer(records);
      const buffers = new Set(views.flatMap((m) => [m.key?.buffer, m.value?.buffer]).filter(Boolean));
      assert.equal(buffers.size, 1, 'every key and value is a view of the one buffer');
      const threaded = new ThreadedProfiler({}, 2);
      for (let i = 0; i < views.length; i += 300) await threaded.add('t', views.slice(i, i + 300));
      const [fromThread] = await threaded.finish();
      const copies = views.map((m) => ({
        ...m,
        key: m.key && Buffer.from(m.key),
        value: m.value && Buffer.from(m.value),
      }));
      const inline = profileMessages('t', copies);
      assert.deepEqual({ ...fromThread, profiledAt: '' }, { ...inline, profiledAt: '' });
      assert.equal(inline.records, 2000);
      assert.ok((inline.duplicates ?? 0) > 0);
    });
  });
});

import assert from 'node:assert/strict';
import { feedSeedNow } from '../../src/seed/feed';
import type { SeedRecord } from '../../src/seed/generator';
import { DEFAULT_SEED, generateSeedRecords, seedPartitions, seedTopics } from '../../src/seed/generator';
import { expectedSeedCounts } from '../../src/seed/seed';

const take = (n: number, records: Generator<SeedRecord, void>) => {
  const out: SeedRecord[] = [];
  for (const record of records) {
    out.push(record);
    if (out.length >= n) break;
  }
  return out;
};

describe('demo seed and feed (pure)', () => {
  it('places every record itself: a key, or for a keyless record its partition, so a retried batch is the same batch', () => {
    const records = take(10_000, generateSeedRecords());
    const keyless = records.filter((r) => r.key === null);
    assert.ok(keyless.length > 0, 'the seed has keyless malformed clicks');
    for (const record of keyless) {
      assert.equal(record.topic, seedTopics.clicks);
      assert.ok(
        record.partition !== undefined && record.partition >= 0 && record.partition < seedPartitions.clicks,
        JSON.stringify(record),
      );
    }
  });

  it('knows what the default seed writes to each topic', () => {
    assert.deepEqual(expectedSeedCounts({ count: 10_000 }), {
      'customers.profiles': 429,
      'orders.orders': 1549,
      'web.clicks': 5455,
      'inventory.stock': 1032,
      'payments.payments': 1276,
      'shipments.shipments': 259,
    });
  });

  it("paces event time by gapScale: the feed's events run as fast as the clock at its rate", () => {
    const startTime = Date.UTC(2026, 11, 5);
    const span = (gapScale: number) => {
      const records = take(2000, generateSeedRecords({ startTime, gapScale }));
      return Math.max(...records.map((r) => r.eventTime)) - startTime;
    };
    const ratio = span(10) / span(1);
    assert.ok(ratio > 8 && ratio < 12, `ten times the gaps take about ten times as long (${ratio})`);
  });

  it("gives every feed start a seed of its own, never the seed's, so its ids are new", () => {
    const a = feedSeedNow(Date.UTC(2026, 11, 5, 15, 0, 0));
    const b = feedSeedNow(Date.UTC(2026, 11, 5, 15, 0, 1));
    assert.notEqual(a, b);
    assert.notEqual(a, DEFAULT_SEED);
    const ids = (seed: number) =>
      new Set(
        take(500, generateSeedRecords({ seed }))
          .map((r) => r.key)
          .filter((k) => k?.startsWith('ord-')),
      );
    const seeded = ids(DEFAULT_SEED);
    assert.ok(
      [...ids(a)].every((id) => !seeded.has(id)),
      'no order id of the seed comes again',
    );
  });
});

import type { ProfileIndex } from '../../src/agents/proposals';
import { indexProfiles } from '../../src/agents/proposals';
import { TopicProfiler } from '../../src/profile';

/** Profiles of literal JSON records, one topic each (no Kafka needed). */
export function profilesOfRecords(
  topics: Record<string, ReadonlyArray<Record<string, unknown>>>,
): ProfileIndex {
  return indexProfiles(
    Object.entries(topics).map(([topic, records]) => {
      const profiler = new TopicProfiler(topic);
      records.forEach((record, i) =>
        profiler.add({
          partition: 0,
          offset: String(i),
          key: null,
          value: Buffer.from(JSON.stringify(record)),
          timestamp: Date.UTC(2026, 0, 1) + i * 1000,
        }),
      );
      return profiler.finish(new Date(0));
    }),
  );
}

const start = Date.UTC(2026, 0, 1);

/** CRM contacts with a nested address, a card number, epoch seconds and epoch milliseconds. */
export const contactRecords = Array.from({ length: 40 }, (_, i) => ({
  contact_id: `ct-${i}`,
  address: { city: ['Lyon', 'Paris'][i % 2], zip: `690${String(i).padStart(2, '0')}` },
  card: `4111 1111 1111 ${String(1000 + i)}`,
  visits: i,
  created_at: Math.floor(start / 1000) + i * 60, // epoch seconds
  updated_at: start + i * 60_000, // epoch milliseconds
}));

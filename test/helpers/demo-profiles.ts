import type { MeshConfig } from '../../src/domain/mesh-config';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { TopicProfiler } from '../../src/profile';
import type { TopicProfile } from '../../src/profile';
import type { SeedRecord } from '../../src/seed/generator';
import { generateSeedRecords } from '../../src/seed/generator';

/** The demo mesh's domains, and profiles of the seed generator's records (no Kafka needed). */
export const demoMesh: MeshConfig = parseMeshConfig({
  domains: Object.fromEntries(
    ['orders', 'payments', 'shipments', 'customers', 'web', 'inventory'].map((name) => [
      name,
      { approvers: [`${name}-owner`], businessGoals: [`Grow the ${name} business`] },
    ]),
  ),
});

export function demoProfiles(
  count = 12_000,
  transform: (r: SeedRecord) => SeedRecord = (r) => r,
): TopicProfile[] {
  const profilers = new Map<string, TopicProfiler>();
  let i = 0;
  for (const original of generateSeedRecords({ seed: 3 })) {
    if (i++ >= count) break;
    const r = transform(original);
    let profiler = profilers.get(r.topic);
    if (!profiler) profilers.set(r.topic, (profiler = new TopicProfiler(r.topic)));
    profiler.add({
      partition: 0,
      offset: String(i),
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value === null ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
      timestamp: r.eventTime,
    });
  }
  return [...profilers.values()].map((p) => p.finish(new Date(0)));
}

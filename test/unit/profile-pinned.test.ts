import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TopicProfiler } from '../../src/profile';
import type { TopicProfile } from '../../src/profile';
import { ThreadedProfiler } from '../../src/profile/threaded';
import { pinnedRecords } from '../helpers/pinned-records';

const fixture = path.join(__dirname, '../fixtures/profiles/pinned.json');
const now = new Date(Date.UTC(2026, 3, 1));

/** The profiles of the pinned records, each topic in batches of 100 as the sampler hands them over. */
function profiles(): TopicProfile[] {
  return [...pinnedRecords()].map(([topic, messages]) => {
    const profiler = new TopicProfiler(topic);
    for (let i = 0; i < messages.length; i += 100) profiler.addAll(messages.slice(i, i + 100));
    return profiler.finish(now);
  });
}

describe('pinned profiles', () => {
  // Written once by the profiler before it was made faster (MESHLOOP_PIN_PROFILES=1 rewrites it):
  // every change to how records are read must leave every figure of these profiles as it was.
  it('profiles fixed records exactly as the pinned profiles say', () => {
    const actual = profiles();
    if (process.env.MESHLOOP_PIN_PROFILES === '1') {
      fs.mkdirSync(path.dirname(fixture), { recursive: true });
      fs.writeFileSync(fixture, `${JSON.stringify(actual, null, 1)}\n`);
    }
    const pinned = JSON.parse(fs.readFileSync(fixture, 'utf8')) as TopicProfile[];
    assert.equal(actual.length, pinned.length);
    for (const [i, profile] of actual.entries()) {
      assert.deepEqual(JSON.parse(JSON.stringify(profile)), pinned[i], `topic ${profile.topic}`);
    }
  });

  it('gives the same profiles on the profiling thread', async function () {
    this.timeout(60_000);
    const threaded = new ThreadedProfiler({}, 4);
    for (const [topic, messages] of pinnedRecords()) {
      for (let i = 0; i < messages.length; i += 100) await threaded.add(topic, messages.slice(i, i + 100));
    }
    assert.equal(threaded.threaded, true);
    const fromThread = await threaded.finish();
    const pinned = JSON.parse(fs.readFileSync(fixture, 'utf8')) as TopicProfile[];
    assert.deepEqual(
      fromThread.map((p) => JSON.parse(JSON.stringify({ ...p, profiledAt: '' })) as unknown),
      pinned.map((p) => ({ ...p, profiledAt: '' })),
    );
  });
});

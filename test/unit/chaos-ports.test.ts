import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { portDefaults } from '../../src/config';
import { chaosPorts, takeLock } from '../helpers/chaos-platform';

/**
 * The chaos platform runs beside the shared test platform (and, in CI, beside the secured and the
 * object-store platforms) on the same run's offset: none of its ports may be one of theirs.
 */
describe('the chaos platform’s ports', () => {
  for (const offset of [10000, 20000]) {
    it(`collide with no other test platform’s at offset ${offset}`, () => {
      const chaos = Object.values(chaosPorts(offset)).map(Number);
      assert.equal(new Set(chaos).size, chaos.length, 'each chaos port once');
      const shared = Object.values(portDefaults).map((port) => port + offset);
      const objectStore = [7070, 7181].map((port) => port + offset);
      for (const port of chaos) {
        assert.ok(!shared.includes(port), `${port} is the shared test platform's`);
        assert.ok(!objectStore.includes(port), `${port} is the object-store platform's`);
        // The secured platform takes 5000-5999 shifted by the offset.
        assert.ok(port < 5000 + offset || port > 5999 + offset, `${port} is in the secured platform's range`);
        assert.ok(port <= 65535);
      }
    });
  }

  it('are the defaults shifted by the offset plus 2000', () => {
    assert.equal(chaosPorts(20000).MESHLOOP_KAFKA_PORT, '31092');
    assert.equal(chaosPorts(20000).MESHLOOP_TEMPORAL_PORT, '29233');
    assert.equal(chaosPorts(10000).MESHLOOP_FLINK_REST_PORT, '20081');
  });
});

describe('the chaos platform’s lock', () => {
  let dir: string;
  before(async () => (dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'meshloop-chaos-lock-'))));
  after(() => fsp.rm(dir, { recursive: true, force: true }));

  it('refuses a second run while the first one’s process lives, naming it', async () => {
    const file = path.join(dir, 'live.lock');
    await fsp.writeFile(file, String(process.ppid));
    await assert.rejects(takeLock(file), new RegExp(`another chaos run \\(pid ${process.ppid}\\)`));
  });

  it('takes over a lock whose process is gone', async () => {
    const file = path.join(dir, 'stale.lock');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid; // a process that has ended
    await fsp.writeFile(file, String(gone));
    await takeLock(file);
    assert.equal(await fsp.readFile(file, 'utf8'), String(process.pid));
  });
});

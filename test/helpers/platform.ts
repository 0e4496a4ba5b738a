import os from 'node:os';
import path from 'node:path';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, portDefaults } from '../../src/config';
import { stackDown, stackUp } from '../../src/stack/stack';

/**
 * The real platform for tests: started once per test run (on first use), on ports shifted by
 * MESHLOOP_TEST_PORT_OFFSET (default 10000) so it never collides with a developer's own platform,
 * and stopped (data purged) when the run ends. MESHLOOP_TEST_KEEP_PLATFORM=1 leaves it running so
 * the next run reuses it.
 */
export function testEnvironment(): NodeJS.ProcessEnv {
  const offset = Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, port] of Object.entries(portDefaults)) env[key] = String(port + offset);
  // Tests of other features share a catalog that earlier tests filled: the critic only advises there
  // (it would dismiss their look-alike products), and no preview job takes Flink's slots.
  // test/integration/critic.test.ts builds its critic with its own settings.
  env.MESHLOOP_CRITIC ??= 'advise';
  env.MESHLOOP_PREVIEW_RECORDS ??= '0';
  env.MESHLOOP_DATA_DIR =
    process.env.MESHLOOP_TEST_DATA_DIR ?? path.join(os.tmpdir(), `meshloop-test-${offset}`);
  return env;
}

export function testConfig(): MeshloopConfig {
  return loadConfig(testEnvironment());
}

let platform: Promise<MeshloopConfig> | undefined;
let startedByThisRun = false;

export function testPlatform(): Promise<MeshloopConfig> {
  platform ??= (async () => {
    const config = testConfig();
    const began = Date.now();
    const results = await stackUp(config.stack, {
      progress: (message) => process.stderr.write(`      [platform] ${message}\n`),
    });
    startedByThisRun = results.some((result) => result.state === 'started');
    process.stderr.write(`      [platform] ready in ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
    return config;
  })();
  return platform;
}

export async function stopTestPlatform(): Promise<void> {
  if (!platform || !startedByThisRun || process.env.MESHLOOP_TEST_KEEP_PLATFORM === '1') return;
  const config = await platform.catch(() => undefined);
  if (config) await stackDown(config.stack, { purge: true });
}

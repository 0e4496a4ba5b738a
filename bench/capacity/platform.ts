import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, portDefaults } from '../../src/config';
import { servicePaths, stackDown, stackUp } from '../../src/stack/stack';
import { isOurs, readRunRecord } from '../../src/stack/process';

/**
 * bench/capacity's own local stack, started as `meshloop stack up` starts it, with the default sizes
 * (only ports and the data directory differ), so what it measures is what a user's stack holds. Its
 * ports are the defaults shifted by MESHLOOP_CAPACITY_PORT_OFFSET (default: the test platform's offset
 * + 4000, clear of the test platform's, the chaos platform's (+ 2000) and the secured platform's).
 */
export const CAPACITY_OFFSET_SHIFT = 4000;

export function capacityOffset(env: NodeJS.ProcessEnv = process.env): number {
  const explicit = env.MESHLOOP_CAPACITY_PORT_OFFSET;
  if (explicit !== undefined) {
    const offset = Number(explicit);
    if (!Number.isInteger(offset) || offset < 0 || offset > 55_000) {
      throw new Error(`MESHLOOP_CAPACITY_PORT_OFFSET=${explicit}: give a whole number from 0 to 55000`);
    }
    return offset;
  }
  return Number(env.MESHLOOP_TEST_PORT_OFFSET ?? 10000) + CAPACITY_OFFSET_SHIFT;
}

export function capacityEnvironment(offset: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, port] of Object.entries(portDefaults)) env[key] = String(port + offset);
  env.MESHLOOP_DATA_DIR = path.join(os.tmpdir(), `meshloop-capacity-${offset}`);
  // Copies of a few demo products: the critic would dismiss the look-alikes, and a preview job per
  // proposal would take slots the products are measured for.
  env.MESHLOOP_CRITIC = 'advise';
  env.MESHLOOP_PREVIEW_RECORDS = '0';
  env.MESHLOOP_LOG_LEVEL ??= 'warn';
  return env;
}

const progress = (message: string) => process.stderr.write(`[capacity platform] ${message}\n`);

export async function startCapacityPlatform(env: NodeJS.ProcessEnv): Promise<MeshloopConfig> {
  const config = loadConfig(env);
  const elsewhere = Object.entries(config.stack.elsewhere);
  if (elsewhere.length > 0) {
    throw new Error(
      `bench/capacity measures a local stack of its own, but ${elsewhere
        .map(([service, { setting }]) => `${setting} points ${service} elsewhere`)
        .join(', ')}: unset it for the bench`,
    );
  }
  // What an aborted run left behind (its processes are ours by their run records) goes first.
  await stackDown(config.stack, { purge: true });
  await fsp.mkdir(config.stack.dataDir, { recursive: true, mode: 0o700 });
  await stackUp(config.stack, { progress });
  return config;
}

export async function stopCapacityPlatform(config: MeshloopConfig): Promise<void> {
  await stackDown(config.stack, { purge: true });
}

/** The services whose processes the bench measures (names as `meshloop stack status` shows them). */
export const measuredServices = [
  'temporal',
  'kafka',
  'registry',
  'iceberg',
  'flink-jobmanager',
  'flink-taskmanager',
  'flink-sql-gateway',
] as const;

/** The pid `stack up` recorded for each service that runs. */
export async function servicePids(config: MeshloopConfig): Promise<Map<string, number>> {
  const pids = new Map<string, number>();
  for (const service of measuredServices) {
    const record = await readRunRecord(servicePaths(config.stack, service).runFile);
    if (record && isOurs(record)) pids.set(service, record.pid);
  }
  return pids;
}

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, portDefaults } from '../../src/config';
import { waitUntil } from '../../src/stack/probe';
import { delay, isOurs, readRunRecord, stopProcess } from '../../src/stack/process';
import { servicePaths, stackDown, stackUp } from '../../src/stack/stack';

/**
 * The chaos platform: a whole local stack of its own (Temporal, Kafka, the registry, the Iceberg REST
 * catalog, Flink's JobManager, TaskManager and SQL Gateway), started by `stackUp` as `meshloop stack up`
 * starts it, on ports shifted 2000 beyond the run's MESHLOOP_TEST_PORT_OFFSET (the shared test platform's)
 * and with a data directory of its own, so killing its processes never disturbs the shared platform or
 * another test. The chaos suite starts it once and purges it when it ends.
 *
 * The fault injectors find a service's process as `meshloop stack status` does (its run record, checked
 * against /proc) and bring the platform back with `stackUp` over the whole stack, as a person running
 * `meshloop stack up` would. The orchestration worker runs as a child process (`ChaosWorker`) so it can
 * be killed with SIGKILL like a crash.
 */

export const CHAOS_OFFSET_SHIFT = 2000;

export function chaosOffset(): number {
  return Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000) + CHAOS_OFFSET_SHIFT;
}

export type ChaosPlatform = Readonly<{
  config: MeshloopConfig;
  /** The environment that points Meshloop (the worker, the CLI) at the chaos platform. */
  env: NodeJS.ProcessEnv;
  dataDir: string;
}>;

/** Every port setting of the chaos platform of a run on `testOffset` (the shared platform's offset). */
export function chaosPorts(testOffset: number): Record<keyof typeof portDefaults, string> {
  return Object.fromEntries(
    Object.entries(portDefaults).map(([key, port]) => [key, String(port + testOffset + CHAOS_OFFSET_SHIFT)]),
  ) as Record<keyof typeof portDefaults, string>;
}

/** Slots for the chaos products' jobs (two per product) and a spare: a 1,408 MB TaskManager, not the default 50 slots' 3,424 MB. */
const CHAOS_TASK_SLOTS = 8;

/**
 * The chaos platform's settings: every port shifted, its own data directory, and a mesh.yaml copy whose
 * products look at their jobs every 2 s (the default is a minute), so a failure is seen within the test.
 */
export function chaosEnvironment(): NodeJS.ProcessEnv {
  const offset = chaosOffset();
  const env: NodeJS.ProcessEnv = { ...process.env, ...chaosPorts(offset - CHAOS_OFFSET_SHIFT) };
  const dataDir = path.join(os.tmpdir(), `meshloop-chaos-${offset}`);
  env.MESHLOOP_DATA_DIR = dataDir;
  env.MESHLOOP_MESH_FILE = path.join(dataDir, 'mesh.yaml');
  env.MESHLOOP_FLINK_TASK_SLOTS = String(CHAOS_TASK_SLOTS);
  return env;
}

const progress = (message: string) => process.stderr.write(`      [chaos platform] ${message}\n`);

let platform: Promise<ChaosPlatform> | undefined;

/**
 * Starts the chaos platform, fresh (once per process): `stack up` refuses ports something else holds,
 * naming the setting that moves them.
 */
export function chaosPlatform(): Promise<ChaosPlatform> {
  platform ??= (async () => {
    const env = chaosEnvironment();
    const dataDir = env.MESHLOOP_DATA_DIR!;
    await takeLock(lockFile(dataDir));
    // A chaos platform an aborted run left behind (its processes are ours by their run records) goes first.
    await stackDown(loadConfig(env).stack, { purge: true });
    await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const repositoryMesh = await fsp.readFile(path.join(__dirname, '..', '..', 'mesh.yaml'), 'utf8');
    await fsp.writeFile(
      env.MESHLOOP_MESH_FILE!,
      repositoryMesh.replace(/^defaults:\n/m, 'defaults:\n  jobWatchInterval: 2s\n'),
    );
    const config = loadConfig(env);
    const elsewhere = Object.entries(config.stack.elsewhere);
    if (elsewhere.length > 0) {
      throw new Error(
        `the chaos suite breaks a local stack of its own, but ${elsewhere
          .map(([service, { setting }]) => `${setting} points ${service} elsewhere`)
          .join(', ')}: unset it for the test run`,
      );
    }
    const began = Date.now();
    await stackUp(config.stack, { progress });
    progress(`ready in ${((Date.now() - began) / 1000).toFixed(1)} s (port offset ${chaosOffset()})`);
    return { config, env, dataDir };
  })();
  return platform;
}

/** Stops every chaos service and removes its data directory (the suite's `after`). */
export async function stopChaosPlatform(): Promise<void> {
  if (!platform) return;
  const started = await platform.catch(() => undefined);
  platform = undefined;
  const config = started?.config ?? loadConfig(chaosEnvironment());
  await stackDown(config.stack, { purge: true });
  await fsp.rm(lockFile(config.stack.dataDir), { force: true });
}

const lockFile = (dataDir: string) => `${dataDir}.lock`;

/**
 * One chaos run per offset: a second one would purge the first's platform as left behind. The lock
 * names the process holding it; a lock whose process is gone is stale and taken over.
 */
export async function takeLock(file: string): Promise<void> {
  const holder = Number(await fsp.readFile(file, 'utf8').catch(() => ''));
  if (holder > 0 && holder !== process.pid && processAlive(holder)) {
    throw new Error(
      `another chaos run (pid ${holder}) uses the chaos platform on offset ${chaosOffset()}; wait for it to ` +
        'end, or run on another MESHLOOP_TEST_PORT_OFFSET',
    );
  }
  await fsp.writeFile(file, String(process.pid));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The services of the local stack the injectors break (names as `meshloop stack status` shows them). */
export type ChaosService =
  'temporal' | 'kafka' | 'iceberg' | 'flink-jobmanager' | 'flink-taskmanager' | 'flink-sql-gateway';

/** The pid `stack up` recorded for a service, if that process still runs (as `stack status` finds it). */
export async function servicePid(config: MeshloopConfig, service: ChaosService): Promise<number | undefined> {
  const record = await readRunRecord(servicePaths(config.stack, service).runFile);
  return record && isOurs(record) ? record.pid : undefined;
}

/** `kill -9` a service's process group, and wait until it is gone. */
export async function killService(config: MeshloopConfig, service: ChaosService): Promise<void> {
  const record = await readRunRecord(servicePaths(config.stack, service).runFile);
  if (!record || !isOurs(record)) throw new Error(`${service} is not running: nothing to kill`);
  try {
    process.kill(-record.pid, 'SIGKILL');
  } catch {
    process.kill(record.pid, 'SIGKILL');
  }
  const gone = await waitUntil(() => Promise.resolve(!isOurs(record)), { timeoutMs: 10_000, intervalMs: 50 });
  if (gone !== 'ready') throw new Error(`${service} (pid ${record.pid}) survived SIGKILL for 10 s`);
}

/** Stop a service as `meshloop stack down <service>` does (SIGTERM, then SIGKILL after the grace period). */
export async function stopService(config: MeshloopConfig, service: ChaosService): Promise<void> {
  const paths = servicePaths(config.stack, service);
  const record = await readRunRecord(paths.runFile);
  if (!record || !isOurs(record)) throw new Error(`${service} is not running: nothing to stop`);
  await stopProcess(record);
  await fsp.rm(paths.runFile, { force: true });
}

/** Bring the whole platform back as `meshloop stack up` does: start what is down, wait until all is healthy. */
export async function bringPlatformBack(config: MeshloopConfig): Promise<string[]> {
  const results = await stackUp(config.stack, { progress });
  return results.filter((result) => result.state === 'started').map((result) => result.service);
}

const root = path.resolve(__dirname, '..', '..');

/**
 * The orchestration worker as a child process of the suite (`node --import tsx workers/main.ts`), so a
 * fault can SIGKILL it mid-deployment; `start` again plays the supervisor that restarts a crashed worker.
 * Its output goes to `<data dir>/logs/worker.log`.
 */
export class ChaosWorker {
  private child: ChildProcess | undefined;
  readonly logFile: string;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.logFile = path.join(env.MESHLOOP_DATA_DIR!, 'logs', 'worker.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.alive()) return;
    await fsp.mkdir(path.dirname(this.logFile), { recursive: true });
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `\n--- ${new Date().toISOString()} starting the worker\n`);
    try {
      this.child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'workers', 'main.ts')], {
        cwd: root,
        env: { ...this.env, MESHLOOP_LOG_LEVEL: 'warn' },
        stdio: ['ignore', log, log],
      });
    } finally {
      fs.closeSync(log);
    }
    workers.add(this.child);
  }

  alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** `kill -9` the worker: no shutdown, its activities in flight are abandoned. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive()) throw new Error('the worker is not running: nothing to kill');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    workers.delete(child);
  }

  /** Stop it gracefully (the suite's end). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive()) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    workers.delete(child);
  }

  /** The end of its log, for failure messages. */
  tail(lines = 20): string {
    const text = fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}

const workers = new Set<ChildProcess>();

// A worker never outlives the suite, even when it ends abruptly.
process.once('exit', () => {
  for (const child of workers) child.kill('SIGKILL');
});

export { delay };

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { LaunchPlan } from './types';

/** What `stack up` records about a process it started, so `down` stops exactly that process. */
export type RunRecord = Readonly<{
  service: string;
  pid: number;
  startedAt: string;
  /** /proc/<pid>/cmdline at start: a pid reused by another program will not match. */
  cmdline: string;
}>;

export async function readRunRecord(runFile: string): Promise<RunRecord | undefined> {
  try {
    return JSON.parse(await fsp.readFile(runFile, 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

export function readCmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when the recorded process is alive and is still the program we started. */
export function isOurs(record: RunRecord): boolean {
  const now = readCmdline(record.pid);
  return now !== undefined && now === record.cmdline && !isZombie(record.pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Start a process detached in its own process group, output appended to the log file.
 * It outlives this CLI; the run record lets a later `down` find it again.
 */
// Names of variables a service must never see: the LLM key, payload keys, anyone's tokens, a Temporal
// client key or gRPC headers, Flink's proxy headers.
const secretVariable =
  /(^OPENAI_|API_?KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|PAYLOAD_KEYS|SESSION|KEY_DATA|GRPC_META|HEADERS)/i;

/** The environment a spawned service inherits: ours without secrets (Kafka or Flink have no use for them). */
export function serviceEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !secretVariable.test(name)));
}

export async function launchDetached(
  service: string,
  plan: LaunchPlan,
  logFile: string,
  runFile: string,
): Promise<RunRecord> {
  await fsp.mkdir(path.dirname(logFile), { recursive: true });
  await fsp.mkdir(path.dirname(runFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  fs.writeSync(
    log,
    `\n--- ${new Date().toISOString()} starting ${service}: ${plan.command} ${plan.args.join(' ')}\n`,
  );
  try {
    const child = spawn(plan.command, [...plan.args], {
      cwd: plan.cwd,
      env: { ...serviceEnvironment(process.env), ...plan.env },
      detached: true,
      stdio: ['ignore', log, log],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    const record: RunRecord = {
      service,
      pid,
      startedAt: new Date().toISOString(),
      cmdline: readCmdline(pid) ?? '',
    };
    await fsp.writeFile(runFile, JSON.stringify(record, null, 2));
    return record;
  } finally {
    fs.closeSync(log);
  }
}

/** Stop our process group: SIGTERM, then SIGKILL after the grace period. Resolves once it is gone. */
export async function stopProcess(
  record: RunRecord,
  graceMs = 15_000,
): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isOurs(record)) return 'not running';
  signalGroup(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(record) && !groupAlive(record.pid)) return 'stopped';
    await delay(100);
  }
  signalGroup(record.pid, 'SIGKILL');
  while (isOurs(record) || groupAlive(record.pid)) await delay(50);
  return 'killed';
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

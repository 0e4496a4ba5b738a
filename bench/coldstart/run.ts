/**
 * bench/coldstart: a cold `npm start` (bin/meshloop start) on an empty cache, timed to the first
 * proposals. Everything a fresh machine would download is downloaded: a new MESHLOOP_CACHE_DIR,
 * a new data directory, a new pip cache (PIP_CACHE_DIR) and a new local Maven repository
 * (-Dmaven.repo.local through MAVEN_OPTS). Every port is the default plus BENCH_PORT_OFFSET
 * (default 50000: 57233, 59092, 58081, ...), set in a profile (MESHLOOP_PROFILE), so a developer's
 * platform and the test platforms keep theirs.
 *
 * It prints each progress line with the seconds since start, the time to the platform being ready
 * and to the first product awaiting approval, then stops what it started (the worker, then
 * `stack down --purge`) and deletes its directories.
 *
 *   npm run bench:coldstart
 *   BENCH_WARM_MAVEN=1 npm run bench:coldstart    # keep ~/.m2 (a machine that has used Maven before)
 *   BENCH_PORT_OFFSET=40000 npm run bench:coldstart
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { portDefaults } from '../../src/config';

const offset = Number(process.env.BENCH_PORT_OFFSET ?? 50000);
const deadlineMs = Number(process.env.BENCH_TIMEOUT_S ?? 1200) * 1000;
const meshloop = path.resolve(__dirname, '..', '..', 'bin', 'meshloop');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-coldstart-'));

const ports = Object.fromEntries(Object.entries(portDefaults).map(([key, port]) => [key, port + offset]));
const profile = path.join(root, 'ports.env');
fs.writeFileSync(
  profile,
  Object.entries(ports)
    .map(([key, port]) => `${key}=${port}\n`)
    .join(''),
);

const env: NodeJS.ProcessEnv = {
  ...process.env,
  MESHLOOP_PROFILE: profile,
  MESHLOOP_CACHE_DIR: path.join(root, 'cache'),
  MESHLOOP_DATA_DIR: path.join(root, 'data'),
  PIP_CACHE_DIR: path.join(root, 'pip-cache'),
  ...(process.env.BENCH_WARM_MAVEN === '1'
    ? {}
    : { MAVEN_OPTS: `${process.env.MAVEN_OPTS ?? ''} -Dmaven.repo.local=${path.join(root, 'm2')}`.trim() }),
};

const began = Date.now();
const startLoad = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const seconds = () => ((Date.now() - began) / 1000).toFixed(1).padStart(6);
const timeline: string[] = [];
const note = (line: string) => {
  const entry = `${seconds()} s  ${line}`;
  timeline.push(entry);
  process.stdout.write(`${entry}\n`);
};

/** Seconds to the first product workflow (a proposal recorded), then to the first awaiting approval. */
async function firstProposals(): Promise<{ recorded: string; awaiting: string; count: number }> {
  const address = `127.0.0.1:${ports.MESHLOOP_TEMPORAL_PORT}`;
  const products = "WorkflowType = 'dataProductWorkflow'";
  let recorded: string | undefined;
  while (Date.now() - began < deadlineMs) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const connection = await Connection.connect({ address, connectTimeout: 1000 }).catch(() => undefined);
    if (!connection) continue;
    try {
      const namespace = process.env.MESHLOOP_TEMPORAL_NAMESPACE ?? 'default';
      const client = new Client({ connection, namespace });
      if (!recorded && (await client.workflow.count(products)).count > 0) {
        recorded = seconds().trim();
        note(`first proposal recorded (a product workflow started) at ${recorded} s`);
      }
      const { count } = await client.workflow.count(`${products} AND MeshloopStage = 'awaitingApproval'`);
      if (recorded && count > 0) return { recorded, awaiting: seconds().trim(), count };
    } catch {
      // the namespace or the search attributes are not there yet
    } finally {
      await connection.close();
    }
  }
  throw new Error(`no proposal awaiting approval within ${deadlineMs / 1000} s`);
}

/**
 * CPU-seconds used so far by process groups (each service runs in its own; `meshloop start` in
 * another): every live member's own time plus what its finished children used (mvn, pip, tar,
 * Kafka's storage tool), from /proc. Linux only; 0 elsewhere.
 */
function cpuSecondsOfGroups(groups: ReadonlySet<number>): number {
  let ticks = 0;
  for (const entry of fs.existsSync('/proc') ? fs.readdirSync('/proc') : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14).
      if (!groups.has(Number(fields[2]))) continue;
      ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100;
}

/** The services' process groups: the pids `stack up` recorded (each launched as a group leader). */
function serviceGroups(): number[] {
  const runDir = path.join(env.MESHLOOP_DATA_DIR!, 'run');
  if (!fs.existsSync(runDir)) return [];
  return fs
    .readdirSync(runDir)
    .map((file) => (JSON.parse(fs.readFileSync(path.join(runDir, file), 'utf8')) as { pid: number }).pid);
}

async function main() {
  // The CLI compiles itself when its sources changed: not part of a start (`npm install` builds it).
  spawnSync(meshloop, ['--version'], { stdio: 'ignore' });
  note(`cold start in ${root} (ports +${offset}; Maven repository ${env.MAVEN_OPTS ? 'empty' : '~/.m2'})`);
  const start = spawn(meshloop, ['start'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [start.stdout, start.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      if (line.trim()) note(line.length > 220 ? `${line.slice(0, 220)}…` : line);
    });
  }
  const exited = new Promise<number | null>((resolve) => start.once('exit', resolve));
  try {
    const first = await Promise.race([
      firstProposals(),
      exited.then((code) => Promise.reject(new Error(`meshloop start exited ${code}`))),
    ]);
    const platform = timeline.find((line) => line.includes('platform ready in'));
    note(`FIRST PROPOSALS: ${first.count} awaiting approval`);
    const cpu = cpuSecondsOfGroups(new Set([start.pid!, ...serviceGroups()]));
    const load = os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    process.stdout.write(`\nsummary: ${platform?.trim() ?? 'platform: (no ready line)'}\n`);
    process.stdout.write(
      `summary: first proposal recorded at ${first.recorded} s, awaiting approval at ${first.awaiting} s\n`,
    );
    process.stdout.write(
      `summary: CPU used by the start and the services: ${cpu.toFixed(0)} CPU-seconds (on ${os.cpus().length} cores)\n`,
    );
    process.stdout.write(`summary: load average at the end ${load} (at the start ${startLoad})\n`);
  } finally {
    try {
      process.kill(start.pid!, 'SIGINT');
    } catch {
      // already gone
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    try {
      process.kill(-start.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
    spawnSync(meshloop, ['stack', 'down', '--purge'], { env, stdio: 'inherit' });
    fs.writeFileSync(path.join(os.tmpdir(), `meshloop-coldstart-${process.pid}.log`), timeline.join('\n'));
    fs.rmSync(root, { recursive: true, force: true });
    process.stdout.write(
      `timeline kept in ${path.join(os.tmpdir(), `meshloop-coldstart-${process.pid}.log`)}\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

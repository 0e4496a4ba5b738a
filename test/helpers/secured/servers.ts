import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** A server process a test harness started, its output in a log file. */
export type Server = Readonly<{ name: string; child: ChildProcess; logFile: string }>;

export function startServer(
  name: string,
  command: string,
  args: readonly string[],
  options: { logFile: string; env?: Record<string, string>; cwd?: string },
): Server {
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.once('error', (error) => fs.appendFileSync(options.logFile, `spawn failed: ${error.message}\n`));
  return { name, child, logFile: options.logFile };
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopServer(server: Server, graceMs = 10_000): Promise<void> {
  const { child } = server;
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `ready` until it says yes; fails early, with the log's tail, when the server exits. */
export async function waitUntilReady(
  server: Server,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited(server.child)) {
      throw new Error(
        `${server.name} exited (${server.child.exitCode}); ${server.logFile}:\n${tail(server.logFile)}`,
      );
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${server.name} not ready in ${timeoutMs / 1000} s; ${server.logFile}:\n${tail(server.logFile)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

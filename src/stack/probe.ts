import net from 'node:net';
import { delay } from './process';

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when GET url answers with a 2xx status within the timeout. */
export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Poll `probe` until it is true or the deadline passes. `stillAlive` lets a crashed process fail fast
 * instead of waiting out the whole deadline.
 */
export async function waitUntil(
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; stillAlive?: () => boolean },
): Promise<'ready' | 'timeout' | 'exited'> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe()) return 'ready';
    if (options.stillAlive && !options.stillAlive()) return 'exited';
    if (Date.now() >= deadline) return 'timeout';
    await delay(options.intervalMs ?? 500);
  }
}

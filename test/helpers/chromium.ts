import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Debian's Chromium (package `chromium`): test tools never download a browser of their own here. */
export const chromiumPath = process.env.MESHLOOP_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Debian's Chromium, installed from Debian's packages when it is missing and this process may
 * (root with apt, as in CI); otherwise a clear error that says what to install.
 */
export function ensureChromium(): string {
  if (fs.existsSync(chromiumPath)) return chromiumPath;
  const isRoot = process.getuid?.() === 0;
  if (isRoot && fs.existsSync('/usr/bin/apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  }
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's package (apt-get install chromium), or set MESHLOOP_TEST_CHROMIUM to a Chromium binary`,
    );
  }
  return chromiumPath;
}

/**
 * Headless Chromium as this machine allows it: no sandbox (root), and none of the background
 * connections a closed network refuses (updates, sync, QUIC).
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

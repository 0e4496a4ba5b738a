import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runPython } from './wheels';

/**
 * Python tools from PyPI in a virtual environment of their own, cached under the cache folder
 * (`~/.cache/meshloop/python-<name>-<hash of the pinned requirements>`): made once with `venv`
 * and `pip install`, reused after. It is made in a folder beside it and renamed into place when
 * complete, so an interrupted install is never taken for a finished one, and two processes making
 * it at once each finish (the second rename finds the first's). Run its tools as `python -m …`
 * (`pythonOf`): a venv's console scripts name their folder in their first line, which the rename
 * changes; its interpreter finds its packages wherever the folder is.
 */

export type PythonTools = Readonly<{ dir: string; python: string }>;

const MARKER = 'meshloop-complete.json';

export function venvDirOf(cacheDir: string, name: string, requirements: readonly string[]): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([...requirements].sort()))
    .digest('hex')
    .slice(0, 12);
  return path.join(cacheDir, `python-${name}-${hash}`);
}

export const pythonOf = (dir: string) => path.join(dir, 'bin', 'python');

/** The venv with `requirements` (pinned, `pkg==x.y.z`) installed, made when missing. */
export async function ensureVenv(options: {
  cacheDir: string;
  name: string;
  requirements: readonly string[];
  /** The Python that makes the venv (default `python3`). */
  python?: string;
  progress?: (message: string) => void;
}): Promise<PythonTools> {
  const unpinned = options.requirements.filter((r) => !/==\d/.test(r));
  if (unpinned.length > 0)
    throw new Error(`requirements must be pinned (pkg==version): ${unpinned.join(', ')}`);
  const dir = venvDirOf(options.cacheDir, options.name, options.requirements);
  if (existsSync(path.join(dir, MARKER))) return { dir, python: pythonOf(dir) };
  const building = `${dir}.partial-${process.pid}`;
  await rm(building, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  const began = Date.now();
  options.progress?.(`installing ${options.requirements.join(' ')} into ${dir} (once)`);
  try {
    await runPython(options.python ?? 'python3', ['-m', 'venv', building]);
    await runPython(pythonOf(building), [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '-q',
      ...options.requirements,
    ]);
    const seconds = (Date.now() - began) / 1000;
    await writeFile(
      path.join(building, MARKER),
      JSON.stringify({ requirements: options.requirements, seconds }, null, 2),
    );
    options.progress?.(`installed in ${seconds.toFixed(1)} s`);
    await rename(building, dir).catch(async (error: unknown) => {
      // Another process finished first: theirs is as good.
      if (!existsSync(path.join(dir, MARKER))) throw error;
      await rm(building, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    throw error;
  }
  return { dir, python: pythonOf(dir) };
}

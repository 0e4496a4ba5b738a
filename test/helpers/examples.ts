import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadSpecFile } from '../../src/specs/load';

export const repositoryRoot = path.join(__dirname, '..', '..');

/** Every spec in examples/ (hand-written, SQL included), as a person would propose it. */
export async function exampleSpecs() {
  const dir = path.join(repositoryRoot, 'examples');
  const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ file, spec: await loadSpecFile(path.join(dir, file)) })));
}

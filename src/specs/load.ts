import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InvalidSpecError } from '../domain/errors';
import type { MeshConfig } from '../domain/mesh-config';
import { parseMeshConfig } from '../domain/mesh-config';
import type { ProductSpec } from '../domain/spec';
import { parseSpec } from '../domain/spec';

/** Spec and mesh files on disk. The parsing rules are pure and live in src/domain; this is the I/O. */

export type TextFormat = 'yaml' | 'json';

export function formatOfPath(file: string): TextFormat {
  return path.extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Decode YAML or JSON text; a syntax error becomes an InvalidSpecError with its line. */
export function decodeText(text: string, format: TextFormat, source: string): unknown {
  try {
    return format === 'json' ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos ? `line ${error.linePos[0].line}` : `(${format})`;
    throw new InvalidSpecError(`cannot read ${source}`, [
      `${where}: ${(error as Error).message.split('\n')[0]}`,
    ]);
  }
}

/** A spec from YAML or JSON text. */
export function parseSpecText(text: string, format: TextFormat, source = 'product spec'): ProductSpec {
  return parseSpec(decodeText(text, format, source), source);
}

/** A spec file (`.yaml`, `.yml` or `.json`), validated; every problem is listed with its path. */
export async function loadSpecFile(file: string): Promise<ProductSpec> {
  const text = await readFile(file, 'utf8');
  return parseSpecText(text, formatOfPath(file), file);
}

/** `mesh.yaml`: domains, their approvers, deadlines and business goals. */
export async function loadMeshConfig(file: string): Promise<MeshConfig> {
  const text = await readFile(file, 'utf8');
  return parseMeshConfig(decodeText(text, formatOfPath(file), file), file);
}

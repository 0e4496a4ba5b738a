import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

/** The keys `.env` set (those not already in the environment), for `meshloop config`'s sources. */
const fromDotEnv = new Set<string>();
let loaded: string | undefined;

/**
 * Loads `.env` from the working directory into `process.env` with Node's own `process.loadEnvFile`,
 * once; variables already set in the environment win. Nothing happens without the file.
 */
export function loadDotEnv(file: string = path.resolve('.env')): void {
  if (loaded !== undefined || !fs.existsSync(file)) return;
  loaded = file;
  const before = new Set(Object.keys(process.env));
  const keys = Object.keys(parseEnv(fs.readFileSync(file, 'utf8')));
  process.loadEnvFile(file);
  for (const key of keys) if (!before.has(key)) fromDotEnv.add(key);
}

/** The `.env` file loaded, if any, and the keys it set. */
export function dotEnvOrigin(): { file?: string; keys: ReadonlySet<string> } {
  return { ...(loaded !== undefined ? { file: loaded } : {}), keys: fromDotEnv };
}

import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

/** The keys `.env` set (those not already in the environment), for `meshloop config`'s sources. */
const fromDotEnv = new Set<string>();
let loaded: string | undefined;

/**
 * Loads the profile into `process.env` with Node's own `process.loadEnvFile`, once; variables already
 * set in the environment win. The profile is the file MESHLOOP_PROFILE names (it must exist: a
 * profile that is not there would silently run against the local platform), else `.env` in the
 * working directory when there is one.
 */
export function loadDotEnv(): void {
  if (loaded !== undefined) return;
  const profile = process.env.MESHLOOP_PROFILE?.trim();
  const file = profile ? path.resolve(profile) : path.resolve('.env');
  if (profile && !fs.existsSync(file)) {
    throw new Error(
      `MESHLOOP_PROFILE: no such file ${file}; point it at a profile (a .env-format file, see .env.example) or unset it`,
    );
  }
  if (!fs.existsSync(file)) return;
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

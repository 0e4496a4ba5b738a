import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';

/**
 * One file from Maven Central over HTTPS, without Maven: for artifacts the stack takes whole, with no
 * dependency to resolve (the Iceberg catalog's jar, the registry's tar.gz). Starting Maven for them
 * costs a JVM and, in an empty `~/.m2`, its dependency plugin (about 10 CPU-seconds each on a cold
 * start); this costs the download and a hash. The file's SHA-1 from Central is checked, as Maven
 * checks it. Any failure throws, and the caller falls back to Maven (which honours your mirrors).
 */

export const MAVEN_CENTRAL_URL = 'https://repo.maven.apache.org/maven2';

export type MavenFile = Readonly<{
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
  /** The file's extension: jar (default), tar.gz, ... */
  extension?: string;
}>;

export function mavenFileName(file: MavenFile): string {
  const classifier = file.classifier ? `-${file.classifier}` : '';
  return `${file.artifactId}-${file.version}${classifier}.${file.extension ?? 'jar'}`;
}

export function mavenCentralUrl(file: MavenFile, baseUrl = MAVEN_CENTRAL_URL): string {
  return `${baseUrl}/${file.groupId.replaceAll('.', '/')}/${file.artifactId}/${file.version}/${mavenFileName(file)}`;
}

export class MavenDownloadError extends Error {}

async function get(url: string, timeoutMs: number): Promise<Response> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).catch((error: unknown) => {
    throw new MavenDownloadError(`${url}: ${(error as Error).message}`);
  });
  if (!response.ok || !response.body) throw new MavenDownloadError(`${url}: HTTP ${response.status}`);
  return response;
}

/**
 * Download `file` into `target` (through a temporary name, so an interrupted download never looks
 * complete), checking its SHA-1 against Central's `.sha1`.
 */
export async function downloadFromMavenCentral(options: {
  file: MavenFile;
  target: string;
  baseUrl?: string;
  timeoutMs?: number;
}): Promise<void> {
  const url = mavenCentralUrl(options.file, options.baseUrl);
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const expected = /^[0-9a-f]{40}/i.exec((await (await get(`${url}.sha1`, 30_000)).text()).trim())?.[0];
  if (!expected) throw new MavenDownloadError(`${url}.sha1: not a SHA-1`);
  const response = await get(url, timeoutMs);
  await fsp.mkdir(path.dirname(options.target), { recursive: true });
  const partial = `${options.target}.part-${randomBytes(4).toString('hex')}`;
  const hash = createHash('sha1');
  try {
    const body = Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(body, fs.createWriteStream(partial));
    const actual = hash.digest('hex');
    if (actual !== expected.toLowerCase()) {
      throw new MavenDownloadError(
        `${url}: SHA-1 ${actual}, but Maven Central lists ${expected.toLowerCase()}`,
      );
    }
    await fsp.rename(partial, options.target);
  } catch (error) {
    await fsp.rm(partial, { force: true });
    throw error instanceof MavenDownloadError
      ? error
      : new MavenDownloadError(`${url}: ${(error as Error).message}`);
  }
}

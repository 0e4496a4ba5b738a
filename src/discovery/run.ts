import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import type { SqlGuardDependencies } from '../creation/guard';
import type { LlmClient } from '../adapters/llm/client';
import type { SchemaRegistryConfig } from '../config';
import type { Logger } from '../log';

/**
 * What a discovery run needs, and where it keeps its files: profiles and reports are written under
 * `<dataDir>/discovery/<run>/`, and workflows carry the paths, never the contents.
 */

export type DiscoveryDependencies = Readonly<{
  kafka: Kafka;
  /** Connected and disconnected by the worker that owns it. */
  producer: Producer;
  log: Logger;
  /** Profiles and reports are written under `<dataDir>/discovery/<run>/`; workflows carry the paths. */
  dataDir: string;
  meshFile: string;
  /** Records in Confluent's wire format are decoded through it; without it they count as binary. */
  schemaRegistry?: SchemaRegistryConfig;
  /** Absent without an API key: the planner proposes. */
  llm?: LlmClient;
  catalogTopic?: string;
  proposalsTopic?: string;
  /** The SQL guard for the LLM's drafts (Flink SQL Gateway); without it only the statement kind is checked. */
  sqlGuard?: Omit<SqlGuardDependencies, 'log'>;
  /** Progress of long steps (an activity heartbeats); by default nobody listens. */
  heartbeat?: (details: unknown) => void;
}>;

export const runDirOf = (dataDir: string, runKey: string) =>
  path.join(dataDir, 'discovery', runKey.replace(/[^A-Za-z0-9._-]/g, '_'));

export async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(value, null, 1));
  await rename(temporary, file);
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

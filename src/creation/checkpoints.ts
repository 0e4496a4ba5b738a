import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlinkRestClient } from '../adapters/flink';
import type { Logger } from '../log';

/**
 * The newest retained checkpoint of a product's job, to redeploy it from after a platform fault.
 * While the JobManager knows the job, its checkpoint history says (REST); once it forgot the job
 * (a restart), the cluster's checkpoint directory on disk does: `<dir>/<job id>/chk-<n>/_metadata`,
 * kept on failure and cancellation (RETAIN_ON_CANCELLATION). Jobs are tried in the order given
 * (the newest first); the first with a checkpoint answers.
 */
export type RetainedCheckpoint = Readonly<{ path: string; jobId: string; found: 'flink' | 'disk' }>;

/** Where the cluster keeps checkpoints, as its JobManager says (Flink 1.20's key, then the old one). */
export async function checkpointDirOf(rest: FlinkRestClient): Promise<string | undefined> {
  const config = await rest.clusterConfig();
  return config['execution.checkpointing.dir'] ?? config['state.checkpoints.dir'];
}

/** The newest complete checkpoint of a job under a local (`file://`) checkpoint directory. */
export async function newestCheckpointOnDisk(dir: string, jobId: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{32}$/.test(jobId)) return undefined;
  const root = dir.startsWith('file:') ? fileURLToPath(dir.replace(/^file:\/+/, 'file:///')) : dir;
  if (!path.isAbsolute(root)) return undefined;
  const jobDir = path.join(root, jobId);
  const entries = await fsp.readdir(jobDir).catch(() => [] as string[]);
  const numbered = entries
    .map((name) => ({ name, n: /^chk-(\d+)$/.exec(name)?.[1] }))
    .filter((entry): entry is { name: string; n: string } => entry.n !== undefined)
    .sort((a, b) => Number(b.n) - Number(a.n));
  for (const { name } of numbered) {
    // A checkpoint is complete once its metadata is written.
    const metadata = await fsp.stat(path.join(jobDir, name, '_metadata')).catch(() => undefined);
    if (metadata?.isFile()) return `file://${path.join(jobDir, name)}`;
  }
  return undefined;
}

export async function latestRetainedCheckpoint(
  deps: { rest: FlinkRestClient; log?: Logger },
  jobIds: readonly string[],
): Promise<RetainedCheckpoint | undefined> {
  let dir: string | undefined | null = null;
  for (const jobId of jobIds.filter(Boolean)) {
    const known = await deps.rest.latestCheckpointPath(jobId).catch(() => undefined);
    if (known) return { path: known, jobId, found: 'flink' };
    if (dir === null) dir = await checkpointDirOf(deps.rest).catch(() => undefined);
    // Only a directory this process can read (the local platform's); remote storage needs Flink's answer.
    if (!dir || !(dir.startsWith('file:') || dir.startsWith('/'))) continue;
    const onDisk = await newestCheckpointOnDisk(dir, jobId);
    if (onDisk) return { path: onDisk, jobId, found: 'disk' };
  }
  deps.log?.info('no retained checkpoint found', { jobIds });
  return undefined;
}

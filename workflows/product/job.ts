import * as wf from '@temporalio/workflow';
import type {
  DeployResult,
  ProductJob,
  ProductJobInput,
  ProductJobStatus,
  StopResult,
} from '../../src/domain/creation';
import { jobHealthOf, normalisedSql, productJobNameOf } from '../../src/domain/creation';
import { jobControl, jobWatching } from './proxies';

/**
 * The side effects of a product's Flink job, in the order the workflow needs them. The workflow's
 * DataProduct decides what each outcome means for the stage; these only act and report.
 */

/** How long provisioning waits for a submitted job to run before calling the product degraded. */
export const RUNNING_DEADLINE_MS = 120_000;

export type Deployment = Readonly<{ deployed: DeployResult; startedFrom: string }>;

/**
 * Deploy the spec's revision. Whatever ran before (an earlier revision, or this one when an
 * operator redeploys) is stopped first with a savepoint; the new job resumes from it when the SQL
 * is unchanged, else starts from scratch (the old state does not fit a different query).
 */
export async function deployRevision(
  input: ProductJobInput,
  previous: ProductJob | undefined,
): Promise<Deployment> {
  if (!previous) {
    const deployed = await jobControl.deployProductJob(input);
    return { deployed, startedFrom: 'the beginning of its inputs (a new product)' };
  }
  const before = { ...input, revision: previous.revision };
  const stopped = await jobControl.stopProductJob(before);
  if (previous.sql !== normalisedSql(input.spec.sql)) {
    const deployed = await jobControl.deployProductJob({ ...input, fromScratch: true });
    return {
      deployed,
      startedFrom: `scratch: the SQL changed since revision ${previous.revision}, so its state does not fit`,
    };
  }
  // Same SQL: resume from the savepoint just taken (or kept when it stopped); without one, the
  // deployment resumes a failed job from its last retained checkpoint itself.
  const savepoint = stopped.savepoint ?? previous.savepoint;
  const deployed = await jobControl.deployProductJob(savepoint ? { ...input, savepoint } : input);
  const resumed = deployed.fromSavepoint;
  return {
    deployed,
    startedFrom: resumed
      ? `the ${resumed === savepoint ? 'savepoint' : 'last checkpoint'} of revision ${previous.revision} (${resumed})`
      : "its inputs' committed offsets (no savepoint or checkpoint was kept)",
  };
}

export type JobLook = Readonly<{ status: ProductJobStatus; health: ReturnType<typeof jobHealthOf> }>;

/**
 * Look at the job once. `watchingOutputTopic`: a running product's look, where an output topic that
 * is gone makes the job unhealthy whatever Flink shows (not while provisioning creates the topic).
 */
export async function lookAtJob(
  input: ProductJobInput,
  options: Readonly<{ watchingOutputTopic?: boolean }> = {},
): Promise<JobLook> {
  const status = await jobWatching.describeProductJob(input);
  const outputTopic = options.watchingOutputTopic ? { outputTopic: input.spec.outputTopic.name } : {};
  return {
    status,
    health: jobHealthOf(status, productJobNameOf(input.productId, input.revision), outputTopic),
  };
}

/** Look until the job runs, its trouble is settled (failed, no slot), or the deadline passes. */
export async function waitUntilRunning(input: ProductJobInput): Promise<JobLook> {
  const deadline = Date.now() + RUNNING_DEADLINE_MS;
  for (;;) {
    const look = await lookAtJob(input);
    if (look.health.healthy || look.health.settled || Date.now() >= deadline) return look;
    await wf.sleep('2 seconds');
  }
}

/** Stop the job with a savepoint (the topic and its data stay). */
export function stopJob(input: ProductJobInput): Promise<StopResult> {
  return jobControl.stopProductJob(input);
}

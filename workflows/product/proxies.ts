import * as wf from '@temporalio/workflow';
import type { MeshloopActivities } from '../../activities';
import type { LastError } from '../../src/domain/lifecycle';

/** Every activity a product's workflow calls, typed once: as the worker's factory builds them. */
export type ProductActivities = MeshloopActivities;

// Provisioning retries transient trouble for a few minutes, then the product is `failed` for an operator.
// Each step takes seconds; a short timeout lets a step lost with a killed worker run again soon.
export const provisioning = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});
// Reminders and the dependants check are short and best effort.
export const housekeeping = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});
// The catalog must not stay stale: a descriptor is retried until it lands.
export const catalogPublishing = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
// Who may decide: mesh.yaml read at decision time. A decision waits for it (failing closed).
export const meshReading = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 5 },
});
// The SQL guard before approval: a proposal waits while Flink is unreachable, it is not refused.
export const proposalChecking = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
// The preview and the critic before approval: a Flink batch job over a sample, a few Kafka reads.
// A proposal waits while Flink or Kafka is unreachable (then the approvers are asked without them).
export const proposalReviewing = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});
// Deploying and stopping a job talk to the SQL Gateway and wait for savepoints: minutes, with
// heartbeats, so a step lost with a killed worker is retried within half a minute.
export const jobControl = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 6,
  },
});
// Looking at a job is cheap and repeated by the watch timer: a failed look is just skipped.
export const jobWatching = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

// The proposal's Slack message: 429 and 5xx are retried with backoff; after that the message waits
// for the product's next change. Never on the main loop's path.
export const slackPosting = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 8,
  },
});

// The analysis schedule (Temporal's own): a failed act is tried again on the next pass of the main loop.
export const scheduling = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

// Reading a cycle's stored results opens DuckDB on the results table: seconds.
export const cycleReading = wf.proxyActivities<ProductActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

const nowIso = () => new Date(Date.now()).toISOString();

/** An activity's failure as the product records it. */
export function describeActivityFailure(error: unknown): LastError {
  const at = nowIso();
  // Thrown by the workflow itself to end a stage (e.g. the job failed at once).
  if (error instanceof wf.ApplicationFailure)
    return { type: error.type ?? 'Error', message: error.message, at };
  if (error instanceof wf.ActivityFailure) {
    const cause = error.cause;
    if (cause instanceof wf.ApplicationFailure)
      return { type: cause.type ?? 'Error', message: cause.message, at };
    if (cause instanceof wf.TimeoutFailure) return { type: 'Timeout', message: cause.message, at };
    return { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? error.message, at };
  }
  // Anything else (cancellation, a bug) is not a provisioning outcome: let it fail the task.
  throw error;
}

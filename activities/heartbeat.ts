import { Context } from '@temporalio/activity';

/**
 * Heartbeats for long activities. Each is a no-op outside an activity (scripts, benches and tests
 * call activities directly), so the services they wrap run the same either way.
 */

/** Heartbeat when running as an activity. */
export function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity.
  }
}

/** Heartbeat every few seconds while `work` runs; `step` records what it is doing now. */
export async function heartbeating<T>(
  first: string,
  work: (step: (what: string) => void) => Promise<T>,
): Promise<T> {
  let current = first;
  heartbeat(current);
  const timer = setInterval(() => heartbeat(current), 5_000);
  try {
    return await work((what) => {
      current = what;
    });
  } finally {
    clearInterval(timer);
  }
}

/** The activity's attempt (1 for the first), or undefined outside an activity. */
export function activityAttempt(): number | undefined {
  try {
    return Context.current().info.attempt;
  } catch {
    return undefined;
  }
}

/**
 * The workflow that scheduled this activity: undefined outside an activity (scripts, tests), an
 * empty id for an activity no workflow scheduled.
 */
export function callingWorkflow(): { workflowId: string } | undefined {
  try {
    return { workflowId: Context.current().info.workflowExecution?.workflowId ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * How a product's Flink jobs (its creation job and its Flink materialization) come back after a
 * failure: first Flink restarts them itself (the restart strategy below), and once Flink has given
 * up, or forgot the job (a restarted JobManager), the product's workflow redeploys them from their
 * last retained checkpoint, when the failure was the platform's (see src/domain/job-faults.ts).
 * Plain data, shared by the job SQL of both kinds of job.
 */

/**
 * Flink's exponential-delay restart strategy for every product job: 1 s, 2 s, 4 s, 8 s, then 10 s
 * between attempts (±10 % jitter so jobs do not restart in step), at most 6 attempts in a row
 * (about 35 s), after which the job is FAILED and the workflow takes over with its own, longer
 * backoff (below). A job that ran for 10 minutes since its last failure starts again from 1 s.
 * Flink covers the blips (a TaskManager back within half a minute, a broker leader moving); the
 * workflow covers longer outages, because it can wait for the platform and resubmit a job Flink
 * lost. Giving up matters: a job's own fault (a deleted output topic, a record its SQL cannot take)
 * would otherwise restart forever, and only a settled failure lets the workflow tell the product's
 * own faults from the platform's.
 */
export const productJobRestartStrategy: Readonly<Record<string, string>> = {
  'restart-strategy.type': 'exponential-delay',
  'restart-strategy.exponential-delay.initial-backoff': '1 s',
  'restart-strategy.exponential-delay.backoff-multiplier': '2.0',
  'restart-strategy.exponential-delay.max-backoff': '10 s',
  'restart-strategy.exponential-delay.jitter-factor': '0.1',
  'restart-strategy.exponential-delay.reset-backoff-threshold': '10 min',
  'restart-strategy.exponential-delay.attempts-before-reset-backoff': '6',
};

/**
 * Checkpoints are kept when a job fails or is cancelled (a stop takes a savepoint, and a job lost
 * with its JobManager leaves its last checkpoint on disk): the workflow resumes from them.
 */
export const retainedCheckpoints: Readonly<Record<string, string>> = {
  'execution.checkpointing.externalized-checkpoint-retention': 'RETAIN_ON_CANCELLATION',
};

/** Automatic recoveries of a product in a row (its `recovery` in carried state). */
export type RecoveryRecord = Readonly<{
  /** Attempts since `since` (a success counts too: a job that keeps failing is not recovered forever). */
  attempts: number;
  /** ISO time of the first attempt of this series. */
  since: string;
  /**
   * The checkpoints this series last resumed the job and the table from: used again when the
   * redeployed job failed before it took a checkpoint of its own.
   */
  jobCheckpoint?: string;
  tableCheckpoint?: string;
}>;

/** At most this many automatic redeploys in a series; then the product stays degraded for a person. */
export const MAX_RECOVERY_ATTEMPTS = 8;
/** A series ends (the count starts over) this long after its first attempt. */
export const RECOVERY_SERIES_MS = 60 * 60_000;
const FIRST_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * How long the workflow waits before its next automatic redeploy (a durable workflow timer): 5 s,
 * 10 s, 20 s … doubling to at most 5 minutes. Deterministic: the attempt number alone decides.
 */
export function recoveryBackoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, Math.min(attempts, 20)));
}

/** The series as it stands now: a series older than RECOVERY_SERIES_MS is forgotten. */
export function currentSeries(recovery: RecoveryRecord | undefined, now: number): RecoveryRecord | undefined {
  if (!recovery) return undefined;
  const since = Date.parse(recovery.since);
  return Number.isNaN(since) || now - since > RECOVERY_SERIES_MS ? undefined : recovery;
}

/** The series after one more attempt. */
export function withAttempt(recovery: RecoveryRecord | undefined, now: number): RecoveryRecord {
  const current = currentSeries(recovery, now);
  return current
    ? { ...current, attempts: current.attempts + 1 }
    : { attempts: 1, since: new Date(now).toISOString() };
}

/** May the workflow try once more? */
export function mayRecover(recovery: RecoveryRecord | undefined, now: number): boolean {
  return (currentSeries(recovery, now)?.attempts ?? 0) < MAX_RECOVERY_ATTEMPTS;
}

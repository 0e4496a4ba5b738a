/**
 * How a product's Flink jobs (its creation job and its Flink materialization) come back after a
 * failure: first Flink restarts them itself (the restart strategy below), and once Flink has given
 * up, or forgot the job (a restarted JobManager), the product's workflow redeploys them from their
 * last retained checkpoint, when the failure was the platform's (see src/domain/job-faults.ts).
 * Plain data, shared by the job SQL of both kinds of job.
 */

/**
 * Flink's exponential-delay restart strategy for every product job: 1 s, 2 s, 4 s … doubling up to
 * 1 min between attempts (±10 % jitter so jobs do not restart in step), at most 12 attempts in a row
 * (about 7 minutes), after which the job is FAILED and the workflow takes over. A job that ran for
 * 10 minutes since its last failure starts again from 1 s. Giving up matters: a job's own fault (a
 * deleted output topic, a runtime error of its SQL) would otherwise restart forever, and only a
 * settled failure lets the workflow tell the product's own faults from the platform's.
 */
export const productJobRestartStrategy: Readonly<Record<string, string>> = {
  'restart-strategy.type': 'exponential-delay',
  'restart-strategy.exponential-delay.initial-backoff': '1 s',
  'restart-strategy.exponential-delay.backoff-multiplier': '2.0',
  'restart-strategy.exponential-delay.max-backoff': '1 min',
  'restart-strategy.exponential-delay.jitter-factor': '0.1',
  'restart-strategy.exponential-delay.reset-backoff-threshold': '10 min',
  'restart-strategy.exponential-delay.attempts-before-reset-backoff': '12',
};

/**
 * Checkpoints are kept when a job fails or is cancelled (a stop takes a savepoint, and a job lost
 * with its JobManager leaves its last checkpoint on disk): the workflow resumes from them.
 */
export const retainedCheckpoints: Readonly<Record<string, string>> = {
  'execution.checkpointing.externalized-checkpoint-retention': 'RETAIN_ON_CANCELLATION',
};

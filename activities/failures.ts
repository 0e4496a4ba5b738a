import { ApplicationFailure } from '@temporalio/common';
import { KafkaJSError } from 'kafkajs';
import { MeshloopError } from '../src/domain/errors';

/**
 * The one place where errors become Temporal failures. The failure `type` is what workflows match
 * on; `nonRetryable` comes from the error's own retry bit, so Temporal retries only what can heal.
 */
export function toFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (error instanceof MeshloopError) {
    return ApplicationFailure.create({
      type: error.type,
      message: error.message,
      nonRetryable: !error.retryable,
      details: [...error.details],
      cause: error.cause instanceof Error ? error.cause : undefined,
    });
  }
  if (error instanceof KafkaJSError) {
    return ApplicationFailure.create({
      type: 'KafkaError',
      message: error.message,
      nonRetryable: !error.retriable,
      cause: error,
    });
  }
  return error;
}

/** Wrap every activity of a set so its errors pass through `toFailure`. */
export function translatingFailures<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await activity(...args);
      } catch (error) {
        throw toFailure(error);
      }
    };
  }
  return wrapped as T;
}

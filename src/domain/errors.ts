/**
 * One error family for Meshloop. Each error says whether trying again can help (`retryable`);
 * activities/failures.ts is the one place that turns them into Temporal failures.
 */
export class MeshloopError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly retryable: boolean,
    options: { cause?: unknown; details?: readonly unknown[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = type;
    this.details = options.details ?? [];
  }
  readonly details: readonly unknown[];
}

/** A data product spec (or amendment) that does not validate; `problems` lists each with its path. */
export class InvalidSpecError extends MeshloopError {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super('InvalidSpec', `${message}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, false, {
      details: [problems],
    });
  }
}

/** A governance policy refused the product (naming, required metadata, PII handling, ...). */
export class PolicyDeniedError extends MeshloopError {
  constructor(readonly violations: readonly string[]) {
    super('PolicyDenied', `policy check failed:\n${violations.map((v) => `  - ${v}`).join('\n')}`, false, {
      details: [violations],
    });
  }
}

/** An existing resource (topic, table, schema) conflicts with what the spec asks for. */
export class SchemaIncompatibleError extends MeshloopError {
  constructor(message: string) {
    super('SchemaIncompatible', message, false);
  }
}

/** An existing Kafka topic's settings differ from the spec's; changing them silently would be unsafe. */
export class TopicConfigMismatchError extends MeshloopError {
  constructor(
    readonly topic: string,
    readonly mismatches: readonly string[],
  ) {
    super(
      'TopicConfigMismatch',
      `topic ${topic} exists with other settings: ${mismatches.join('; ')}. ` +
        'Align the spec with the topic, or delete the topic, then retry the product.',
      false,
      { details: [mismatches] },
    );
  }
}

/** The LLM answered with something that does not validate; asking again may help. */
export class LlmOutputInvalidError extends MeshloopError {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super('LlmOutputInvalid', message, true, { details: [problems] });
  }
}

/** A service we depend on is down or overloaded (Kafka, Flink, Iceberg, the LLM API). */
export class UpstreamUnavailableError extends MeshloopError {
  constructor(service: string, message: string, cause?: unknown) {
    super('UpstreamUnavailable', `${service}: ${message}`, true, { cause });
  }
}

import { MeshloopError } from '../domain/errors';

/**
 * Every way a command can fail, each with its exit code (docs/cli.md lists them):
 * 1 refused or failed, 2 bad usage or configuration, 3 the platform (a service or a worker) did not answer.
 */
export const exitCodes = {
  /** A command line the CLI cannot run: an unknown option, a bad value, a file that is not there. */
  usage: 2,
  /** The settings (environment, .env, profile) are invalid. */
  config: 2,
  /** What the command names does not exist (a product, a schedule). */
  'not-found': 1,
  /** The platform answered no: not an approver, the wrong stage, a spec that does not validate. */
  refused: 1,
  /** The command ran and failed (a job, an analysis cycle, anything else). */
  failed: 1,
  /** A service (Temporal, Kafka, the catalog, ...) cannot be reached. */
  unreachable: 3,
  /** No worker polls the task queue, so nothing would answer. */
  'no-worker': 3,
  /** A service or a worker did not answer in time (MESHLOOP_CLI_TIMEOUT). */
  timeout: 3,
} as const;

export type CliErrorKind = keyof typeof exitCodes;

/**
 * A failure the CLI reports: what went wrong (`message`) and what to do about it (`hint`), as
 * `error: <message>` and `hint: <hint>` on stderr, or with `--json` as
 * `{"error": {"type": <kind>, "message", "hint"}}`; the process exits with `exitCodes[kind]`.
 * Any command (in this branch or another) throws it; main.ts prints it.
 */
export class CliError extends MeshloopError {
  readonly kind: CliErrorKind;
  readonly hint?: string;
  constructor(message: string, options: { kind?: CliErrorKind; hint?: string; cause?: unknown } = {}) {
    super('CliError', message, false, { cause: options.cause });
    this.kind = options.kind ?? 'failed';
    if (options.hint !== undefined) this.hint = options.hint;
  }

  get exitCode(): number {
    return exitCodes[this.kind];
  }
}

/** A bad command line: exit 2. */
export const usageError = (message: string, hint?: string) =>
  new CliError(message, { kind: 'usage', ...(hint !== undefined ? { hint } : {}) });

const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

/** Node's system error code (ECONNREFUSED, ENOENT, ...) anywhere in an error's chain of causes. */
function systemCodeOf(error: unknown): { code: string; path?: string } | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, path } = e as { code?: unknown; path?: unknown };
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code))
      return typeof path === 'string' ? { code, path } : { code };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The gRPC status code of a Temporal client error (its own or its cause's). */
export function grpcCodeOf(error: unknown): number | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_CANCELLED = 1;

/**
 * Whether a request run with `deadline` (epoch ms) failed because the deadline passed. The server
 * may reset the stream at the deadline it was sent before the client's own timer fires: that comes
 * as CANCELLED ("Call cancelled"), and the CLI never cancels a request itself.
 */
export function passedDeadline(error: unknown, deadline: number): boolean {
  const code = grpcCodeOf(error);
  return code === GRPC_DEADLINE_EXCEEDED || (code === GRPC_CANCELLED && Date.now() >= deadline - 250);
}
const GRPC_UNAVAILABLE = 14;

const platformHint =
  '`meshloop stack status` shows the local services (`meshloop stack up` starts them); `meshloop doctor` checks every configured endpoint';

const fileProblems: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Any error a command let through, as a CliError: the kinds the CLI knows by class or by code
 * (a file that is not there, a connection refused, a gRPC deadline), the rest as `failed`.
 * Configuration errors are `config`; Meshloop's typed failures keep their type in the message.
 */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'ConfigError')
    return new CliError(messageOf(error).replace(/\nSee \.env\.example\.$/, ''), {
      kind: 'config',
      hint: '`meshloop config` shows every setting and where it came from; docs/configuration.md and .env.example describe them',
    });
  if (/Unknown encoding: binary\/encrypted/.test(messageOf(error)))
    return new CliError('workflow data here is encrypted and this CLI has no key to read it', {
      kind: 'config',
      hint: 'set MESHLOOP_PAYLOAD_KEYS to the keys the worker uses (see .env.example), then run it again',
    });
  if (error instanceof MeshloopError)
    return new CliError(`${error.type}: ${error.message}`, {
      kind: error.type === 'InvalidSpec' || error.type === 'PolicyDenied' ? 'refused' : 'failed',
      cause: error,
    });
  return (
    connectionError(error) ??
    fileError(error) ??
    new CliError(`${messageOf(error)}${grpcDetailOf(error)}`, {
      kind: 'failed',
      hint: '`meshloop doctor` checks every endpoint; MESHLOOP_LOG_LEVEL=debug says more',
      cause: error,
    })
  );
}

/** ` (gRPC status <code>: <details>)` when a Temporal client error wraps one: the raw status says more than "Failed to …". */
function grpcDetailOf(error: unknown): string {
  const code = grpcCodeOf(error);
  if (code === undefined) return '';
  const details = (error as { cause?: { details?: unknown } } | null)?.cause?.details;
  return ` (gRPC status ${code}${typeof details === 'string' && details !== '' ? `: ${details}` : ''})`;
}

/** A file the command line named that cannot be read: a usage mistake. */
function fileError(error: unknown): CliError | undefined {
  const system = systemCodeOf(error);
  const problem = system ? fileProblems[system.code] : undefined;
  if (!problem || !system?.path) return undefined;
  return new CliError(`cannot read ${system.path}: ${problem}`, {
    kind: 'usage',
    hint: 'check the path (relative paths are from the current directory)',
  });
}

/** A service that refused the connection or did not answer (a socket error, gRPC, kafkajs). */
function connectionError(error: unknown): CliError | undefined {
  const system = systemCodeOf(error);
  if (system && unreachableCodes.has(system.code))
    return new CliError(`a service could not be reached (${system.code}: ${messageOf(error)})`, {
      kind: 'unreachable',
      hint: platformHint,
    });
  const grpc = grpcCodeOf(error);
  if (grpc === GRPC_UNAVAILABLE)
    return new CliError(`Temporal could not be reached (${messageOf(error)})`, {
      kind: 'unreachable',
      hint: platformHint,
    });
  if (grpc === GRPC_DEADLINE_EXCEEDED)
    return new CliError(`Temporal did not answer in time (${messageOf(error)})`, {
      kind: 'timeout',
      hint: `is a worker running? \`meshloop worker\` starts one; ${platformHint}`,
    });
  const name = (error as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && name.startsWith('KafkaJS') && /connect/i.test(messageOf(error)))
    return new CliError(`Kafka could not be reached (${messageOf(error)})`, {
      kind: 'unreachable',
      hint: `check MESHLOOP_KAFKA_BROKERS; ${platformHint}`,
    });
  return undefined;
}

/** The JSON envelope of an error (`--json`): one object, one line, on stderr. */
export function errorEnvelope(error: CliError): {
  error: { type: CliErrorKind; message: string; hint: string | null };
} {
  return { error: { type: error.kind, message: error.message, hint: error.hint ?? null } };
}

/** An error as the CLI prints it: the JSON envelope (`--json`) or `error: …` and `hint: …` lines. */
export function formatError(error: CliError, json: boolean): string {
  if (json) return `${JSON.stringify(errorEnvelope(error))}\n`;
  return `error: ${error.message}\n${error.hint !== undefined ? `hint: ${error.hint}\n` : ''}`;
}

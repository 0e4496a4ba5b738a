import { MeshloopError } from '../../domain/errors';

/**
 * Flink answered an HTTP request with an error, or could not be reached. Connection failures,
 * timeouts, 408, 429 and 5xx can pass on a retry; other 4xx cannot.
 */
export class FlinkRequestError extends MeshloopError {
  constructor(
    readonly api: 'sql-gateway' | 'rest',
    readonly method: string,
    readonly url: string,
    /** HTTP status, or undefined when no answer came (refused, reset, timed out). */
    readonly status: number | undefined,
    /** Flink's own words: the first line of each entry of its `errors` array. */
    readonly flinkMessage: string,
    options: { cause?: unknown; serverTrace?: string } = {},
  ) {
    super(
      status === undefined ? 'FlinkUnavailable' : 'FlinkRequestFailed',
      `Flink ${api === 'rest' ? 'REST API' : 'SQL Gateway'} ${method} ${url} ${
        status === undefined ? 'got no answer' : `answered ${status}`
      }: ${flinkMessage}`,
      status === undefined || status === 408 || status === 429 || status >= 500,
      { cause: options.cause, details: options.serverTrace ? [options.serverTrace] : [] },
    );
    this.serverTrace = options.serverTrace;
  }
  /** The server-side Java stack trace, when Flink sent one. */
  readonly serverTrace: string | undefined;
}

/**
 * A statement failed inside Flink: parse or validation errors, a missing table or connector, a job
 * that could not be submitted. `flinkMessage` is Flink's most specific explanation, e.g.
 * `ValidationException: SQL validation failed. From line 1, column 15 ...: Object 'orders' not found`.
 * Not retryable, unless the cause chain shows a connection problem or missing resources.
 */
export class FlinkStatementError extends MeshloopError {
  constructor(
    readonly statement: string,
    readonly flinkMessage: string,
    /** Every exception in Flink's cause chain, outermost first (`Class: message`). */
    readonly causes: readonly string[],
    retryable: boolean,
    readonly serverTrace?: string,
  ) {
    super(
      'FlinkStatementFailed',
      `Flink rejected the statement: ${flinkMessage}\n  statement: ${oneLine(statement)}`,
      retryable,
      {
        details: [causes],
      },
    );
  }
}

const oneLine = (text: string, max = 300) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
};

/** Exceptions whose presence in the cause chain means trying again later can help. */
const transientCause =
  /(java\.net\.(ConnectException|SocketTimeoutException|NoRouteToHostException)|java\.util\.concurrent\.TimeoutException|NoResourceAvailableException|org\.apache\.kafka\.common\.errors\.TimeoutException)/;

/** Wrappers the gateway puts around the real error; they say nothing about the statement. */
const wrapperClass =
  /^org\.apache\.flink\.table\.gateway\.|^org\.apache\.flink\.runtime\.rest\.handler\.RestHandlerException$|^java\.util\.concurrent\.(ExecutionException|CompletionException)$/;

const exceptionLine =
  /^(?:Caused by: )?([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?:Exception|Error|Throwable))(?:: (.*))?$/;

/**
 * Read the cause chain out of a Java stack trace as the gateway sends it, and pick the most useful
 * message: the outermost exception that is not one of the gateway's own wrappers.
 */
export function explainServerTrace(trace: string): {
  message: string;
  causes: string[];
  transient: boolean;
} {
  const chain: Array<{ className: string; message: string }> = [];
  for (const rawLine of trace.split('\n')) {
    const line = rawLine.replace(/^<Exception on server side:/, '').trim();
    const match = exceptionLine.exec(line);
    if (match)
      chain.push({ className: match[1]!, message: (match[2] ?? '').replace(/\s*server side>$/, '') });
  }
  const simple = (className: string) => className.slice(className.lastIndexOf('.') + 1);
  const causes = chain.map(({ className, message }) => `${className}: ${message}`);
  const at = chain.findIndex(({ className }) => !wrapperClass.test(className));
  const useful = chain[at] ?? chain.at(-1);
  // A message that ends in a colon ("Invalid function call:") continues with its cause's: join them.
  let detail = useful?.message ?? '';
  for (let next = at + 1; at >= 0 && next < chain.length && /(^|:)$/.test(detail.trim()); next++) {
    const more = chain[next]!.message.trim();
    if (more) detail = `${detail.trim()} ${more}`.trim();
  }
  const message = useful
    ? `${simple(useful.className)}: ${detail}`
    : (trace.split('\n').find((line) => line.trim() !== '') ?? 'unknown error').trim();
  return { message, causes, transient: transientCause.test(trace) };
}

import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log';
import type { RunEvent } from './events';

/**
 * Where OpenLineage events go: an HTTP endpoint that takes them as Marquez does (`POST
 * .../api/v1/lineage`, one event per request, optional Bearer key), or a file of one JSON event per
 * line (appended). Sending never throws: a failure is retried a few times, then logged and counted,
 * and the product goes on.
 */
export interface LineageTransport {
  send(event: RunEvent): Promise<boolean>;
  /** Events delivered and events given up on since the worker started. */
  readonly counts: Readonly<{ sent: number; failed: number }>;
}

export type TransportOptions = Readonly<{
  log: Logger;
  /** Attempts per event (first try included). */
  attempts?: number;
  /** Wait before the second attempt; doubled after each. */
  backoffMs?: number;
  /** Per request. */
  timeoutMs?: number;
}>;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** 408, 429 and 5xx may pass on a later try; another 4xx will not. */
const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

abstract class RetryingTransport implements LineageTransport {
  readonly counts = { sent: 0, failed: 0 };
  protected readonly attempts: number;
  protected readonly backoffMs: number;
  protected readonly timeoutMs: number;

  constructor(protected readonly options: TransportOptions) {
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.backoffMs = options.backoffMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** One try: resolves when delivered; rejects with `retryable` set when another try may help. */
  protected abstract deliver(event: RunEvent): Promise<void>;
  protected abstract get target(): string;

  async send(event: RunEvent): Promise<boolean> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        await this.deliver(event);
        this.counts.sent++;
        return true;
      } catch (error) {
        last = error;
        if ((error as { retryable?: boolean }).retryable === false || attempt === this.attempts) break;
        await delay(this.backoffMs * 2 ** (attempt - 1));
      }
    }
    this.counts.failed++;
    this.options.log.warn('OpenLineage event not delivered; the product goes on without it', {
      target: this.target,
      eventType: event.eventType,
      job: event.job.name,
      runId: event.run.runId,
      error: last instanceof Error ? last.message : String(last),
      failed: this.counts.failed,
    });
    return false;
  }
}

class TransportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** POST each event as JSON to the endpoint (`MESHLOOP_OPENLINEAGE_URL`, e.g. Marquez's `/api/v1/lineage`). */
export class HttpLineageTransport extends RetryingTransport {
  constructor(
    private readonly url: string,
    private readonly apiKey: string | undefined,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected get target(): string {
    // The URL's origin and path only: never a query string or credentials in a log line.
    const parsed = new URL(this.url);
    return `${parsed.origin}${parsed.pathname}`;
  }

  protected async deliver(event: RunEvent): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new TransportError(`could not reach ${this.target}: ${(error as Error).message}`, true);
    }
    // The body is not needed; reading a bounded piece of it frees the connection and explains a refusal.
    const text = (await response.text().catch(() => '')).slice(0, 300);
    if (response.ok) return;
    throw new TransportError(
      `${this.target} answered ${response.status}${text ? `: ${text}` : ''}`,
      retryableStatus(response.status),
    );
  }
}

/** Append each event as one line of JSON to a file (`MESHLOOP_OPENLINEAGE_FILE`). */
export class FileLineageTransport extends RetryingTransport {
  private ready: Promise<unknown> | undefined;
  /** Appends in order, one at a time: lines never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    options: TransportOptions,
  ) {
    super(options);
  }

  protected get target(): string {
    return this.file;
  }

  protected deliver(event: RunEvent): Promise<void> {
    // Made once; a failure (a read-only disk, say) is tried again with the next event.
    this.ready ??= fsp.mkdir(path.dirname(this.file), { recursive: true }).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    const line = `${JSON.stringify(event)}\n`;
    const append = this.queue.then(async () => {
      await this.ready;
      await fsp.appendFile(this.file, line, 'utf8');
    });
    this.queue = append.catch(() => undefined);
    return append;
  }
}

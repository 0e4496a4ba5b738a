import { scrubSecrets } from '../../domain/flink-types';
import type { Logger } from '../../log';
import { explainServerTrace, FlinkRequestError, FlinkStatementError } from './errors';
import { flinkRequest } from './http';
import type { HttpMethod } from './http';

/**
 * A typed client for the Flink SQL Gateway REST API, version 3 (Flink 1.20): sessions with heartbeat,
 * statements, operation status, paged results, cancel and close.
 * https://nightlies.apache.org/flink/flink-docs-release-1.20/docs/dev/table/sql-gateway/rest/
 */

export type OperationStatus =
  'INITIALIZED' | 'PENDING' | 'RUNNING' | 'FINISHED' | 'CANCELED' | 'CLOSED' | 'ERROR' | 'TIMEOUT';

export type ResultColumn = Readonly<{
  name: string;
  logicalType: Readonly<{ type: string; nullable: boolean } & Record<string, unknown>>;
  comment: string | null;
}>;

/** A row as the gateway sends it with `rowFormat=JSON`; `kind` is the changelog kind. */
export type RawRow = Readonly<{
  kind: 'INSERT' | 'UPDATE_BEFORE' | 'UPDATE_AFTER' | 'DELETE';
  fields: unknown[];
}>;

type FetchResultsResponse = Readonly<{
  resultType: 'NOT_READY' | 'PAYLOAD' | 'EOS';
  isQueryResult?: boolean;
  jobID?: string;
  resultKind?: 'SUCCESS' | 'SUCCESS_WITH_CONTENT';
  results?: Readonly<{ columns?: ResultColumn[]; rowFormat?: string; data?: RawRow[] }>;
  nextResultUri?: string;
}>;

export type ResultPage = Readonly<{
  columns: readonly ResultColumn[];
  rows: readonly RawRow[];
  jobId?: string;
  resultKind?: 'SUCCESS' | 'SUCCESS_WITH_CONTENT';
  isQueryResult: boolean;
}>;

export type StatementResult = Readonly<{
  operationHandle: string;
  columns: readonly ResultColumn[];
  /** Each row as an object keyed by column name (changelog kind dropped; see `rawRows`). */
  rows: ReadonlyArray<Record<string, unknown>>;
  rawRows: readonly RawRow[];
  /** The Flink job the statement started, if it started one (INSERT, SELECT). */
  jobId?: string;
  resultKind?: 'SUCCESS' | 'SUCCESS_WITH_CONTENT';
}>;

export type StatementOptions = Readonly<{
  /** Flink settings for this statement only, e.g. `{ 'execution.runtime-mode': 'batch' }`. */
  executionConfig?: Readonly<Record<string, string>>;
  /** How long to wait for the whole result before giving up (and cancelling). Default 60 s. */
  timeoutMs?: number;
}>;

export type SqlGatewayClientOptions = Readonly<{
  /** e.g. http://127.0.0.1:8083 (config.flink.sqlGatewayUrl) */
  url: string;
  log?: Logger;
  /** Per HTTP request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Sent with every request (config.flink.headers: a gateway behind a proxy). */
  headers?: Readonly<Record<string, string>>;
  /**
   * Values the statements carry that must not leave the session (secretValuesOf(config.flink)):
   * every error this client throws has them replaced by `****`, statement text and Flink's trace too.
   */
  secrets?: readonly string[];
}>;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SqlGatewayClient {
  private readonly base: string;
  constructor(private readonly options: SqlGatewayClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** @internal shared by sessions */
  async request<T>(method: HttpMethod, pathOrUri: string, body?: unknown): Promise<T> {
    const url = pathOrUri.startsWith('/') ? `${this.base}${pathOrUri}` : `${this.base}/v3/${pathOrUri}`;
    try {
      return await flinkRequest<T>('sql-gateway', method, url, {
        body,
        timeoutMs: this.options.requestTimeoutMs,
        headers: this.options.headers,
      });
    } catch (error) {
      if (!(error instanceof FlinkRequestError) || !this.options.secrets?.length) throw error;
      throw new FlinkRequestError(
        error.api,
        error.method,
        error.url,
        error.status,
        this.scrub(error.flinkMessage),
        {
          ...(error.serverTrace ? { serverTrace: this.scrub(error.serverTrace) } : {}),
        },
      );
    }
  }

  /** The text without the secrets this client was given. */
  scrub(text: string): string {
    return this.options.secrets?.length ? scrubSecrets(text, this.options.secrets) : text;
  }

  get log(): Logger | undefined {
    return this.options.log;
  }

  info(): Promise<{ productName: string; version: string }> {
    return this.request('GET', 'info');
  }

  /**
   * Open a session. Sessions idle out after `sql-gateway.session.idle-timeout` (10 min by default);
   * unless `heartbeatIntervalMs` is `false`, the session heartbeats itself every minute until closed.
   */
  async openSession(
    options: {
      name?: string;
      properties?: Readonly<Record<string, string>>;
      heartbeatIntervalMs?: number | false;
    } = {},
  ): Promise<SqlGatewaySession> {
    const { sessionHandle } = await this.request<{ sessionHandle: string }>('POST', 'sessions', {
      sessionName: options.name,
      properties: options.properties ?? {},
    });
    const session = new SqlGatewaySession(this, sessionHandle);
    if (options.heartbeatIntervalMs !== false) session.startHeartbeat(options.heartbeatIntervalMs ?? 60_000);
    this.log?.debug('sql gateway session opened', { sessionHandle, name: options.name });
    return session;
  }

  /** Attach to a session opened earlier (e.g. by a previous attempt of an activity). */
  session(sessionHandle: string): SqlGatewaySession {
    return new SqlGatewaySession(this, sessionHandle);
  }
}

export class SqlGatewaySession {
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: SqlGatewayClient,
    readonly handle: string,
  ) {}

  private path(rest = ''): string {
    return `sessions/${this.handle}${rest}`;
  }

  heartbeat(): Promise<void> {
    return this.client.request('POST', this.path('/heartbeat'));
  }

  /** Heartbeat on a timer that does not keep the process alive; failures are logged, not thrown. */
  startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.heartbeat().catch((error: unknown) =>
        this.client.log?.warn('sql gateway heartbeat failed', { sessionHandle: this.handle, error }),
      );
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** The session's current Flink settings. */
  async properties(): Promise<Record<string, string>> {
    const body = await this.client.request<{ properties: Record<string, string> }>('GET', this.path());
    return body.properties;
  }

  /**
   * Change the session itself (SET, RESET, CREATE/USE CATALOG, CREATE TEMPORARY TABLE, ADD JAR ...):
   * synchronous, no operation handle. SQL errors come back as `FlinkStatementError`.
   */
  async configure(statement: string): Promise<void> {
    try {
      await this.client.request('POST', this.path('/configure-session'), { statement });
    } catch (error) {
      throw toStatementError(this.client.scrub(statement), error);
    }
  }

  /** Submit a statement; it runs asynchronously. Returns the operation handle. */
  async submit(statement: string, options: Pick<StatementOptions, 'executionConfig'> = {}): Promise<string> {
    const { operationHandle } = await this.client.request<{ operationHandle: string }>(
      'POST',
      this.path('/statements'),
      { statement, executionConfig: options.executionConfig },
    );
    this.client.log?.debug('flink statement submitted', { sessionHandle: this.handle, operationHandle });
    return operationHandle;
  }

  async status(operationHandle: string): Promise<OperationStatus> {
    const { status } = await this.client.request<{ status: OperationStatus }>(
      'GET',
      this.path(`/operations/${operationHandle}/status`),
    );
    return status;
  }

  /**
   * Page through an operation's results, following `nextResultUri` until end of stream. While the
   * gateway has nothing yet (NOT_READY) it polls with a growing pause, up to `deadline` (epoch ms).
   * A streaming query never ends: stop iterating when you have what you need, then cancel.
   */
  async *results(
    operationHandle: string,
    statement: string,
    deadline = Date.now() + 60_000,
  ): AsyncGenerator<ResultPage> {
    let next: string | undefined =
      `/v3/${this.path(`/operations/${operationHandle}/result/0`)}?rowFormat=JSON`;
    let columns: readonly ResultColumn[] = [];
    let jobId: string | undefined;
    let pause = 50;
    while (next) {
      let page: FetchResultsResponse;
      try {
        page = await this.client.request<FetchResultsResponse>('GET', next);
      } catch (error) {
        throw await this.explainFailure(operationHandle, statement, error);
      }
      if (page.resultType === 'EOS') return;
      jobId ??= page.jobID;
      if (page.resultType === 'NOT_READY') {
        if (Date.now() + pause > deadline) {
          throw new FlinkRequestError(
            'sql-gateway',
            'GET',
            next,
            408,
            `no result within the deadline (operation ${operationHandle} still running)`,
          );
        }
        await delay(pause);
        pause = Math.min(pause * 2, 1000);
      } else {
        pause = 50;
        columns = page.results?.columns ?? columns;
        yield {
          columns,
          rows: page.results?.data ?? [],
          jobId,
          resultKind: page.resultKind,
          isQueryResult: page.isQueryResult ?? false,
        };
      }
      next = page.nextResultUri;
    }
  }

  /**
   * Run a statement to completion and collect every row: DDL, a batch query, or an INSERT (whose
   * result is the id of the job it started; a streaming INSERT keeps running after this returns).
   * On timeout the operation is cancelled.
   */
  async execute(statement: string, options: StatementOptions = {}): Promise<StatementResult> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const operationHandle = await this.submit(statement, options);
    const rawRows: RawRow[] = [];
    let columns: readonly ResultColumn[] = [];
    let jobId: string | undefined;
    let resultKind: StatementResult['resultKind'];
    try {
      for await (const page of this.results(operationHandle, statement, deadline)) {
        columns = page.columns;
        jobId ??= page.jobId;
        resultKind ??= page.resultKind;
        rawRows.push(...page.rows);
      }
    } catch (error) {
      if (error instanceof FlinkRequestError && error.status === 408) {
        await this.cancel(operationHandle).catch(() => undefined);
      }
      throw error;
    }
    await this.closeOperation(operationHandle).catch(() => undefined);
    const names = columns.map((column) => column.name);
    const rows = rawRows.map((row) => Object.fromEntries(names.map((name, i) => [name, row.fields[i]])));
    // An INSERT reports its job id as its one row; surface it like a query's jobID.
    if (!jobId && names.length === 1 && names[0] === 'job id')
      jobId = rows[0]?.['job id'] as string | undefined;
    return { operationHandle, columns, rows, rawRows, jobId, resultKind };
  }

  /**
   * Stop an operation. One still running (planning, or a long DDL) is cancelled. A query whose job is
   * already running counts as FINISHED for the gateway, which refuses to cancel it; closing it stops
   * its result fetcher and cancels the job, so that is what this does. Returns the final status.
   * (A streaming INSERT's job is independent of its operation: cancel it with the Flink REST client.)
   */
  async cancel(operationHandle: string): Promise<OperationStatus> {
    if ((await this.status(operationHandle)) === 'FINISHED')
      return (await this.closeOperation(operationHandle)).status;
    const { status } = await this.client.request<{ status: OperationStatus }>(
      'POST',
      this.path(`/operations/${operationHandle}/cancel`),
    );
    return status;
  }

  closeOperation(operationHandle: string): Promise<{ status: OperationStatus }> {
    return this.client.request('DELETE', this.path(`/operations/${operationHandle}/close`));
  }

  /** Close the session (and stop its heartbeat). Jobs it started keep running: cancel them first. */
  async close(): Promise<void> {
    this.stopHeartbeat();
    await this.client.request('DELETE', this.path());
  }

  /**
   * A failed result fetch is a SQL problem when the operation is in ERROR: then Flink's message is
   * what the caller needs, as a statement error. Otherwise it is a transport problem, passed on.
   */
  private async explainFailure(operationHandle: string, statement: string, error: unknown): Promise<unknown> {
    if (!(error instanceof FlinkRequestError) || !error.serverTrace) return error;
    const status = await this.status(operationHandle).catch(() => undefined);
    if (status !== 'ERROR') return error;
    return toStatementError(this.client.scrub(statement), error);
  }
}

function toStatementError(statement: string, error: unknown): unknown {
  if (!(error instanceof FlinkRequestError) || !error.serverTrace) return error;
  const { message, causes, transient } = explainServerTrace(error.serverTrace);
  return new FlinkStatementError(statement, message, causes, transient, error.serverTrace);
}

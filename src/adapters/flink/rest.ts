import { FlinkRequestError } from './errors';
import { flinkRequest } from './http';
import type { HttpMethod } from './http';

/**
 * A typed client for the parts of the Flink REST API (JobManager, port 8081) Meshloop uses: the
 * cluster overview, jobs, cancel, and stop with a savepoint.
 * https://nightlies.apache.org/flink/flink-docs-release-1.20/docs/ops/rest_api/
 */

export type JobState =
  | 'INITIALIZING'
  | 'CREATED'
  | 'RUNNING'
  | 'FAILING'
  | 'FAILED'
  | 'CANCELLING'
  | 'CANCELED'
  | 'FINISHED'
  | 'RESTARTING'
  | 'SUSPENDED'
  | 'RECONCILING';

/** States a job never leaves. */
export const terminalJobStates: readonly JobState[] = ['FAILED', 'CANCELED', 'FINISHED', 'SUSPENDED'];

export type ClusterOverview = Readonly<{
  taskmanagers: number;
  'slots-total': number;
  'slots-available': number;
  'jobs-running': number;
  'flink-version': string;
}>;

export type JobSummary = Readonly<{
  jid: string;
  name: string;
  state: JobState;
  'start-time': number;
  'end-time': number;
  duration: number;
}>;

export type JobVertex = Readonly<{
  id: string;
  name: string;
  parallelism: number;
  status: string;
  metrics?: Readonly<Record<string, number | boolean>>;
}>;

export type JobDetail = JobSummary &
  Readonly<{
    isStoppable: boolean;
    'job-type'?: 'BATCH' | 'STREAMING';
    vertices: readonly JobVertex[];
    timestamps: Readonly<Partial<Record<JobState, number>>>;
  }>;

export type JobExceptions = Readonly<{
  'root-exception'?: string | null;
  timestamp?: number | null;
  exceptionHistory?: Readonly<{
    entries: ReadonlyArray<Readonly<{ exceptionName: string; stacktrace: string; timestamp: number }>>;
    truncated: boolean;
  }>;
}>;

export type SavepointResult = Readonly<{ location: string }>;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FlinkRestClient {
  private readonly base: string;
  constructor(
    private readonly options: Readonly<{
      url: string;
      requestTimeoutMs?: number;
      /** Sent with every request (config.flink.headers). */
      headers?: Readonly<Record<string, string>>;
    }>,
  ) {
    this.base = options.url.replace(/\/+$/, '');
  }

  private request<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
    return flinkRequest<T>('rest', method, `${this.base}${path}`, {
      body,
      timeoutMs: this.options.requestTimeoutMs,
      headers: this.options.headers,
    });
  }

  overview(): Promise<ClusterOverview> {
    return this.request('GET', '/overview');
  }

  async listJobs(): Promise<JobSummary[]> {
    const { jobs } = await this.request<{ jobs: JobSummary[] }>('GET', '/jobs/overview');
    return jobs;
  }

  job(jobId: string): Promise<JobDetail> {
    return this.request('GET', `/jobs/${jobId}`);
  }

  /** The job's failure, if it failed: Flink's root exception, or undefined. */
  async rootException(jobId: string): Promise<string | undefined> {
    const body = await this.request<{ 'root-exception'?: string | null }>('GET', `/jobs/${jobId}/exceptions`);
    return body['root-exception'] ?? undefined;
  }

  /** The job's exceptions: the root exception and the history of failures (newest first). */
  exceptions(jobId: string): Promise<JobExceptions> {
    return this.request('GET', `/jobs/${jobId}/exceptions?maxExceptions=10`);
  }

  /** Job-level metrics by name (e.g. `numRestarts`); metrics Flink does not know are left out. */
  async jobMetrics(jobId: string, names: readonly string[]): Promise<Record<string, number>> {
    const metrics = await this.request<Array<{ id: string; value: string }>>(
      'GET',
      `/jobs/${jobId}/metrics?get=${names.map(encodeURIComponent).join(',')}`,
    );
    return Object.fromEntries(metrics.map((metric) => [metric.id, Number(metric.value)]));
  }

  /** The ids of every metric a job vertex's subtasks report (operator metrics included). */
  async vertexMetricIds(jobId: string, vertexId: string): Promise<string[]> {
    const metrics = await this.request<Array<{ id: string }>>(
      'GET',
      `/jobs/${jobId}/vertices/${vertexId}/subtasks/metrics`,
    );
    return metrics.map((metric) => metric.id);
  }

  /** These metrics of a job vertex, summed over its subtasks; ones Flink does not know are left out. */
  async vertexMetricSums(
    jobId: string,
    vertexId: string,
    ids: readonly string[],
  ): Promise<Record<string, number>> {
    if (ids.length === 0) return {};
    const metrics = await this.request<Array<{ id: string; sum?: number }>>(
      'GET',
      `/jobs/${jobId}/vertices/${vertexId}/subtasks/metrics?get=${ids.map(encodeURIComponent).join(',')}&agg=sum`,
    );
    return Object.fromEntries(
      metrics.filter((m) => typeof m.sum === 'number').map((m) => [m.id, m.sum as number]),
    );
  }

  /** Where the job's newest completed checkpoint was kept (retained ones only), if any. */
  async latestCheckpointPath(jobId: string): Promise<string | undefined> {
    const body = await this.request<{
      latest?: { completed?: { external_path?: string; is_savepoint?: boolean } | null };
    }>('GET', `/jobs/${jobId}/checkpoints`);
    const path = body.latest?.completed?.external_path;
    return path && path !== '<checkpoint-not-externally-addressable>' ? path : undefined;
  }

  /** The JobManager's configuration (key → value), e.g. where checkpoints are kept. */
  async clusterConfig(): Promise<Record<string, string>> {
    const entries = await this.request<Array<{ key: string; value: string }>>('GET', '/jobmanager/config');
    return Object.fromEntries(entries.map(({ key, value }) => [key, value]));
  }

  /** Ask Flink to cancel the job (no savepoint). Cancelling a finished job is a no-op. */
  async cancelJob(jobId: string): Promise<void> {
    try {
      await this.request('PATCH', `/jobs/${jobId}?mode=cancel`);
    } catch (error) {
      // Flink answers 409 "Job ... is not in a cancellable state" once it already ended: fine.
      if (error instanceof FlinkRequestError && error.status === 409) return;
      throw error;
    }
  }

  /**
   * Stop a streaming job gracefully with a savepoint (`POST /jobs/{id}/stop`) and wait until the
   * savepoint is written. `drain` emits end-of-input (MAX_WATERMARK) before stopping, for jobs that
   * will not be resumed. Without `targetDirectory` the cluster's `execution.checkpointing.savepoint-dir`
   * is used. Returns where the savepoint is, to resume from it.
   */
  async stopWithSavepoint(
    jobId: string,
    options: { targetDirectory?: string; drain?: boolean; timeoutMs?: number } = {},
  ): Promise<SavepointResult> {
    const { 'request-id': triggerId } = await this.request<{ 'request-id': string }>(
      'POST',
      `/jobs/${jobId}/stop`,
      {
        targetDirectory: options.targetDirectory,
        drain: options.drain ?? false,
      },
    );
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const body = await this.request<{
        status: { id: 'IN_PROGRESS' | 'COMPLETED' };
        operation?: { location?: string; 'failure-cause'?: { class?: string; 'stack-trace'?: string } };
      }>('GET', `/jobs/${jobId}/savepoints/${triggerId}`);
      if (body.status.id === 'COMPLETED') {
        const failure = body.operation?.['failure-cause'];
        if (failure || !body.operation?.location) {
          const trace = failure?.['stack-trace'] ?? '';
          throw new FlinkRequestError(
            'rest',
            'POST',
            `${this.base}/jobs/${jobId}/stop`,
            500,
            `stop with savepoint failed: ${trace.split('\n')[0] ?? failure?.class ?? 'no location'}`,
            { serverTrace: trace },
          );
        }
        return { location: body.operation.location };
      }
      if (Date.now() > deadline) {
        throw new FlinkRequestError(
          'rest',
          'GET',
          `${this.base}/jobs/${jobId}/savepoints/${triggerId}`,
          408,
          'savepoint not complete before the deadline',
        );
      }
      await delay(250);
    }
  }

  /** Poll until the job is in one of `states` (or has ended otherwise); returns the detail seen last. */
  async waitForJobState(
    jobId: string,
    states: readonly JobState[],
    options: { timeoutMs?: number } = {},
  ): Promise<JobDetail> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const detail = await this.job(jobId);
      if (states.includes(detail.state) || terminalJobStates.includes(detail.state)) return detail;
      if (Date.now() > deadline) {
        throw new FlinkRequestError(
          'rest',
          'GET',
          `${this.base}/jobs/${jobId}`,
          408,
          `job still ${detail.state}, not ${states.join(' or ')}, at the deadline`,
        );
      }
      await delay(250);
    }
  }
}

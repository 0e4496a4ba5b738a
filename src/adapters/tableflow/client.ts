import { z } from 'zod';
import { MeshloopError } from '../../domain/errors';

/**
 * A small client for Confluent Cloud's Tableflow API (`/tableflow/v1/tableflow-topics`): enable
 * Tableflow on a topic, describe it, update its settings, disable it. Authenticated with a Confluent
 * Cloud API key and secret (HTTP basic auth); every call names the environment and Kafka cluster.
 * https://docs.confluent.io/cloud/current/api.html#tag/Tableflow-Topics-(tableflowv1)
 */

export type TableflowClientOptions = Readonly<{
  /** https://api.confluent.cloud, or a fake on 127.0.0.1 in tests. */
  apiUrl: string;
  apiKey: string;
  apiSecret: string;
  environmentId: string;
  kafkaClusterId: string;
  requestTimeoutMs?: number;
}>;

export const tableflowErrorModes = ['SUSPEND', 'SKIP', 'LOG'] as const;

export type TableflowTopicConfig = Readonly<{
  /** Snapshot retention, milliseconds as a string (Tableflow's default 604800000, 7 days). */
  retention_ms?: string;
  error_handling?: Readonly<{ mode: (typeof tableflowErrorModes)[number]; log_target?: string }>;
}>;

// Answers are untrusted input: parsed, with only the fields we use required.
const tableflowTopicSchema = z.looseObject({
  api_version: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({ self: z.string().optional(), resource_name: z.string().optional() }).optional(),
  spec: z.looseObject({
    display_name: z.string(),
    suspended: z.boolean().optional(),
    table_formats: z.array(z.string()).optional(),
    config: z.looseObject({ retention_ms: z.string().optional() }).optional(),
    environment: z.looseObject({ id: z.string() }).optional(),
    kafka_cluster: z.looseObject({ id: z.string() }).optional(),
  }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      write_mode: z.string().optional(),
      error_message: z.string().optional(),
    })
    .optional(),
});
export type TableflowTopic = z.infer<typeof tableflowTopicSchema>;

/**
 * Confluent answered with an error. 401/403 say the key is wrong or lacks access: no retry can fix
 * that. 408, 429 and 5xx (and no answer at all) are retryable; other 4xx are not.
 */
export class TableflowRequestError extends MeshloopError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number | undefined,
    readonly detail: string,
    cause?: unknown,
  ) {
    const retryable = status === undefined || status === 408 || status === 429 || status >= 500;
    super(
      status === 401 || status === 403
        ? 'TableflowUnauthorized'
        : retryable
          ? 'TableflowUnavailable'
          : 'TableflowRequestFailed',
      status === 401
        ? `Confluent Cloud rejected the API key for ${method} ${path} (401 Unauthorized): check CONFLUENT_CLOUD_API_KEY and CONFLUENT_CLOUD_API_SECRET${detail ? ` (${detail})` : ''}`
        : status === 403
          ? `the Confluent Cloud API key may not use Tableflow in this environment/cluster (403 Forbidden): ${detail}`
          : `Tableflow ${method} ${path} ${status === undefined ? 'got no answer' : `answered ${status}`}: ${detail}`,
      retryable,
      { cause },
    );
  }
}

export class TableflowClient {
  private readonly base: string;
  private readonly authorization: string;

  constructor(private readonly options: TableflowClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${options.apiKey}:${options.apiSecret}`).toString('base64')}`;
  }

  private scope(): string {
    return new URLSearchParams({
      environment: this.options.environmentId,
      'spec.kafka_cluster': this.options.kafkaClusterId,
    }).toString();
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
      });
    } catch (error) {
      const reason = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new TableflowRequestError(method, path.split('?')[0]!, undefined, String(reason), error);
    }
    const text = (await response.text()).slice(0, 1_000_000);
    if (!response.ok) {
      throw new TableflowRequestError(
        method,
        path.split('?')[0]!,
        response.status,
        errorDetail(text, response.statusText),
      );
    }
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new TableflowRequestError(
        method,
        path,
        response.status,
        `answer is not JSON: ${text.slice(0, 200)}`,
        error,
      );
    }
  }

  private parse(value: unknown, path: string): TableflowTopic {
    const parsed = tableflowTopicSchema.safeParse(value);
    if (!parsed.success) {
      throw new TableflowRequestError(
        'GET',
        path,
        502,
        `unexpected answer: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  }

  /** Enable Tableflow on a topic (Iceberg, Confluent-managed storage). */
  async enable(topic: string, config: TableflowTopicConfig = {}): Promise<TableflowTopic> {
    const path = '/tableflow/v1/tableflow-topics';
    const answer = await this.request('POST', path, {
      spec: {
        display_name: topic,
        storage: { kind: 'Managed' },
        table_formats: ['ICEBERG'],
        config,
        environment: { id: this.options.environmentId },
        kafka_cluster: { id: this.options.kafkaClusterId },
      },
    });
    return this.parse(answer, path);
  }

  /** The topic's Tableflow resource, or undefined when Tableflow is not enabled on it (404). */
  async describe(topic: string): Promise<TableflowTopic | undefined> {
    const path = `/tableflow/v1/tableflow-topics/${encodeURIComponent(topic)}`;
    try {
      return this.parse(await this.request('GET', `${path}?${this.scope()}`), path);
    } catch (error) {
      if (error instanceof TableflowRequestError && error.status === 404) return undefined;
      throw error;
    }
  }

  async update(topic: string, config: TableflowTopicConfig): Promise<TableflowTopic> {
    const path = `/tableflow/v1/tableflow-topics/${encodeURIComponent(topic)}`;
    const answer = await this.request('PATCH', `${path}?${this.scope()}`, {
      spec: {
        config,
        environment: { id: this.options.environmentId },
        kafka_cluster: { id: this.options.kafkaClusterId },
      },
    });
    return this.parse(answer, path);
  }

  /** Disable Tableflow on the topic; true when this call disabled it, false when it was not enabled. */
  async disable(topic: string): Promise<boolean> {
    const path = `/tableflow/v1/tableflow-topics/${encodeURIComponent(topic)}`;
    try {
      await this.request('DELETE', `${path}?${this.scope()}`);
      return true;
    } catch (error) {
      if (error instanceof TableflowRequestError && error.status === 404) return false;
      throw error;
    }
  }
}

/** Confluent's error body: `{ errors: [{ status, code, detail, ... }] }`. */
function errorDetail(text: string, fallback: string): string {
  try {
    const body = JSON.parse(text) as {
      errors?: Array<{ detail?: string; title?: string }>;
      message?: string;
    };
    const details = (body.errors ?? []).map((error) => error.detail ?? error.title).filter(Boolean);
    if (details.length > 0) return details.join('; ').slice(0, 500);
    if (body.message) return body.message.slice(0, 500);
  } catch {
    // not JSON
  }
  return text.slice(0, 300) || fallback;
}

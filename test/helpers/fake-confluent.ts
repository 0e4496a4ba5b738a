import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fake Confluent Cloud API on 127.0.0.1 speaking Tableflow's `/tableflow/v1/tableflow-topics`
 * as Confluent documents it: HTTP basic auth with an API key and secret, resources
 * `{ api_version: 'tableflow/v1', kind: 'TableflowTopic', metadata, spec, status }` scoped by
 * environment and Kafka cluster, errors as `{ errors: [{ status, detail }] }` (401 bad key, 404
 * unknown topic, 409 already enabled). Tests script extra failures (e.g. 503) per request.
 */
export type TableflowResource = {
  api_version: 'tableflow/v1';
  kind: 'TableflowTopic';
  metadata: { self: string; resource_name: string; created_at: string; updated_at: string };
  spec: {
    display_name: string;
    suspended: boolean;
    table_formats: string[];
    storage: { kind: string; table_path?: string };
    config: Record<string, unknown>;
    environment: { id: string };
    kafka_cluster: { id: string };
  };
  status: { phase: string; write_mode: string; error_message: string };
};

export type RecordedCall = { method: string; path: string; authorized: boolean; body?: unknown };

export class FakeConfluentCloud {
  readonly calls: RecordedCall[] = [];
  readonly topics = new Map<string, TableflowResource>();
  /** Status codes the next requests answer with instead of doing the work (e.g. [503, 503]). */
  readonly failNext: number[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private port = 0;

  private constructor(
    readonly apiKey: string,
    readonly apiSecret: string,
  ) {}

  static async start(
    credentials = { key: 'TESTKEY123', secret: 'test-secret' },
  ): Promise<FakeConfluentCloud> {
    const fake = new FakeConfluentCloud(credentials.key, credentials.secret);
    fake.server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private key(env: string, cluster: string, name: string) {
    return `${env}/${cluster}/${name}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return this.error(res, 400, 'malformed JSON');
    }
    const expected = `Basic ${Buffer.from(`${this.apiKey}:${this.apiSecret}`).toString('base64')}`;
    const authorized = req.headers.authorization === expected;
    this.calls.push({ method: req.method ?? '', path: url.pathname, authorized, body });
    const scripted = this.failNext.shift();
    if (scripted !== undefined) return this.error(res, scripted, `scripted ${scripted}`);
    if (!authorized) return this.error(res, 401, 'Invalid API Key');

    const base = '/tableflow/v1/tableflow-topics';
    if (req.method === 'POST' && url.pathname === base) {
      const spec = (body as { spec?: Record<string, unknown> } | undefined)?.spec;
      const name = spec?.display_name;
      const env = (spec?.environment as { id?: string } | undefined)?.id;
      const cluster = (spec?.kafka_cluster as { id?: string } | undefined)?.id;
      if (typeof name !== 'string' || !env || !cluster) {
        return this.error(
          res,
          400,
          'spec.display_name, spec.environment.id and spec.kafka_cluster.id are required',
        );
      }
      const key = this.key(env, cluster, name);
      if (this.topics.has(key)) return this.error(res, 409, `Tableflow is already enabled for topic ${name}`);
      const now = new Date().toISOString();
      const resource: TableflowResource = {
        api_version: 'tableflow/v1',
        kind: 'TableflowTopic',
        metadata: {
          self: `${this.url}${base}/${name}`,
          resource_name: `crn://confluent.cloud/environment=${env}/cloud-cluster=${cluster}/tableflow-topic=${name}`,
          created_at: now,
          updated_at: now,
        },
        spec: {
          display_name: name,
          suspended: false,
          table_formats: (spec?.table_formats as string[] | undefined) ?? ['ICEBERG'],
          storage: { kind: 'Managed', table_path: `s3://fake/${cluster}/${name}` },
          config: { retention_ms: '604800000', ...((spec?.config as Record<string, unknown>) ?? {}) },
          environment: { id: env },
          kafka_cluster: { id: cluster },
        },
        status: { phase: 'PENDING', write_mode: 'APPEND', error_message: '' },
      };
      this.topics.set(key, resource);
      return this.json(res, 201, resource);
    }
    if (url.pathname.startsWith(`${base}/`)) {
      const name = decodeURIComponent(url.pathname.slice(base.length + 1));
      const env = url.searchParams.get('environment');
      const cluster = url.searchParams.get('spec.kafka_cluster');
      if (!env || !cluster) return this.error(res, 400, 'environment and spec.kafka_cluster are required');
      const key = this.key(env, cluster, name);
      const resource = this.topics.get(key);
      if (!resource) return this.error(res, 404, `Tableflow topic ${name} not found`);
      if (req.method === 'GET') return this.json(res, 200, resource);
      if (req.method === 'DELETE') {
        this.topics.delete(key);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'PATCH') {
        const config =
          (body as { spec?: { config?: Record<string, unknown> } } | undefined)?.spec?.config ?? {};
        resource.spec.config = { ...resource.spec.config, ...config };
        resource.metadata.updated_at = new Date().toISOString();
        return this.json(res, 200, resource);
      }
    }
    return this.error(res, 404, `no route ${req.method} ${url.pathname}`);
  }

  private json(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, detail: string) {
    this.json(res, status, { errors: [{ id: `err-${this.calls.length}`, status: String(status), detail }] });
  }
}

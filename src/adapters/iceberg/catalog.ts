import type { IcebergAuth, IcebergConnection } from '../../config';
import { MeshloopError } from '../../domain/errors';

/**
 * A small typed client for the Iceberg REST catalog API (namespaces, tables, table metadata,
 * snapshots). https://github.com/apache/iceberg/blob/main/open-api/rest-catalog-open-api.yaml
 *
 * Why not `iceberg-js` (1.0.0, the maintained npm client): it parses answers with plain `JSON.parse`
 * and types snapshot ids as `number`. Iceberg snapshot ids are random 64-bit longs, so they come back
 * rounded (6598282813123424555 → 6598282813123424000) and time travel or a snapshot handed to a
 * workflow would point at a snapshot that does not exist. This client keeps every snapshot id as the
 * exact decimal string.
 */

export type NamespaceName = readonly string[];
export type TableName = Readonly<{ namespace: NamespaceName; name: string }>;

export type Snapshot = Readonly<{
  /** Exact 64-bit id, as a decimal string. */
  snapshotId: string;
  parentSnapshotId?: string;
  sequenceNumber?: number;
  timestampMs: number;
  manifestList: string;
  /** `operation` (append, overwrite, ...) and counters such as `added-records`, `total-records`. */
  summary: Readonly<Record<string, string>>;
  schemaId?: number;
}>;

export type SchemaField = Readonly<{
  id: number;
  name: string;
  required: boolean;
  type: unknown;
  doc?: string;
}>;

export type TableSchema = Readonly<{ 'schema-id': number; type: 'struct'; fields: readonly SchemaField[] }>;

/** The table metadata as the catalog returns it (snapshot ids as strings), with the fields we use typed. */
export type TableMetadata = Readonly<{
  'format-version': number;
  'table-uuid': string;
  location: string;
  'last-updated-ms': number;
  'current-schema-id': number;
  schemas: readonly TableSchema[];
  'current-snapshot-id'?: string | null;
  snapshots?: ReadonlyArray<Record<string, unknown>>;
  properties?: Readonly<Record<string, string>>;
  'partition-specs'?: readonly unknown[];
}> &
  Readonly<Record<string, unknown>>;

export type LoadedTable = Readonly<{
  name: TableName;
  metadataLocation?: string;
  metadata: TableMetadata;
  /** Every snapshot, oldest first. */
  snapshots: readonly Snapshot[];
  /** The snapshot a reader sees now; undefined for a table nobody has written to. */
  currentSnapshot?: Snapshot;
  currentSchema?: TableSchema;
}>;

/**
 * The catalog answered with an error or could not be reached. 404s (`notFound`) and other 4xx are not
 * retryable; connection errors, 408, 429 and 5xx are.
 */
export class IcebergCatalogError extends MeshloopError {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number | undefined,
    /** The catalog's error type, e.g. NoSuchTableException, AlreadyExistsException. */
    readonly icebergType: string | undefined,
    readonly catalogMessage: string,
    cause?: unknown,
  ) {
    super(
      status === undefined
        ? 'IcebergUnavailable'
        : status === 404
          ? 'IcebergNotFound'
          : 'IcebergRequestFailed',
      `Iceberg REST catalog ${method} ${url} ${status === undefined ? 'got no answer' : `answered ${status}`}: ${
        icebergType ? `${icebergType}: ` : ''
      }${catalogMessage}`,
      status === undefined || status === 408 || status === 429 || status >= 500,
      { cause },
    );
  }

  get notFound(): boolean {
    return this.status === 404;
  }
}

/** Quote every `...snapshot-id` number so JSON.parse cannot round it. Negative -1 means "none". */
export function parseIcebergJson(text: string): unknown {
  return JSON.parse(text.replace(/("[a-z-]*snapshot-id"\s*:\s*)(-?\d+)/g, '$1"$2"'));
}

/** Multi-level namespaces travel in URLs joined by the unit separator (0x1F), per the REST spec. */
const namespacePath = (namespace: NamespaceName) => encodeURIComponent(namespace.join('\u001f'));

export type IcebergCatalogOptions = Readonly<{
  url: string;
  /** Sent as `?warehouse=` on `/v1/config`; the answer's `prefix` and `uri` overrides are followed. */
  warehouse?: string;
  /** A bearer token, or OAuth2 client credentials exchanged for one (and again when it expires). */
  auth?: IcebergAuth;
  requestTimeoutMs?: number;
}>;

type CatalogConfig = { defaults: Record<string, string>; overrides: Record<string, string> };

export class IcebergCatalogClient {
  private readonly base: string;
  /** The base and `/v1/{prefix}` the catalog's config names. */
  private route: Promise<{ base: string; v1: string }> | undefined;
  private token: Promise<{ value: string; expiresAt: number }> | undefined;

  constructor(private readonly options: IcebergCatalogOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** A client for the configured catalog (`config.iceberg`), with its warehouse and credentials. */
  static of(connection: IcebergConnection, requestTimeoutMs?: number): IcebergCatalogClient {
    return new IcebergCatalogClient({
      url: connection.catalogUrl,
      ...(connection.warehouse ? { warehouse: connection.warehouse } : {}),
      ...(connection.auth ? { auth: connection.auth } : {}),
      ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    });
  }

  private async authorization(): Promise<string | undefined> {
    const auth = this.options.auth;
    if (!auth) return undefined;
    if (auth.kind === 'token') return `Bearer ${auth.token}`;
    if (this.token) {
      const current = await this.token.catch(() => undefined);
      if (!current || current.expiresAt <= Date.now()) this.token = undefined;
    }
    this.token ??= fetchClientCredentialsToken(auth, this.options.requestTimeoutMs ?? 30_000);
    this.token.catch(() => (this.token = undefined));
    return `Bearer ${(await this.token).value}`;
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'DELETE' | 'HEAD',
    path: string,
    body?: unknown,
    base = this.base,
  ): Promise<T> {
    const url = `${base}${path}`;
    const authorization = await this.authorization();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(authorization ? { authorization } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
      });
    } catch (error) {
      const reason = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new IcebergCatalogError(method, url, undefined, undefined, String(reason), error);
    }
    const text = await response.text();
    if (!response.ok) {
      // An expired or revoked token: the next request asks for a new one.
      if (response.status === 401) this.token = undefined;
      throw errorOf(method, url, response, text);
    }
    return (text.trim() === '' ? undefined : parseIcebergJson(text)) as T;
  }

  /**
   * `/v1/{prefix}/...` on the catalog's base: the prefix (none for Iceberg's own server) and a moved
   * base (`uri`) come from the catalog's config for our warehouse, overrides over defaults.
   */
  private async v1<T>(method: 'GET' | 'POST' | 'DELETE' | 'HEAD', path: string, body?: unknown): Promise<T> {
    this.route ??= this.config().then((config) => {
      const merged = { ...config.defaults, ...config.overrides };
      const prefix = merged.prefix;
      return {
        base: merged.uri ? merged.uri.replace(/\/+$/, '') : this.base,
        v1: prefix ? `/v1/${encodeURIComponent(prefix)}` : '/v1',
      };
    });
    this.route.catch(() => (this.route = undefined));
    const route = await this.route;
    return this.request<T>(method, `${route.v1}${path}`, body, route.base);
  }

  /** The catalog's config for our warehouse (`GET /v1/config?warehouse=`). */
  async config(): Promise<CatalogConfig> {
    const query = this.options.warehouse ? `?warehouse=${encodeURIComponent(this.options.warehouse)}` : '';
    const config = await this.request<Partial<CatalogConfig>>('GET', `/v1/config${query}`);
    return { defaults: config.defaults ?? {}, overrides: config.overrides ?? {} };
  }

  /** Namespaces under `parent` (top level by default), following pages. */
  async listNamespaces(parent?: NamespaceName): Promise<NamespaceName[]> {
    const found: NamespaceName[] = [];
    let pageToken: string | undefined;
    do {
      const query = new URLSearchParams();
      if (parent) query.set('parent', parent.join('\u001f'));
      if (pageToken) query.set('pageToken', pageToken);
      const body = await this.v1<{ namespaces: string[][]; 'next-page-token'?: string | null }>(
        'GET',
        `/namespaces${query.size ? `?${query.toString()}` : ''}`,
      );
      found.push(...body.namespaces);
      pageToken = body['next-page-token'] ?? undefined;
    } while (pageToken);
    return found;
  }

  async createNamespace(namespace: NamespaceName, properties: Record<string, string> = {}): Promise<void> {
    await this.v1('POST', '/namespaces', { namespace, properties });
  }

  /** Create the namespace unless it exists; true when this call created it. */
  async ensureNamespace(namespace: NamespaceName, properties: Record<string, string> = {}): Promise<boolean> {
    try {
      await this.createNamespace(namespace, properties);
      return true;
    } catch (error) {
      if (error instanceof IcebergCatalogError && error.status === 409) return false;
      throw error;
    }
  }

  async namespaceProperties(namespace: NamespaceName): Promise<Record<string, string>> {
    const body = await this.v1<{ properties?: Record<string, string> }>(
      'GET',
      `/namespaces/${namespacePath(namespace)}`,
    );
    return body.properties ?? {};
  }

  async dropNamespace(namespace: NamespaceName): Promise<void> {
    await this.v1('DELETE', `/namespaces/${namespacePath(namespace)}`);
  }

  async listTables(namespace: NamespaceName): Promise<TableName[]> {
    const found: TableName[] = [];
    let pageToken: string | undefined;
    do {
      const query = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : '';
      const body = await this.v1<{
        identifiers: Array<{ namespace: string[]; name: string }>;
        'next-page-token'?: string | null;
      }>('GET', `/namespaces/${namespacePath(namespace)}/tables${query}`);
      found.push(...body.identifiers);
      pageToken = body['next-page-token'] ?? undefined;
    } while (pageToken);
    return found;
  }

  async tableExists(table: TableName): Promise<boolean> {
    try {
      await this.v1('HEAD', this.tablePath(table));
      return true;
    } catch (error) {
      if (error instanceof IcebergCatalogError && error.notFound) return false;
      throw error;
    }
  }

  /** Load a table's current metadata, with its snapshots decoded. */
  async loadTable(table: TableName): Promise<LoadedTable> {
    const body = await this.v1<{ 'metadata-location'?: string; metadata: TableMetadata }>(
      'GET',
      this.tablePath(table),
    );
    const metadata = body.metadata;
    const snapshots = (metadata.snapshots ?? [])
      .map(toSnapshot)
      .sort((a, b) => a.timestampMs - b.timestampMs);
    const currentId = metadata['current-snapshot-id'];
    return {
      name: table,
      metadataLocation: body['metadata-location'],
      metadata,
      snapshots,
      currentSnapshot: snapshots.find((snapshot) => snapshot.snapshotId === currentId),
      currentSchema: metadata.schemas.find((schema) => schema['schema-id'] === metadata['current-schema-id']),
    };
  }

  /** The table's snapshots, oldest first. */
  async snapshots(table: TableName): Promise<readonly Snapshot[]> {
    return (await this.loadTable(table)).snapshots;
  }

  /**
   * Create a table (`POST .../tables`). The schema's field ids, the partition spec and the
   * properties are the caller's; the catalog answers 409 (AlreadyExistsException) when it exists.
   */
  async createTable(
    namespace: NamespaceName,
    request: Readonly<{
      name: string;
      schema: Readonly<Record<string, unknown>>;
      partitionSpec?: Readonly<Record<string, unknown>>;
      properties?: Readonly<Record<string, string>>;
    }>,
  ): Promise<LoadedTable> {
    await this.v1('POST', `/namespaces/${namespacePath(namespace)}/tables`, {
      name: request.name,
      schema: request.schema,
      'partition-spec': request.partitionSpec,
      properties: request.properties ?? {},
      'stage-create': false,
    });
    return this.loadTable({ namespace, name: request.name });
  }

  /**
   * Commit metadata changes to a table (`POST .../tables/{table}`): requirements the catalog checks
   * atomically (e.g. `assert-current-schema-id`), then updates (`add-schema`, `set-properties`, ...).
   * A failed requirement answers 409 (CommitFailedException): reload and decide again.
   */
  async commitTable(
    table: TableName,
    change: Readonly<{
      requirements: ReadonlyArray<Record<string, unknown>>;
      updates: ReadonlyArray<Record<string, unknown>>;
    }>,
  ): Promise<void> {
    await this.v1('POST', this.tablePath(table), {
      identifier: { namespace: table.namespace, name: table.name },
      requirements: change.requirements,
      updates: change.updates,
    });
  }

  /** Drop the table from the catalog; with `purge` its data and metadata files are deleted too. */
  async dropTable(table: TableName, options: { purge?: boolean } = {}): Promise<void> {
    await this.v1('DELETE', `${this.tablePath(table)}?purgeRequested=${options.purge ?? false}`);
  }

  private tablePath(table: TableName): string {
    return `/namespaces/${namespacePath(table.namespace)}/tables/${encodeURIComponent(table.name)}`;
  }
}

function toSnapshot(raw: Record<string, unknown>): Snapshot {
  const parent = raw['parent-snapshot-id'] as string | undefined;
  return {
    snapshotId: String(raw['snapshot-id']),
    parentSnapshotId: parent === undefined || parent === '-1' ? undefined : parent,
    sequenceNumber: raw['sequence-number'] as number | undefined,
    timestampMs: raw['timestamp-ms'] as number,
    manifestList: raw['manifest-list'] as string,
    summary: (raw.summary ?? {}) as Record<string, string>,
    schemaId: raw['schema-id'] as number | undefined,
  };
}

function errorOf(method: string, url: string, response: Response, text: string): IcebergCatalogError {
  let type: string | undefined;
  let message = text.slice(0, 500) || response.statusText;
  try {
    const parsed = JSON.parse(text) as { error?: { type?: string; message?: string } };
    type = parsed.error?.type;
    message = parsed.error?.message ?? message;
  } catch {
    // keep the raw text
  }
  return new IcebergCatalogError(method, url, response.status, type, message);
}

/**
 * OAuth2 client credentials (RFC 6749 4.4) at the catalog's token endpoint, as Iceberg's own clients
 * do: a form POST with the id and secret in the body. The token is kept until a minute before it expires.
 */
async function fetchClientCredentialsToken(
  auth: Extract<IcebergAuth, { kind: 'oauth2' }>,
  timeoutMs: number,
): Promise<{ value: string; expiresAt: number }> {
  const where = `POST ${auth.serverUri} (OAuth2 client credentials)`;
  let response: Response;
  try {
    response = await fetch(auth.serverUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: auth.clientId,
        client_secret: auth.clientSecret,
        scope: auth.scope,
      }).toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new IcebergCatalogError('POST', auth.serverUri, undefined, undefined, String(reason), error);
  }
  const text = await response.text();
  let body: { access_token?: string; expires_in?: number; error?: unknown; error_description?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: reported below
  }
  if (!response.ok || typeof body.access_token !== 'string') {
    const reason =
      typeof body.error === 'string'
        ? `${body.error}${body.error_description ? `: ${body.error_description}` : ''}`
        : text.slice(0, 300) || response.statusText;
    throw new IcebergCatalogError(
      'POST',
      auth.serverUri,
      response.ok ? 502 : response.status,
      'OAuth2TokenRequestFailed',
      `${where}: no access token (${reason}); check MESHLOOP_ICEBERG_CLIENT_ID, MESHLOOP_ICEBERG_CLIENT_SECRET, MESHLOOP_ICEBERG_OAUTH2_SERVER_URI and MESHLOOP_ICEBERG_OAUTH2_SCOPE`,
    );
  }
  const lifetimeMs = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 3_600_000;
  return { value: body.access_token, expiresAt: Date.now() + Math.max(lifetimeMs - 60_000, lifetimeMs / 2) };
}

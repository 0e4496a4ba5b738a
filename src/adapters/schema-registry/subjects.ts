import type { SchemaInfo } from '@confluentinc/schemaregistry';
import type { RestService } from '@confluentinc/schemaregistry/dist/rest-service.js';
import type { SchemaRegistryConfig } from '../../config';
import { MeshloopError, SchemaIncompatibleError, UpstreamUnavailableError } from '../../domain/errors';
import { DEFAULT_REQUEST_TIMEOUT_MS, registryAddress, schemaRegistryClientConfig } from './client';

/**
 * Subjects a Meshloop product owns in a Schema Registry (Confluent's REST API): its schema
 * registered with a compatibility level, and a candidate schema tested against the latest version
 * with the registry's own reasons. Requests go through the official client's REST service (its
 * auth, timeout and retry settings, as discovery's client has them) rather than its caching client:
 * a registration must see the registry as it is now.
 *
 * Failures say what to do: no answer is `UpstreamUnavailable` (retryable; names
 * MESHLOOP_SCHEMA_REGISTRY_URL), refused credentials name the auth settings, and a schema the
 * registry refuses is `SchemaIncompatible` with the registry's message.
 */

/** Levels that include BACKWARD: a subject already at one of them is left as it is. */
const atLeastBackward = new Set(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE']);

export type SubjectVersion = Readonly<{
  subject: string;
  /** The registry's schema id (what a wire-format record would carry). */
  id: number;
  version: number;
  /** The subject's compatibility level as it is now. */
  compatibility: string;
  /** False when this schema was registered already (a retry, a replay, a redeploy). */
  registered: boolean;
}>;

export type CompatibilityVerdict = Readonly<
  | { compatible: true; subject: string; compatibility: string; against?: number }
  | { compatible: false; subject: string; compatibility: string; against: number; reasons: string[] }
>;

type RestErrorLike = Error & { status?: number; errorCode?: number };
const isRestError = (error: unknown): error is RestErrorLike =>
  error instanceof Error && typeof (error as RestErrorLike).status === 'number';
/** A 404 that is the registry's own answer (subject, version or schema not found; no subject config). */
const isNotFound = (error: unknown) =>
  isRestError(error) && error.status === 404 && [40401, 40402, 40403, 40408].includes(error.errorCode ?? -1);
/** The registry's words, without the client's `; Error code: n` suffix. */
const registryMessage = (error: Error) => error.message.replace(/; Error code: -?\d+$/, '');

const AUTH_SETTINGS =
  'MESHLOOP_SCHEMA_REGISTRY_USER and MESHLOOP_SCHEMA_REGISTRY_PASSWORD (or MESHLOOP_SCHEMA_REGISTRY_TOKEN)';

/** An error of the registry (or of reaching it) as Meshloop reports it, for `what` was being done. */
export function registryFailure(error: unknown, config: SchemaRegistryConfig, what: string): Error {
  if (error instanceof MeshloopError) return error;
  const address = registryAddress(config);
  if (!isRestError(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new UpstreamUnavailableError(
      'Schema Registry',
      `no answer from ${address} while ${what} (${reason}). Check MESHLOOP_SCHEMA_REGISTRY_URL and that ` +
        'the registry runs (`meshloop doctor` checks it); Meshloop tries again.',
      error,
    );
  }
  const status = error.status!;
  if (status === 401 || status === 403) {
    return new MeshloopError(
      'SchemaRegistryUnauthorized',
      `the Schema Registry at ${address} refused the request (HTTP ${status}) while ${what}: ` +
        `check ${AUTH_SETTINGS}, and that this user may write subjects.`,
      false,
      { cause: error },
    );
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new UpstreamUnavailableError(
      'Schema Registry',
      `${address} answered HTTP ${status} while ${what}: ${registryMessage(error)}; Meshloop tries again.`,
      error,
    );
  }
  if (status === 404) {
    return new MeshloopError(
      'SchemaRegistryNotFound',
      `${address} answered 404 while ${what}, without a Schema Registry error: check that ` +
        'MESHLOOP_SCHEMA_REGISTRY_URL is the API base (for Apicurio Registry, ending in /apis/ccompat/v7).',
      false,
      { cause: error },
    );
  }
  return new MeshloopError(
    'SchemaRegistryRefused',
    `the Schema Registry at ${address} refused the request (HTTP ${status}) while ${what}: ${registryMessage(error)}`,
    false,
    { cause: error },
  );
}

/** Apicurio Registry's own API beside its Confluent-compatible one, when the URL is that one's. */
export function apicurioNativeUrl(url: string): string | undefined {
  const match = /^(.*)\/apis\/ccompat\/v\d+\/?$/.exec(url);
  return match ? `${match[1]}/apis/registry/v3` : undefined;
}

/** The reasons in an Apicurio rule violation (`causes`: description and where). */
export function apicurioReasons(body: unknown): string[] {
  const causes = (body as { causes?: unknown } | null)?.causes;
  if (!Array.isArray(causes)) return [];
  return causes.flatMap((cause: { description?: unknown; context?: unknown }) =>
    typeof cause?.description === 'string'
      ? [typeof cause.context === 'string' ? `${cause.description} at ${cause.context}` : cause.description]
      : [],
  );
}

export class SubjectRegistry {
  private constructor(
    private readonly rest: RestService,
    private readonly config: SchemaRegistryConfig,
  ) {}

  /** Loaded on first use: the client brings the cloud KMS SDKs along. */
  static async create(config: SchemaRegistryConfig, timeoutMs?: number): Promise<SubjectRegistry> {
    const { RestService } = await import('@confluentinc/schemaregistry/dist/rest-service.js');
    const c = schemaRegistryClientConfig(config, timeoutMs);
    const rest = new RestService(
      c.baseURLs,
      c.isForward,
      c.createAxiosDefaults,
      c.basicAuthCredentials,
      c.bearerAuthCredentials,
      c.maxRetries,
      c.retriesWaitMs,
      c.retriesMaxWaitMs,
    );
    return new SubjectRegistry(rest, config);
  }

  private async request<T>(
    what: string,
    url: string,
    method: 'GET' | 'POST' | 'PUT',
    body?: unknown,
  ): Promise<T> {
    try {
      return (await this.rest.handleRequest<T>(url, method, body)).data;
    } catch (error) {
      throw registryFailure(error, this.config, what);
    }
  }

  /** `request`, with the registry's own 404 (nothing there) as undefined. */
  private async found<T>(
    what: string,
    url: string,
    method: 'GET' | 'POST',
    body?: unknown,
  ): Promise<T | undefined> {
    try {
      return (await this.rest.handleRequest<T>(url, method, body)).data;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw registryFailure(error, this.config, what);
    }
  }

  /** The version of `subject` that holds exactly this schema, if any. */
  async lookup(subject: string, schema: SchemaInfo): Promise<{ id: number; version: number } | undefined> {
    const found = await this.found<{ id: number; version: number }>(
      `looking up the schema of ${subject}`,
      `/subjects/${encodeURIComponent(subject)}?normalize=false`,
      'POST',
      schema,
    );
    // The answer repeats the schema text: only its address is kept.
    return found ? { id: found.id, version: found.version } : undefined;
  }

  /**
   * The subject's own compatibility level, undefined when it has none; `effective`: the level that
   * applies (the registry's default for a subject without its own, where the registry says it).
   */
  async compatibilityOf(subject: string, effective = false): Promise<string | undefined> {
    const config = await this.found<{ compatibilityLevel?: string }>(
      `reading the compatibility of ${subject}`,
      `/config/${encodeURIComponent(subject)}${effective ? '?defaultToGlobal=true' : ''}`,
      'GET',
    );
    return config?.compatibilityLevel;
  }

  /** Set the subject's level to `level` unless it is at one that includes BACKWARD already. */
  async ensureCompatibility(subject: string, level = 'BACKWARD'): Promise<string> {
    const current = await this.compatibilityOf(subject);
    if (
      current !== undefined &&
      (current === level || (level === 'BACKWARD' && atLeastBackward.has(current)))
    )
      return current;
    await this.request(
      `setting ${subject} to ${level} compatibility`,
      `/config/${encodeURIComponent(subject)}`,
      'PUT',
      { compatibility: level },
    );
    return level;
  }

  /**
   * Register `schema` under `subject` with the subject at `level` (set first, so this very
   * registration is checked by it). Idempotent: a schema registered already is found, not added.
   */
  async register(subject: string, schema: SchemaInfo, level = 'BACKWARD'): Promise<SubjectVersion> {
    const compatibility = await this.ensureCompatibility(subject, level);
    const earlier = await this.lookup(subject, schema);
    if (earlier) return { subject, ...earlier, compatibility, registered: false };
    let id: number;
    try {
      ({ id } = (
        await this.rest.handleRequest<{ id: number }>(
          `/subjects/${encodeURIComponent(subject)}/versions?normalize=false`,
          'POST',
          schema,
        )
      ).data);
    } catch (error) {
      if (isRestError(error) && error.status === 409) {
        throw new SchemaIncompatibleError(
          `the Schema Registry refused the output schema under ${subject} (${compatibility}): ${registryMessage(error)}`,
        );
      }
      throw registryFailure(error, this.config, `registering the schema of ${subject}`);
    }
    const registered = await this.lookup(subject, schema);
    return { subject, id, version: registered?.version ?? 0, compatibility, registered: true };
  }

  /**
   * Would the registry accept `schema` as the subject's next version? Asked of the compatibility
   * endpoint (`verbose=true`: Confluent's registry says why). Apicurio Registry answers only yes or
   * no there, so for its reasons this asks its own API for a dry run of the registration.
   */
  async check(subject: string, schema: SchemaInfo): Promise<CompatibilityVerdict> {
    const latest = await this.found<{ version: number }>(
      `reading the latest version of ${subject}`,
      `/subjects/${encodeURIComponent(subject)}/versions/latest`,
      'GET',
    );
    const compatibility = (await this.compatibilityOf(subject, true)) ?? '(the registry default)';
    if (!latest) return { compatible: true, subject, compatibility };
    const answer = await this.request<{ is_compatible: boolean; messages?: string[] }>(
      `testing a new schema of ${subject}`,
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
      'POST',
      schema,
    );
    if (answer.is_compatible) return { compatible: true, subject, compatibility, against: latest.version };
    const reasons = answer.messages?.filter((m) => typeof m === 'string' && m.length > 0) ?? [];
    if (reasons.length === 0) reasons.push(...(await this.apicurioDryRun(subject, schema)));
    if (reasons.length === 0)
      reasons.push(
        `not ${compatibility} compatible with version ${latest.version} (the registry gave no reason)`,
      );
    return { compatible: false, subject, compatibility, against: latest.version, reasons };
  }

  /**
   * Apicurio's reasons: a registration it is asked only to try (`dryRun=true`), which it refuses
   * with them. Over fetch: the client's REST service keeps only an error's Confluent fields.
   */
  private async apicurioDryRun(subject: string, schema: SchemaInfo): Promise<string[]> {
    const native = apicurioNativeUrl(this.config.url);
    if (!native) return [];
    try {
      const response = await fetch(
        `${native}/groups/default/artifacts/${encodeURIComponent(subject)}/versions?dryRun=true`,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...authorizationOf(this.config) },
          body: JSON.stringify({ content: { content: schema.schema, contentType: 'application/json' } }),
          signal: AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS),
        },
      );
      return response.ok ? [] : apicurioReasons(await response.json().catch(() => undefined));
    } catch {
      return [];
    }
  }
}

/** The Authorization header the registry's settings ask for (none without credentials). */
function authorizationOf(config: SchemaRegistryConfig): Record<string, string> {
  if (config.basicAuth) {
    const { user, password } = config.basicAuth;
    return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
  }
  return config.bearerToken ? { Authorization: `Bearer ${config.bearerToken}` } : {};
}

import fs from 'node:fs';
import path from 'node:path';
import type { ClientConfigProfile, ClientConfigTLS, ConfigDataSource } from '@temporalio/envconfig';
import { loadClientConfigProfile, loadConfigData } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';

/**
 * The Temporal connection, in Temporal's own conventions (`@temporalio/envconfig`, as the Temporal
 * CLI reads them): a TOML profile file and the TEMPORAL_* variables, the variables winning. The local
 * platform (MESHLOOP_TEMPORAL_PORT, MESHLOOP_TEMPORAL_NAMESPACE) is the default when neither says.
 *
 * The profile file is read when TEMPORAL_CONFIG_FILE or TEMPORAL_PROFILE is set (TEMPORAL_PROFILE alone:
 * the CLI's default file, ~/.config/temporalio/temporal.toml). Without them the default file is not
 * read, so a CLI profile pointing at a cluster never redirects the local platform by surprise.
 */

/** Where a connection setting came from, for `meshloop config`. */
export type Origin = Readonly<{ source: 'default' | 'environment' | 'Temporal profile'; detail: string }>;

export type TemporalTls = Readonly<{
  serverName?: string;
  serverCaCert?: ConfigDataSource;
  clientCert?: ConfigDataSource;
  clientKey?: ConfigDataSource;
}>;

/** Only plain data (paths or PEM text): frozen with the configuration, read into buffers at connect. */
export type TemporalConnection = Readonly<{
  address: string;
  /** Secret. */
  apiKey?: string;
  /** `false`/absent: plaintext; `true`: TLS with the system's roots; an object: files or PEM text. */
  tls?: boolean | TemporalTls;
  /** gRPC headers (TEMPORAL_GRPC_META_*, a profile's grpc_meta). Secret: they may carry credentials. */
  metadata?: Readonly<Record<string, string>>;
}>;

export type ResolvedTemporal = Readonly<{
  connection: TemporalConnection;
  namespace: string;
  origins: Readonly<Record<string, Origin>>;
}>;

type Env = Readonly<Record<string, string | undefined>>;

/** The TEMPORAL_* variables envconfig reads (TEMPORAL_GRPC_META_* besides); all but the paths are secret-free. */
export const temporalEnvKeys = [
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_PROFILE',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
] as const;

export function isTemporalSecret(key: string): boolean {
  return (
    key === 'TEMPORAL_API_KEY' ||
    key === 'TEMPORAL_TLS_CLIENT_KEY_DATA' ||
    key.startsWith('TEMPORAL_GRPC_META_')
  );
}

/**
 * The TEMPORAL_* variables that are set (an empty value counts as unset, as everywhere in Meshloop), and
 * those envconfig finds the default profile file with.
 */
function temporalEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const wanted = key.startsWith('TEMPORAL_') || ['HOME', 'XDG_CONFIG_HOME', 'APPDATA'].includes(key);
    if (wanted && value !== undefined && value.trim() !== '') out[key] = value.trim();
  }
  return out;
}

/** The profile file as envconfig finds it (TEMPORAL_CONFIG_FILE, else the Temporal CLI's default). */
function defaultProfilePath(env: Record<string, string>): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const dir =
    process.platform === 'win32'
      ? env.APPDATA
      : process.platform === 'darwin'
        ? env.HOME && path.join(env.HOME, 'Library', 'Application Support')
        : (env.XDG_CONFIG_HOME ?? (env.HOME && path.join(env.HOME, '.config')));
  return dir ? path.join(dir, 'temporalio', 'temporal.toml') : undefined;
}

function profileFile(env: Record<string, string>): { wanted: boolean; path?: string; label: string } {
  const at = defaultProfilePath(env);
  return {
    wanted: env.TEMPORAL_CONFIG_FILE !== undefined || env.TEMPORAL_PROFILE !== undefined,
    ...(at ? { path: at } : {}),
    label: `${at ?? '(no profile file: HOME is not set)'} [${env.TEMPORAL_PROFILE ?? 'default'}]`,
  };
}

function profileFromFile(
  env: Record<string, string>,
  file: ReturnType<typeof profileFile>,
  problems: string[],
): ClientConfigProfile {
  if (file.path === undefined || !fs.existsSync(file.path)) {
    const key = env.TEMPORAL_CONFIG_FILE ? 'TEMPORAL_CONFIG_FILE' : 'TEMPORAL_PROFILE';
    problems.push(`${key}: no Temporal profile file at ${file.path ?? '(HOME is not set)'}`);
    return {};
  }
  try {
    return loadClientConfigProfile({ overrideEnvVars: env, disableEnv: true });
  } catch (error) {
    const message = (error as Error).message;
    const key = /Profile '.*' not found/.test(message) ? 'TEMPORAL_PROFILE' : 'TEMPORAL_CONFIG_FILE';
    problems.push(`${key}: ${message} (${file.label})`);
    return {};
  }
}

/**
 * Resolves the connection; `problems` gets one line per wrong setting, naming it. `defaults` are the
 * local platform's address and namespace.
 */
export function resolveTemporal(
  rawEnv: Env,
  defaults: Readonly<{ address: string; namespace: string; addressKey: string; namespaceKey: string }>,
  problems: string[],
): ResolvedTemporal {
  const env = temporalEnv(rawEnv);
  const file = profileFile(env);
  const fromFile = file.wanted ? profileFromFile(env, file, problems) : {};
  const fromEnv = loadClientConfigProfile({ overrideEnvVars: env, disableFile: true });
  const origins: Record<string, Origin> = {};
  const pick = <T>(field: string, envKey: string, envValue: T | undefined, fileValue: T | undefined) => {
    if (envValue !== undefined) origins[field] = { source: 'environment', detail: envKey };
    else if (fileValue !== undefined) origins[field] = { source: 'Temporal profile', detail: file.label };
    return envValue ?? fileValue;
  };
  const address = pick('temporal.address', 'TEMPORAL_ADDRESS', fromEnv.address, fromFile.address);
  const namespace = pick('temporal.namespace', 'TEMPORAL_NAMESPACE', fromEnv.namespace, fromFile.namespace);
  const apiKey = pick('temporal.apiKey', 'TEMPORAL_API_KEY', fromEnv.apiKey, fromFile.apiKey);
  const tlsSettings = pick('temporal.tls', 'TEMPORAL_TLS*', fromEnv.tls, fromFile.tls);
  const metadata = pick('temporal.metadata', 'TEMPORAL_GRPC_META_*', fromEnv.grpcMeta, fromFile.grpcMeta);
  origins['temporal.address'] ??= { source: 'default', detail: defaults.addressKey };
  origins['temporal.namespace'] ??= { source: 'default', detail: defaults.namespaceKey };
  // The variables override the file field by field (TEMPORAL_TLS_SERVER_NAME alone keeps the file's CA).
  const tlsMerged = fromFile.tls || fromEnv.tls ? { ...fromFile.tls, ...fromEnv.tls } : tlsSettings;
  const tls = toTls(tlsMerged, apiKey !== undefined, problems);
  return {
    connection: {
      address: address ?? defaults.address,
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...(metadata && Object.keys(metadata).length > 0 ? { metadata: { ...metadata } } : {}),
    },
    namespace: namespace ?? defaults.namespace,
    origins,
  };
}

const tlsFiles = [
  ['serverCACert', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'],
  ['clientCert', 'TEMPORAL_TLS_CLIENT_CERT_PATH'],
  ['clientKey', 'TEMPORAL_TLS_CLIENT_KEY_PATH'],
] as const;

function toTls(
  settings: ClientConfigTLS | undefined,
  hasApiKey: boolean,
  problems: string[],
): TemporalConnection['tls'] {
  // As envconfig (and the CLI): an API key turns TLS on unless TLS is explicitly disabled.
  if (settings === undefined) return hasApiKey ? true : undefined;
  if (settings.disabled) return false;
  for (const [field, key] of tlsFiles) {
    const source = settings[field];
    if (source && 'path' in source && !fs.existsSync(source.path)) {
      problems.push(`${key} (or the profile's tls ${field}): no file at ${source.path}`);
    }
  }
  if (Boolean(settings.clientCert) !== Boolean(settings.clientKey)) {
    problems.push(
      'TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH: a client certificate needs its key, and the key its certificate',
    );
  }
  return {
    ...(settings.serverName ? { serverName: settings.serverName } : {}),
    ...(settings.serverCACert ? { serverCaCert: plainSource(settings.serverCACert) } : {}),
    ...(settings.clientCert ? { clientCert: plainSource(settings.clientCert) } : {}),
    ...(settings.clientKey ? { clientKey: plainSource(settings.clientKey) } : {}),
  };
}

/** PEM text as a string (a Uint8Array could not be frozen with the configuration). */
function plainSource(source: ConfigDataSource): ConfigDataSource {
  if ('path' in source) return { path: source.path };
  return { data: typeof source.data === 'string' ? source.data : Buffer.from(source.data).toString('utf8') };
}

export type TemporalConnectOptions = {
  address: string;
  apiKey?: string;
  tls?: TLSConfig | boolean;
  metadata?: Record<string, string>;
};

/**
 * What `Connection.connect` and `NativeConnection.connect` take: every connection (worker, client,
 * CLI, Slack app, codec server, tests) is built from this, so all reach Temporal the same way.
 * Certificate files are read here, at connect time.
 */
export function temporalConnectOptions(connection: TemporalConnection): TemporalConnectOptions {
  const tls = typeof connection.tls === 'object' ? tlsConfig(connection.tls) : connection.tls;
  return {
    address: connection.address,
    ...(connection.apiKey !== undefined ? { apiKey: connection.apiKey } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(connection.metadata ? { metadata: { ...connection.metadata } } : {}),
  };
}

function tlsConfig(tls: TemporalTls): TLSConfig {
  const crt = loadConfigData(tls.clientCert);
  const key = loadConfigData(tls.clientKey);
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.serverCaCert ? { serverRootCACertificate: loadConfigData(tls.serverCaCert) } : {}),
    ...(crt && key ? { clientCertPair: { crt, key } } : {}),
  };
}

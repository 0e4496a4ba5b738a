import { connectionSecretKeys } from './connections';
import { icebergSecretKeys } from './iceberg';
import { dotEnvOrigin, loadDotEnv } from './dotenv';
import { envSchema, loadConfig, parseEnv } from './index';
import type { MeshloopConfig } from './index';
import { isTemporalSecret, resolveTemporal } from './temporal';

/** Where a setting's value came from. */
export type SettingSource = 'default' | '.env' | 'environment' | 'Temporal profile' | 'derived';

export type Setting = Readonly<{
  key: string;
  /** Masked (`********`) when secret; absent when unset. */
  value?: string;
  source: SettingSource;
  /** The file (`.env`, the Temporal profile) or the variable behind it. */
  detail?: string;
  secret: boolean;
}>;

const secretKeys = new Set<string>([
  'OPENAI_API_KEY',
  'MESHLOOP_PAYLOAD_KEYS',
  'CONFLUENT_CLOUD_API_KEY',
  'CONFLUENT_CLOUD_API_SECRET',
  'MESHLOOP_SLACK_BOT_TOKEN',
  'MESHLOOP_SLACK_SIGNING_SECRET',
  ...connectionSecretKeys,
  ...icebergSecretKeys,
]);

/** A secret by its name: the lists above, Temporal's, and any key naming a password, secret, token or key. */
export function isSecretKey(key: string): boolean {
  if (secretKeys.has(key) || isTemporalSecret(key)) return true;
  return /(PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIALS)$/.test(key);
}

export const mask = '********';

/** A URL's user and password (`https://user:pass@host`) masked: a value that is not a secret may carry one. */
export function withoutUrlCredentials(value: string): string {
  return value.replace(/(\/\/)[^/@\s]*@/g, `$1${mask}@`);
}

function present(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/**
 * Every effective setting and where it came from, secrets masked: each variable Meshloop reads (set or
 * defaulted), the TEMPORAL_* variables set, and the connections they resolve to. Loads `.env` first
 * when `env` is `process.env`, as `loadConfig` does; throws `ConfigError` when the configuration is wrong.
 */
export function describeSettings(env: NodeJS.ProcessEnv = process.env): Setting[] {
  if (env === process.env) loadDotEnv();
  const config = loadConfig(env);
  const fromDotEnv = env === process.env ? dotEnvOrigin() : { keys: new Set<string>() };
  const sourceOf = (key: string): Pick<Setting, 'source' | 'detail'> =>
    fromDotEnv.keys.has(key) ? { source: '.env', detail: fromDotEnv.file } : { source: 'environment' };
  const { data } = parseEnv(env);
  const rows: Setting[] = [];
  for (const key of Object.keys(envSchema.shape)) {
    const secret = isSecretKey(key);
    const raw = env[key];
    if (present(raw))
      rows.push({ key, value: secret ? mask : withoutUrlCredentials(raw.trim()), ...sourceOf(key), secret });
    else {
      const value = (data as Record<string, string | number | undefined>)[key];
      rows.push({
        key,
        ...(value === undefined ? {} : { value: String(value) }),
        source: 'default',
        secret,
      });
    }
  }
  const temporalKeys = Object.keys(env)
    .filter((key) => key.startsWith('TEMPORAL_') && present(env[key]))
    .sort();
  for (const key of temporalKeys) {
    const secret = isSecretKey(key);
    rows.push({ key, value: secret ? mask : env[key]!.trim(), ...sourceOf(key), secret });
  }
  return [...rows, ...connectionRows(env, config, sourceOf)];
}

/** The connections as resolved, with the origin of the Temporal ones. */
function connectionRows(
  env: NodeJS.ProcessEnv,
  config: MeshloopConfig,
  sourceOf: (key: string) => Pick<Setting, 'source' | 'detail'>,
): Setting[] {
  const { origins } = resolveTemporal(
    env,
    {
      address: '',
      namespace: '',
      addressKey: 'MESHLOOP_TEMPORAL_PORT',
      namespaceKey: 'MESHLOOP_TEMPORAL_NAMESPACE',
    },
    [],
  );
  const originOf = (field: string): Pick<Setting, 'source' | 'detail'> => {
    const origin = origins[field];
    if (!origin) return { source: 'default' };
    if (origin.source === 'environment' && !origin.detail.includes('*')) return sourceOf(origin.detail);
    return { source: origin.source, detail: origin.detail };
  };
  const { connection } = config.temporal;
  const tls = connection.tls;
  const derived = (key: string, value: string | undefined, secret = false): Setting => ({
    key,
    ...(value === undefined ? {} : { value: secret ? mask : value }),
    source: 'derived',
    secret,
  });
  return [
    { key: 'temporal.address', value: connection.address, ...originOf('temporal.address'), secret: false },
    {
      key: 'temporal.namespace',
      value: config.temporal.namespace,
      ...originOf('temporal.namespace'),
      secret: false,
    },
    ...(connection.apiKey
      ? [{ key: 'temporal.apiKey', value: mask, ...originOf('temporal.apiKey'), secret: true }]
      : []),
    {
      key: 'temporal.tls',
      value:
        tls === undefined || tls === false ? 'off' : tls === true ? 'on (system roots)' : describeTls(tls),
      ...(origins['temporal.tls'] ? originOf('temporal.tls') : originOf('temporal.apiKey')),
      secret: false,
    },
    ...(connection.metadata
      ? [{ key: 'temporal.metadata', value: mask, ...originOf('temporal.metadata'), secret: true }]
      : []),
    derived('kafka.brokers', config.kafka.brokers.join(',')),
    derived('kafka.tls', config.kafka.tls ? describeFiles(config.kafka.tls) : 'off'),
    derived('kafka.sasl', config.kafka.sasl ? config.kafka.sasl.mechanism : 'off'),
    derived('flink.restUrl', config.flink.restUrl),
    derived('flink.sqlGatewayUrl', config.flink.sqlGatewayUrl),
    derived('flink.headers', config.flink.headers ? Object.keys(config.flink.headers).join(', ') : undefined),
    derived('flink.kafka.bootstrapServers', config.flink.kafka.bootstrapServers),
    // The names only: the values hold the SASL password and the TLS key.
    derived('flink.kafka.properties', Object.keys(config.flink.kafka.properties).join(', ') || undefined),
    derived('flink.schemaRegistry.url', withoutUrlCredentials(config.flink.schemaRegistry.url)),
    derived(
      'flink.schemaRegistry.options',
      Object.keys(config.flink.schemaRegistry.options).join(', ') || undefined,
    ),
    derived('iceberg.catalogUrl', config.iceberg.catalogUrl),
    ...icebergRows(config, derived),
  ];
}

function describeTls(
  tls: Exclude<MeshloopConfig['temporal']['connection']['tls'], boolean | undefined>,
): string {
  const part = (name: string, source?: { path: string } | { data: unknown }) =>
    source ? `${name}=${'path' in source ? source.path : '(inline PEM)'}` : undefined;
  const parts = [
    part('ca', tls.serverCaCert),
    part('cert', tls.clientCert),
    part('key', tls.clientKey),
    tls.serverName ? `serverName=${tls.serverName}` : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? `on (${parts.join(' ')})` : 'on (system roots)';
}

function describeFiles(tls: NonNullable<MeshloopConfig['kafka']['tls']>): string {
  const parts = [
    tls.caFile ? `ca=${tls.caFile}` : undefined,
    tls.certFile ? `cert=${tls.certFile}` : undefined,
    tls.keyFile ? `key=${tls.keyFile}` : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? `on (${parts.join(' ')})` : 'on (system roots)';
}

function icebergRows(
  config: MeshloopConfig,
  derived: (key: string, value: string | undefined, secret?: boolean) => Setting,
): Setting[] {
  const { auth, objectStore, warehouse } = config.iceberg;
  return [
    derived('flink.icebergCatalogUri', config.flink.icebergCatalogUri),
    derived('iceberg.warehouse', warehouse),
    derived(
      'iceberg.auth',
      auth === undefined
        ? 'none'
        : auth.kind === 'token'
          ? 'bearer token'
          : `OAuth2 client credentials (client ${auth.clientId}, token endpoint ${withoutUrlCredentials(auth.serverUri)}, scope ${auth.scope})`,
    ),
    derived(
      'objectStore',
      objectStore === undefined
        ? 'not configured (the warehouse is a local folder or the catalog vends credentials)'
        : [
            `endpoint ${objectStore.endpoint ? withoutUrlCredentials(objectStore.endpoint) : 'AWS S3'}`,
            `region ${objectStore.region}`,
            objectStore.pathStyle ? 'path-style' : 'virtual-hosted-style',
            objectStore.accessKeyId ? `key ${objectStore.accessKeyId}` : 'no static credentials',
          ].join(', '),
    ),
  ];
}

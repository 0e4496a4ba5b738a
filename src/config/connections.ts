import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Kafka and Flink connection settings: where the services are and how to authenticate, for a
 * platform other than the local one. All optional: without them, the local platform's addresses.
 */

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const existingFile = optionalText.refine((file) => file === undefined || fs.existsSync(path.resolve(file)), {
  message: 'no such file',
});

const hostPort = /^[^\s,:]+:\d{1,5}$/;

const flag = optionalText.pipe(
  z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }).optional(),
);

export const kafkaSaslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

export const connectionEnvShape = {
  MESHLOOP_KAFKA_BROKERS: optionalText.refine(
    (text) => text === undefined || text.split(',').every((entry) => hostPort.test(entry.trim())),
    { message: 'must be host:port[,host:port...]' },
  ),
  MESHLOOP_KAFKA_TLS: flag,
  MESHLOOP_KAFKA_TLS_CA_FILE: existingFile,
  MESHLOOP_KAFKA_TLS_CERT_FILE: existingFile,
  MESHLOOP_KAFKA_TLS_KEY_FILE: existingFile,
  MESHLOOP_KAFKA_SASL_MECHANISM: optionalText.pipe(
    z.enum(kafkaSaslMechanisms, { message: `must be one of ${kafkaSaslMechanisms.join(', ')}` }).optional(),
  ),
  MESHLOOP_KAFKA_SASL_USERNAME: optionalText,
  MESHLOOP_KAFKA_SASL_PASSWORD: optionalText,
  MESHLOOP_KAFKA_SASL_OAUTH_TOKEN: optionalText,
  MESHLOOP_FLINK_REST_URL: optionalText.pipe(
    z.url('must be a URL like https://flink.example.com').optional(),
  ),
  MESHLOOP_FLINK_SQL_GATEWAY_URL: optionalText.pipe(
    z.url('must be a URL like https://flink-sql.example.com').optional(),
  ),
  MESHLOOP_FLINK_HTTP_HEADERS: optionalText.refine(
    (text) => text === undefined || parseHeaders(text) !== undefined,
    { message: 'must be a JSON object of header names to string values, like {"Authorization":"Bearer …"}' },
  ),
  MESHLOOP_FLINK_KAFKA_PROPERTIES: optionalText.refine(
    (text) => text === undefined || parseHeaders(text) !== undefined,
    {
      message:
        'must be a JSON object of Kafka client properties to string values, like {"sasl.mechanism":"OAUTHBEARER"}',
    },
  ),
};

/** Settings `meshloop config` masks (and logs redact by name). */
export const connectionSecretKeys = [
  'MESHLOOP_KAFKA_SASL_PASSWORD',
  'MESHLOOP_KAFKA_SASL_OAUTH_TOKEN',
  'MESHLOOP_FLINK_HTTP_HEADERS',
  'MESHLOOP_FLINK_KAFKA_PROPERTIES',
] as const;

type ConnectionEnv = z.infer<z.ZodObject<typeof connectionEnvShape>>;

export type KafkaConnection = Readonly<{
  brokers: readonly string[];
  /** Absent: plaintext. The files are read when a client is made. */
  tls?: Readonly<{ caFile?: string; certFile?: string; keyFile?: string }>;
  sasl?: Readonly<
    | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
    | { mechanism: 'oauthbearer'; token: string }
  >;
}>;

export type FlinkEndpoints = Readonly<{
  restUrl: string;
  sqlGatewayUrl: string;
  /** Sent with every REST and SQL Gateway request (a gateway behind a proxy). Secret. */
  headers?: Readonly<Record<string, string>>;
}>;

/**
 * Kafka as Flink's processes reach it: the bootstrap list and the Kafka client properties each
 * Kafka table Meshloop renders gets as `'properties.<key>'` options. The properties hold secrets
 * (SASL JAAS config, a PEM key): they are sent in a SQL Gateway session only, never stored.
 */
export type FlinkKafka = Readonly<{
  bootstrapServers: string;
  properties: Readonly<Record<string, string>>;
}>;

/**
 * The Schema Registry as Flink's `avro-confluent` format reaches it: its URL and its auth options
 * (`basic-auth.*` or `bearer-auth.*`, without the `value.avro-confluent.` prefix). Secret options.
 */
export type FlinkSchemaRegistry = Readonly<{
  url: string;
  options: Readonly<Record<string, string>>;
}>;

/** The string values of a JSON object, or undefined when the text is not one. */
function parseHeaders(text: string): Record<string, string> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    if (!Object.values(value).every((inner) => typeof inner === 'string')) return undefined;
    return value as Record<string, string>;
  } catch {
    return undefined;
  }
}

export function resolveKafka(e: ConnectionEnv, localBroker: string, problems: string[]): KafkaConnection {
  const brokers = e.MESHLOOP_KAFKA_BROKERS?.split(',').map((entry) => entry.trim()) ?? [localBroker];
  const files = {
    ...(e.MESHLOOP_KAFKA_TLS_CA_FILE ? { caFile: path.resolve(e.MESHLOOP_KAFKA_TLS_CA_FILE) } : {}),
    ...(e.MESHLOOP_KAFKA_TLS_CERT_FILE ? { certFile: path.resolve(e.MESHLOOP_KAFKA_TLS_CERT_FILE) } : {}),
    ...(e.MESHLOOP_KAFKA_TLS_KEY_FILE ? { keyFile: path.resolve(e.MESHLOOP_KAFKA_TLS_KEY_FILE) } : {}),
  };
  const tlsFlag =
    e.MESHLOOP_KAFKA_TLS === undefined ? undefined : ['true', '1'].includes(e.MESHLOOP_KAFKA_TLS);
  if (tlsFlag === false && Object.keys(files).length > 0) {
    problems.push(
      'MESHLOOP_KAFKA_TLS: false, but MESHLOOP_KAFKA_TLS_*_FILE are set (remove them or set it true)',
    );
  }
  if (Boolean(files.certFile) !== Boolean(files.keyFile)) {
    problems.push(
      'MESHLOOP_KAFKA_TLS_CERT_FILE, MESHLOOP_KAFKA_TLS_KEY_FILE: a client certificate needs its key, and the key its certificate',
    );
  }
  const tls = (tlsFlag ?? Object.keys(files).length > 0) ? files : undefined;
  const sasl = resolveSasl(e, problems);
  return { brokers, ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) };
}

function resolveSasl(e: ConnectionEnv, problems: string[]): KafkaConnection['sasl'] {
  const mechanism = e.MESHLOOP_KAFKA_SASL_MECHANISM;
  const { MESHLOOP_KAFKA_SASL_USERNAME: username, MESHLOOP_KAFKA_SASL_PASSWORD: password } = e;
  const token = e.MESHLOOP_KAFKA_SASL_OAUTH_TOKEN;
  if (mechanism === undefined) {
    const stray = Object.entries({
      MESHLOOP_KAFKA_SASL_USERNAME: username,
      MESHLOOP_KAFKA_SASL_PASSWORD: password,
      MESHLOOP_KAFKA_SASL_OAUTH_TOKEN: token,
    }).filter(([, value]) => value !== undefined);
    for (const [key] of stray) problems.push(`${key}: set, but MESHLOOP_KAFKA_SASL_MECHANISM is not`);
    return undefined;
  }
  if (mechanism === 'oauthbearer') {
    if (!token)
      problems.push(
        'MESHLOOP_KAFKA_SASL_OAUTH_TOKEN: required with MESHLOOP_KAFKA_SASL_MECHANISM=oauthbearer',
      );
    return token ? { mechanism, token } : undefined;
  }
  if (!username)
    problems.push(`MESHLOOP_KAFKA_SASL_USERNAME: required with MESHLOOP_KAFKA_SASL_MECHANISM=${mechanism}`);
  if (!password)
    problems.push(`MESHLOOP_KAFKA_SASL_PASSWORD: required with MESHLOOP_KAFKA_SASL_MECHANISM=${mechanism}`);
  return username && password ? { mechanism, username, password } : undefined;
}

export function resolveFlink(
  e: ConnectionEnv,
  local: Readonly<{ restPort: number; sqlGatewayPort: number }>,
): FlinkEndpoints {
  const headers = e.MESHLOOP_FLINK_HTTP_HEADERS ? parseHeaders(e.MESHLOOP_FLINK_HTTP_HEADERS) : undefined;
  return {
    restUrl: (e.MESHLOOP_FLINK_REST_URL ?? `http://127.0.0.1:${local.restPort}`).replace(/\/+$/, ''),
    sqlGatewayUrl: (e.MESHLOOP_FLINK_SQL_GATEWAY_URL ?? `http://127.0.0.1:${local.sqlGatewayPort}`).replace(
      /\/+$/,
      '',
    ),
    ...(headers && Object.keys(headers).length > 0 ? { headers } : {}),
  };
}

const saslMechanismNames: Record<NonNullable<KafkaConnection['sasl']>['mechanism'], string> = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
  oauthbearer: 'OAUTHBEARER',
};

/** A JAAS option value, double-quoted (Kafka's JAAS parser reads `\"` and `\\` escapes). */
const jaasQuoted = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Flink's Kafka client properties (kafka-clients 3.4.0, unshaded class names) from Meshloop's own
 * Kafka settings, then MESHLOOP_FLINK_KAFKA_PROPERTIES over them. TLS material is inlined as PEM
 * (read here: Flink's processes may not see our files); a client key is converted to PKCS#8, the
 * only form Kafka's PEM keystore reads. Plaintext without SASL gives no properties at all.
 */
export function resolveFlinkKafka(
  e: ConnectionEnv,
  kafka: KafkaConnection,
  bootstrapServers: string,
  problems: string[],
): FlinkKafka {
  const { tls, sasl } = kafka;
  const properties: Record<string, string> = {
    ...(tls || sasl ? { 'security.protocol': `${sasl ? 'SASL_' : ''}${tls ? 'SSL' : 'PLAINTEXT'}` } : {}),
    ...(tls ? tlsProperties(tls, problems) : {}),
    ...(sasl ? saslProperties(sasl) : {}),
    ...(e.MESHLOOP_FLINK_KAFKA_PROPERTIES ? parseHeaders(e.MESHLOOP_FLINK_KAFKA_PROPERTIES) : {}),
  };
  if (sasl?.mechanism === 'oauthbearer' && !properties['sasl.jaas.config']) {
    problems.push(
      "MESHLOOP_FLINK_KAFKA_PROPERTIES: required with MESHLOOP_KAFKA_SASL_MECHANISM=oauthbearer: Flink's Kafka " +
        'client cannot use a static token; set sasl.jaas.config, sasl.login.callback.handler.class and ' +
        'sasl.oauthbearer.token.endpoint.url (docs/configuration.md shows them)',
    );
  }
  return { bootstrapServers, properties };
}

/** The CA as a PEM truststore; a client certificate and its key as a PEM keystore. */
function tlsProperties(tls: NonNullable<KafkaConnection['tls']>, problems: string[]): Record<string, string> {
  const properties: Record<string, string> = {};
  const ca = tls.caFile ? readPem(tls.caFile, 'MESHLOOP_KAFKA_TLS_CA_FILE', problems) : undefined;
  if (ca) Object.assign(properties, { 'ssl.truststore.type': 'PEM', 'ssl.truststore.certificates': ca });
  if (tls.certFile && tls.keyFile) {
    const chain = readPem(tls.certFile, 'MESHLOOP_KAFKA_TLS_CERT_FILE', problems);
    const key = pkcs8Key(tls.keyFile, problems);
    if (chain && key) {
      Object.assign(properties, {
        'ssl.keystore.type': 'PEM',
        'ssl.keystore.certificate.chain': chain,
        'ssl.keystore.key': key,
      });
    }
  }
  return properties;
}

/** The mechanism and, for PLAIN and SCRAM, the JAAS login (OAUTHBEARER's comes from the JSON setting). */
function saslProperties(sasl: NonNullable<KafkaConnection['sasl']>): Record<string, string> {
  const mechanism = { 'sasl.mechanism': saslMechanismNames[sasl.mechanism] };
  if (sasl.mechanism === 'oauthbearer') return mechanism;
  const module =
    sasl.mechanism === 'plain'
      ? 'org.apache.kafka.common.security.plain.PlainLoginModule'
      : 'org.apache.kafka.common.security.scram.ScramLoginModule';
  return {
    ...mechanism,
    'sasl.jaas.config': `${module} required username=${jaasQuoted(sasl.username)} password=${jaasQuoted(sasl.password)};`,
  };
}

/** A PEM file's text, or a problem naming the setting `key` when it cannot be read or holds no PEM. */
export function readPem(file: string, key: string, problems: string[]): string | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (text.includes('-----BEGIN ')) return text;
    problems.push(`${key}: ${file} holds no PEM block (-----BEGIN ...): give a PEM file`);
  } catch (error) {
    problems.push(`${key}: ${file} cannot be read (${(error as Error).message})`);
  }
  return undefined;
}

function pkcs8Key(file: string, problems: string[]): string | undefined {
  const pem = readPem(file, 'MESHLOOP_KAFKA_TLS_KEY_FILE', problems);
  if (!pem) return undefined;
  try {
    return String(createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' })).trim();
  } catch (error) {
    problems.push(
      `MESHLOOP_KAFKA_TLS_KEY_FILE: ${file} is not an unencrypted private key (${(error as Error).message})`,
    );
    return undefined;
  }
}

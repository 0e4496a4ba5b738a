import { Connection } from '@temporalio/client';
import { createKafkaClient } from '../adapters/kafka/client';
import { FlinkRestClient } from '../adapters/flink/rest';
import { SqlGatewayClient } from '../adapters/flink/sql-gateway';
import {
  checkIcebergCatalog,
  checkObjectStore,
  icebergFix,
  objectStoreFix,
  objectStoreOf,
  objectStoreTarget,
} from './doctor-iceberg';
import type { MeshloopConfig } from '../config';
import { temporalConnectOptions } from '../config';

/** One endpoint checked with its real client. */
export type Check = Readonly<{
  name: string;
  /** The address checked. */
  target: string;
  ok: boolean;
  /** What answered, or what went wrong. */
  detail: string;
  /** When it failed: the settings to look at. */
  fix?: string;
}>;

const checkTimeoutMs = 15_000;

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${checkTimeoutMs / 1000} s`)),
      checkTimeoutMs,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}

async function check(
  name: string,
  target: string,
  run: () => Promise<string>,
  fix: (message: string) => string,
): Promise<Check> {
  try {
    return { name, target, ok: true, detail: await withTimeout(run(), name) };
  } catch (error) {
    const message = messageOf(error).split('\n')[0]!.slice(0, 400);
    return { name, target, ok: false, detail: message, fix: fix(message) };
  }
}

export function temporalFix(message: string, config: MeshloopConfig): string {
  if (/not ?found/i.test(message)) {
    return `namespace '${config.temporal.namespace}' does not exist there: set TEMPORAL_NAMESPACE (or the profile's namespace, or MESHLOOP_TEMPORAL_NAMESPACE for the local platform)`;
  }
  if (/unauthenticated|permission|denied|401|403/i.test(message)) {
    return 'the server refused the credentials: check TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH (or the profile in TEMPORAL_CONFIG_FILE)';
  }
  if (/certificate|tls|ssl|handshake/i.test(message)) {
    return 'TLS failed: check TEMPORAL_TLS, TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME (or the profile)';
  }
  if (config.temporal.connection.tls) {
    return `no TLS connection to Temporal at ${config.temporal.address}: TLS is on (TEMPORAL_TLS, an API key or the profile's tls); check the server offers TLS there, TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME, and TEMPORAL_ADDRESS`;
  }
  return `Temporal is not reachable at ${config.temporal.address}: set TEMPORAL_ADDRESS (or the profile's address; the local platform: MESHLOOP_TEMPORAL_PORT, \`meshloop stack up\`)`;
}

export function kafkaFix(message: string, config: MeshloopConfig): string {
  if (/sasl|authentica/i.test(message)) {
    return 'Kafka refused the login: check MESHLOOP_KAFKA_SASL_MECHANISM, MESHLOOP_KAFKA_SASL_USERNAME and MESHLOOP_KAFKA_SASL_PASSWORD (or MESHLOOP_KAFKA_SASL_OAUTH_TOKEN)';
  }
  if (/certificate|ssl|tls|self.signed|EPROTO/i.test(message)) {
    return 'TLS failed: check MESHLOOP_KAFKA_TLS and MESHLOOP_KAFKA_TLS_CA_FILE (and the client certificate files)';
  }
  if (/authoriz|acl/i.test(message)) {
    return "Meshloop's Kafka user may not describe the cluster or list topics: grant it those ACLs";
  }
  return `no Kafka broker answers at ${config.kafka.brokers.join(',')}: set MESHLOOP_KAFKA_BROKERS (the local platform: MESHLOOP_KAFKA_PORT, \`meshloop stack up\`)`;
}

function httpFix(setting: string, url: string, local: string) {
  return (message: string) =>
    /\b40[13]\b/.test(message)
      ? `the endpoint refused the request: check MESHLOOP_FLINK_HTTP_HEADERS (the proxy's credentials) and ${setting}`
      : `nothing usable answers at ${url}: set ${setting} (the local platform: ${local}, \`meshloop stack up\`)`;
}

async function checkTemporal(config: MeshloopConfig): Promise<string> {
  const connection = await Connection.connect({
    ...temporalConnectOptions(config.temporal.connection),
    connectTimeout: 5000,
  });
  try {
    const { namespaceInfo } = await connection.workflowService.describeNamespace({
      namespace: config.temporal.namespace,
    });
    return `namespace '${namespaceInfo?.name ?? config.temporal.namespace}' described`;
  } finally {
    await connection.close();
  }
}

async function checkKafka(config: MeshloopConfig): Promise<string> {
  const admin = createKafkaClient({
    connection: config.kafka,
    clientId: 'meshloop-doctor',
    retries: 0,
  }).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    const topics = await admin.listTopics();
    return `cluster ${cluster.clusterId}: ${cluster.brokers.length} broker(s), ${topics.length} topic(s)`;
  } finally {
    await admin.disconnect();
  }
}

async function checkGateway(config: MeshloopConfig): Promise<string> {
  const gateway = new SqlGatewayClient({
    url: config.flink.sqlGatewayUrl,
    headers: config.flink.headers,
    requestTimeoutMs: 10_000,
  });
  const session = await gateway.openSession({ name: 'meshloop-doctor', heartbeatIntervalMs: false });
  await session.close();
  return 'session opened and closed';
}

async function checkFlinkRest(config: MeshloopConfig): Promise<string> {
  const rest = new FlinkRestClient({
    url: config.flink.restUrl,
    headers: config.flink.headers,
    requestTimeoutMs: 10_000,
  });
  const overview = await rest.overview();
  return `Flink ${overview['flink-version']}: ${overview.taskmanagers} TaskManager(s), ${overview['slots-available']} free slot(s)`;
}

/** Every configured endpoint, checked at once; the results in a fixed order. */
export function runDoctor(config: MeshloopConfig): Promise<Check[]> {
  const store = objectStoreOf(config);
  return Promise.all([
    check(
      'temporal',
      `${config.temporal.address} (${config.temporal.namespace})`,
      () => checkTemporal(config),
      (m) => temporalFix(m, config),
    ),
    check(
      'kafka',
      config.kafka.brokers.join(','),
      () => checkKafka(config),
      (m) => kafkaFix(m, config),
    ),
    check(
      'flink-sql-gateway',
      config.flink.sqlGatewayUrl,
      () => checkGateway(config),
      httpFix(
        'MESHLOOP_FLINK_SQL_GATEWAY_URL',
        config.flink.sqlGatewayUrl,
        'MESHLOOP_FLINK_SQL_GATEWAY_PORT',
      ),
    ),
    check(
      'flink-rest',
      config.flink.restUrl,
      () => checkFlinkRest(config),
      httpFix('MESHLOOP_FLINK_REST_URL', config.flink.restUrl, 'MESHLOOP_FLINK_REST_PORT'),
    ),
    check(
      'iceberg-catalog',
      config.iceberg.catalogUrl,
      () => checkIcebergCatalog(config),
      (m) => icebergFix(m, config),
    ),
    // Only when the warehouse is on an object store (the local platform's is a folder).
    ...(store
      ? [
          check(
            'object-store',
            objectStoreTarget(store),
            () => checkObjectStore(config, store),
            (m) => objectStoreFix(m, store),
          ),
        ]
      : []),
  ]);
}

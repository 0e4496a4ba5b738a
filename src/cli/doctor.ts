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
import { createSchemaRegistryClient, registryAddress } from '../adapters/schema-registry/client';
import { kafkaFix, registryFix, temporalFix } from './doctor-fixes';
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
  fix: (message: string) => string | Promise<string>,
): Promise<Check> {
  try {
    return { name, target, ok: true, detail: await withTimeout(run(), name) };
  } catch (error) {
    const message = messageOf(error).split('\n')[0]!.slice(0, 400);
    return { name, target, ok: false, detail: message, fix: await fix(message) };
  }
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

async function checkRegistry(config: MeshloopConfig): Promise<string> {
  const client = await createSchemaRegistryClient(config.schemaRegistry, 10_000);
  const subjects = await client.getAllSubjects();
  return `${subjects.length} subject(s)`;
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
      'schema-registry',
      registryAddress(config.schemaRegistry),
      () => checkRegistry(config),
      (m) => registryFix(m, config),
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

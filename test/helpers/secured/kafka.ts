import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from 'kafkajs';
import type { KafkaConnection } from '../../../src/config';
import { kafkaSecurity } from '../../../src/adapters/kafka/client';
import { requireJava } from '../../../src/stack/install';
import { singleNodeBrokerSettings } from '../../../src/stack/services/kafka';
import type { Server } from './servers';
import { startServer, waitUntilReady } from './servers';

/**
 * Kafka in KRaft with one SASL_SSL listener (SCRAM-SHA-512 users made at format time), its
 * controller on a PLAINTEXT loopback listener, and StandardAuthorizer: `admin` is a super user,
 * everyone else gets what ACLs grant.
 */
export type SecuredKafkaOptions = Readonly<{
  libDir: string;
  dir: string;
  port: number;
  controllerPort: number;
  keystoreFile: string;
  caFile: string;
  users: Readonly<Record<string, string>>;
}>;

function properties(o: SecuredKafkaOptions, logDir: string): string {
  const admin = o.users.admin;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${o.controllerPort}`,
    `listeners=SASL_SSL://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=SASL_SSL://127.0.0.1:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=SASL_SSL',
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin}";`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${o.keystoreFile}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${o.caFile}`,
    'ssl.client.auth=none',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    // ANONYMOUS: the controller listener is PLAINTEXT, on loopback only.
    'super.users=User:admin;User:ANONYMOUS',
    'allow.everyone.if.no.acl.found=false',
    'offsets.topic.replication.factor=1',
    // One partition: the offsets topic is made (on the first group lookup) in a moment, not fifty.
    'offsets.topic.num.partitions=1',
    ...singleNodeBrokerSettings(logDir),
  ].join('\n');
}

export async function startSecuredKafka(o: SecuredKafkaOptions): Promise<Server> {
  const java = requireJava('the secured Kafka broker');
  const logDir = path.join(o.dir, 'data');
  fs.mkdirSync(logDir, { recursive: true });
  const propertiesFile = path.join(o.dir, 'server.properties');
  fs.writeFileSync(propertiesFile, properties(o, logDir), { mode: 0o600 });
  const log4j = path.join(o.dir, 'log4j2.properties');
  fs.writeFileSync(
    log4j,
    'rootLogger.level = WARN\nrootLogger.appenderRef.out.ref = OUT\nappender.out.type = Console\nappender.out.name = OUT\nappender.out.layout.type = PatternLayout\nappender.out.layout.pattern = [%d] %p %m (%c)%n\n',
  );
  const jvm = [
    '-Xms128m',
    '-Xmx384m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${o.libDir}/*`,
  ];
  execFileSync(
    java,
    [
      ...jvm,
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      `--cluster-id=${randomBytes(16).toString('base64url')}`,
      '-c',
      propertiesFile,
      ...Object.entries(o.users).flatMap(([name, password]) => [
        '-S',
        `SCRAM-SHA-512=[name=${name},password=${password}]`,
      ]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const server = startServer('secured kafka', java, [...jvm, 'kafka.Kafka', propertiesFile], {
    logFile: path.join(o.dir, 'kafka.log'),
  });
  const admin = securedKafkaClient(
    { port: o.port, caFile: o.caFile, user: 'admin', password: o.users.admin! },
    'secured-probe',
  ).admin();
  await waitUntilReady(
    server,
    async () => {
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        return cluster.controller !== null;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    90_000,
  );
  return server;
}

/**
 * Makes the broker create its offsets topic now (a group coordinator lookup does), so the first
 * consumer group of a test does not meet "the group coordinator is not available" and give up.
 */
export async function awaitGroupCoordinator(kafka: Kafka, timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await admin.describeGroups(['_secured-platform-warm-up']);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

export function securedKafkaConnection(o: {
  port: number;
  caFile: string;
  user: string;
  password: string;
}): KafkaConnection {
  return {
    brokers: [`127.0.0.1:${o.port}`],
    tls: { caFile: o.caFile },
    sasl: { mechanism: 'scram-sha-512', username: o.user, password: o.password },
  };
}

export function securedKafkaClient(
  o: { port: number; caFile: string; user: string; password: string },
  clientId: string,
): Kafka {
  return new Kafka({
    clientId,
    brokers: [`127.0.0.1:${o.port}`],
    ...kafkaSecurity(securedKafkaConnection(o)),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
    retry: { retries: 1 },
  });
}

/**
 * What Meshloop's Kafka user may do, and nothing more:
 * - its own topics (`_meshloop.` prefix: the catalog, proposals, rejected records): everything;
 * - the domain topics under `topicPrefix`: create (seed, product outputs), describe and describe
 *   configs (discovery), read (discovery, product jobs), write (seed, product jobs), alter configs;
 * - consumer groups `_meshloop-` (its samplers and catalog readers, deleted after use) and
 *   `meshloop-` (the Flink jobs' Kafka sources, read_committed): read, describe, delete;
 * - the cluster: describe (doctor).
 * - transactional ids `meshloop-create.` (product jobs write their topics exactly once, in Kafka
 *   transactions): write, describe.
 */
export async function grantMeshloop(admin: Kafka, principal: string, topicPrefix: string): Promise<void> {
  const client = admin.admin();
  await client.connect();
  const acl = (
    resourceType: AclResourceTypes,
    resourceName: string,
    operation: AclOperationTypes,
    resourcePatternType = ResourcePatternTypes.PREFIXED,
  ) => ({
    resourceType,
    resourceName,
    resourcePatternType,
    principal: `User:${principal}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const domainOps = [
    AclOperationTypes.CREATE,
    AclOperationTypes.DESCRIBE,
    AclOperationTypes.DESCRIBE_CONFIGS,
    AclOperationTypes.ALTER_CONFIGS,
    AclOperationTypes.READ,
    AclOperationTypes.WRITE,
  ];
  const groupOps = [AclOperationTypes.READ, AclOperationTypes.DESCRIBE, AclOperationTypes.DELETE];
  try {
    await client.createAcls({
      acl: [
        acl(AclResourceTypes.TOPIC, '_meshloop.', AclOperationTypes.ALL),
        ...domainOps.map((op) => acl(AclResourceTypes.TOPIC, topicPrefix, op)),
        ...groupOps.map((op) => acl(AclResourceTypes.GROUP, '_meshloop-', op)),
        ...groupOps.map((op) => acl(AclResourceTypes.GROUP, 'meshloop-', op)),
        ...[AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE].map((op) =>
          acl(AclResourceTypes.TRANSACTIONAL_ID, 'meshloop-create.', op),
        ),
        acl(
          AclResourceTypes.CLUSTER,
          'kafka-cluster',
          AclOperationTypes.DESCRIBE,
          ResourcePatternTypes.LITERAL,
        ),
      ],
    });
  } finally {
    await client.disconnect();
  }
}

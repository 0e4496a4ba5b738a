import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { MeshloopConfig } from '../../src/config';
import { searchAttributeFlags } from '../../src/domain/search-attributes';
import { kafkaLibDir } from '../../src/stack/services/kafka';
import { resolveTemporalBinary } from '../../src/stack/services/temporal';
import { testPlatform } from './platform';
import type { TestCertificates } from './secured/certificates';
import { makeTestCertificates } from './secured/certificates';
import { awaitGroupCoordinator, grantMeshloop, securedKafkaClient, startSecuredKafka } from './secured/kafka';
import { ensureNginx, startTlsFront } from './secured/nginx';
import type { Server } from './secured/servers';
import { startServer, stopServer, waitUntilReady } from './secured/servers';

/**
 * A second, secured platform beside the default test platform, on ports 5000-5999 shifted by
 * MESHLOOP_TEST_PORT_OFFSET (15000-15999 by default), so two test runs on other offsets never collide:
 * - Kafka 4.1.1 (the local stack's cached jars) in KRaft with one SASL_SSL listener (SCRAM-SHA-512),
 *   StandardAuthorizer, super user `admin`, and ACLs that give the `meshloop` user only what it needs;
 * - Temporal reached over TLS only: a second `temporal server start-dev` (plaintext, loopback) behind
 *   Debian's nginx terminating TLS with HTTP/2 (ALPN h2) and proxying gRPC;
 * - the Schema Registry over TLS with HTTP basic auth: the default test platform's Apicurio behind the
 *   same nginx (credentials checked by nginx, which the registry then never sees);
 * - a CA and a server certificate (localhost, 127.0.0.1) made by the harness with openssl.
 * Started once per run on first use, stopped by the root hooks; its data in a temp dir.
 * `profile` is every setting Meshloop needs to use it (also written as a .env file).
 */
const portOffset = Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000);
export const securedPorts = {
  kafka: 5092 + portOffset,
  kafkaController: 5093 + portOffset,
  temporalPlain: 5233 + portOffset,
  temporalTls: 5433 + portOffset,
  registryTls: 5443 + portOffset,
} as const;

/** The domain topic prefix Meshloop's Kafka user is granted (tests put their topics under it). */
export const SECURED_TOPIC_PREFIX = 'sec_';
export const SECURED_NAMESPACE = 'secured';

export type SecuredPlatform = Readonly<{
  dir: string;
  certificates: TestCertificates;
  /** The settings that point Meshloop at this platform (secrets included). */
  profile: Readonly<Record<string, string>>;
  /** The same settings as a .env file. */
  envFile: string;
  /** Kafka's super user, for test set-up the meshloop user may not do. */
  kafkaAdmin: Readonly<{ user: string; password: string }>;
  /** Seconds it took to start. */
  startSeconds: number;
}>;

const secret = () => randomBytes(12).toString('base64url');

let platform: Promise<SecuredPlatform> | undefined;
const servers: Server[] = [];
/** Its data, removed by the stop even when the start failed half-way. */
let dataDir: string | undefined;

async function startTemporal(config: MeshloopConfig, dir: string): Promise<Server> {
  const binary = await resolveTemporalBinary(config.stack, () => undefined);
  const server = startServer(
    'secured temporal',
    binary.path,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(securedPorts.temporalPlain),
      '--headless',
      '--namespace',
      SECURED_NAMESPACE,
      '--log-level',
      'warn',
      ...searchAttributeFlags.flatMap((flag) => ['--search-attribute', flag]),
    ],
    { logFile: path.join(dir, 'temporal.log') },
  );
  await waitUntilReady(
    server,
    async () => {
      const connection = await Connection.connect({
        address: `127.0.0.1:${securedPorts.temporalPlain}`,
        connectTimeout: 1000,
      });
      try {
        await connection.workflowService.describeNamespace({ namespace: SECURED_NAMESPACE });
        return true;
      } finally {
        await connection.close();
      }
    },
    60_000,
  );
  return server;
}

function writeEnvFile(file: string, profile: Record<string, string>): void {
  const lines = Object.entries(profile).map(([key, value]) => `${key}=${value}`);
  fs.writeFileSync(
    file,
    `# The secured test platform (test/helpers/secured-platform.ts)\n${lines.join('\n')}\n`,
    {
      mode: 0o600,
    },
  );
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function start(): Promise<SecuredPlatform> {
  const taken = [];
  for (const port of Object.values(securedPorts)) if (!(await portFree(port))) taken.push(port);
  if (taken.length > 0) {
    throw new Error(
      `the secured test platform's ports ${taken.join(', ')} are taken: a secured platform of an earlier, killed run may still be running; stop the processes listening there`,
    );
  }
  const config = await testPlatform();
  const began = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-secured-'));
  dataDir = dir;
  const log = (message: string) => process.stderr.write(`      [secured platform] ${message}\n`);
  const nginx = ensureNginx(config.stack.cacheDir);
  const certificates = makeTestCertificates(path.join(dir, 'tls'));
  const passwords = { admin: secret(), meshloop: secret(), registry: secret() };
  const kafkaDir = path.join(dir, 'kafka');
  fs.mkdirSync(kafkaDir);
  const temporalDir = path.join(dir, 'temporal');
  fs.mkdirSync(temporalDir);
  await Promise.all([
    startSecuredKafka({
      libDir: kafkaLibDir(config.stack),
      dir: kafkaDir,
      port: securedPorts.kafka,
      controllerPort: securedPorts.kafkaController,
      keystoreFile: certificates.serverKeystoreFile,
      caFile: certificates.caFile,
      users: { admin: passwords.admin, meshloop: passwords.meshloop },
    }).then((server) => (servers.push(server), server)),
    startTemporal(config, temporalDir).then((server) => (servers.push(server), server)),
  ]);
  const adminClient = securedKafkaClient(
    { port: securedPorts.kafka, caFile: certificates.caFile, user: 'admin', password: passwords.admin },
    'secured-setup',
  );
  await grantMeshloop(adminClient, 'meshloop', SECURED_TOPIC_PREFIX);
  await awaitGroupCoordinator(adminClient);
  servers.push(
    await startTlsFront(nginx, path.join(dir, 'nginx'), {
      grpc: { listenPort: securedPorts.temporalTls, upstreamPort: securedPorts.temporalPlain },
      http: {
        listenPort: securedPorts.registryTls,
        upstreamPort: config.stack.schemaRegistry.port,
        user: 'meshloop',
        password: passwords.registry,
      },
      certFile: certificates.serverCertFile,
      keyFile: certificates.serverKeyFile,
    }),
  );
  const profile = {
    TEMPORAL_ADDRESS: `127.0.0.1:${securedPorts.temporalTls}`,
    TEMPORAL_NAMESPACE: SECURED_NAMESPACE,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certificates.caFile,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    MESHLOOP_KAFKA_BROKERS: `127.0.0.1:${securedPorts.kafka}`,
    MESHLOOP_KAFKA_TLS_CA_FILE: certificates.caFile,
    MESHLOOP_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    MESHLOOP_KAFKA_SASL_USERNAME: 'meshloop',
    MESHLOOP_KAFKA_SASL_PASSWORD: passwords.meshloop,
    MESHLOOP_SCHEMA_REGISTRY_URL: `https://localhost:${securedPorts.registryTls}/apis/ccompat/v7`,
    MESHLOOP_SCHEMA_REGISTRY_USER: 'meshloop',
    MESHLOOP_SCHEMA_REGISTRY_PASSWORD: passwords.registry,
    MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: certificates.caFile,
    // Flink and the Iceberg catalog: the default test platform's (not secured here).
    MESHLOOP_FLINK_REST_URL: config.flink.restUrl,
    MESHLOOP_FLINK_SQL_GATEWAY_URL: config.flink.sqlGatewayUrl,
    MESHLOOP_ICEBERG_REST_PORT: String(config.stack.iceberg.port),
  };
  const envFile = path.join(dir, 'secured.env');
  writeEnvFile(envFile, profile);
  const startSeconds = (Date.now() - began) / 1000;
  log(`ready in ${startSeconds.toFixed(1)} s (${dir})`);
  return {
    dir,
    certificates,
    profile,
    envFile,
    kafkaAdmin: { user: 'admin', password: passwords.admin },
    startSeconds,
  };
}

/** The secured platform, started on first use (and the default test platform with it). */
export function securedPlatform(): Promise<SecuredPlatform> {
  platform ??= start();
  return platform;
}

/** Stops what `securedPlatform()` started and removes its data; a no-op when it never started. */
export async function stopSecuredPlatform(): Promise<void> {
  if (!platform) return;
  await platform.catch(() => undefined);
  await Promise.all(servers.splice(0).map((server) => stopServer(server)));
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
  platform = undefined;
}

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { StackConfig } from '../../config';
import { ensureMavenLibs, requireJava, runLongStep } from '../install';
import type { ServiceContext, ServiceDefinition } from '../types';
import { StackError } from '../types';

/** The slf4j → log4j2 binding ships only in Kafka's tarball; without it the broker logs nothing. */
const LOG4J_VERSION = '2.25.3';

export const kafkaLibDir = (config: StackConfig) =>
  path.join(config.cacheDir, `kafka-${config.kafka.version}`, 'lib');

const log4jConfig = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
`;

function serverProperties(config: StackConfig, logDir: string): string {
  const { port, controllerPort } = config.kafka;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'offsets.topic.replication.factor=1',
    ...singleNodeBrokerSettings(logDir),
  ].join('\n');
}

/** A one-node broker's settings whatever its listeners (the secured test broker shares them). */
export function singleNodeBrokerSettings(logDir: string): string[] {
  return [
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    // Product jobs write in transactions of up to 15 min (src/creation/job-sql.ts, TRANSACTION_TIMEOUT_MS).
    'transaction.max.timeout.ms=900000',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.partitions=1',
    'auto.create.topics.enable=false',
    `log.dirs=${logDir}`,
    '',
  ];
}

export const kafkaService: ServiceDefinition = {
  name: 'kafka',
  title: 'Kafka broker (KRaft)',
  ports: (config) => [
    { port: config.kafka.port, setting: 'MESHLOOP_KAFKA_PORT' },
    { port: config.kafka.controllerPort, setting: 'MESHLOOP_KAFKA_CONTROLLER_PORT' },
  ],
  urls: (config) => ({ bootstrap: `127.0.0.1:${config.kafka.port}` }),
  async install(ctx) {
    requireJava('the Kafka broker');
    await ensureMavenLibs({
      dir: path.dirname(kafkaLibDir(ctx.config)),
      artifacts: [
        { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: ctx.config.kafka.version },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
      ],
      label: `Kafka ${ctx.config.kafka.version}`,
      service: 'kafka',
      progress: ctx.progress,
    });
  },
  async prepare(ctx: ServiceContext) {
    const java = requireJava('the Kafka broker');
    const stateDir = ctx.paths.stateDir;
    const logDir = path.join(stateDir, 'data');
    await fsp.mkdir(logDir, { recursive: true });
    const propertiesFile = path.join(stateDir, 'server.properties');
    const log4jFile = path.join(stateDir, 'log4j2.properties');
    await fsp.writeFile(propertiesFile, serverProperties(ctx.config, logDir));
    await fsp.writeFile(log4jFile, log4jConfig);
    const classpath = `${kafkaLibDir(ctx.config)}/*`;
    const jvm = [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      `-Dlog4j2.configurationFile=${log4jFile}`,
      '-cp',
      classpath,
    ];

    // KRaft storage is formatted once; the controller's address is written into it, so a later port
    // change needs a fresh data directory.
    const formatted = path.join(stateDir, 'formatted.json');
    if (fs.existsSync(path.join(logDir, 'meta.properties'))) {
      const recorded = JSON.parse(await fsp.readFile(formatted, 'utf8').catch(() => '{}')) as {
        controllerPort?: number;
      };
      if (
        recorded.controllerPort !== undefined &&
        recorded.controllerPort !== ctx.config.kafka.controllerPort
      ) {
        throw new StackError(
          `its storage was formatted for controller port ${recorded.controllerPort}, not ${ctx.config.kafka.controllerPort}. ` +
            'Set MESHLOOP_KAFKA_CONTROLLER_PORT back, or run `meshloop stack down --purge` to start with empty data.',
          'kafka',
        );
      }
    } else {
      const clusterId = randomBytes(16).toString('base64url');
      await runLongStep(
        'Formatting Kafka storage (once)',
        java,
        [
          ...jvm,
          'kafka.tools.StorageTool',
          'format',
          '--standalone',
          // One argument: a base64url id may start with '-', which the tool would read as an option.
          `--cluster-id=${clusterId}`,
          '-c',
          propertiesFile,
          '-g',
        ],
        { logFile: ctx.paths.logFile, progress: ctx.progress, service: 'kafka' },
      );
      await fsp.writeFile(
        formatted,
        JSON.stringify({ clusterId, controllerPort: ctx.config.kafka.controllerPort }),
      );
    }
    return { command: java, args: [...jvm, 'kafka.Kafka', propertiesFile] };
  },
  async probe(ctx) {
    const kafka = new Kafka({
      clientId: 'meshloop-stack-probe',
      brokers: [`127.0.0.1:${ctx.config.kafka.port}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 2000,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 && cluster.controller !== null;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },
};

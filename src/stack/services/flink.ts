import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { StackConfig } from '../../config';
import { ensureParserJar } from '../flink-udf';
import type { MavenArtifact } from '../install';
import { ensureMavenLibs, requireJava } from '../install';
import { httpOk, portOpen } from '../probe';
import { delay, isOurs, readRunRecord } from '../process';
import type { LaunchPlan, ServiceContext, ServiceDefinition } from '../types';
import { StackError } from '../types';

/**
 * A Flink 1.20 session cluster as three processes (JobManager, one TaskManager, SQL Gateway), all on
 * one classpath built from Maven Central module jars: `flink-dist` is not published there (FLINK-29497).
 */

/** The newest Kafka connector for Flink 1.20 in Maven Central's metadata. Its `flink-sql-connector-kafka`
 * fat jar answered 404 from the Central we reach, so we take the plain connector (the same `kafka` table
 * factory) and its `kafka-clients` dependency. */
export const FLINK_KAFKA_CONNECTOR_VERSION = '3.4.0-1.20';
/** Iceberg's Flink runtime needs Hadoop classes even for `file:` warehouses; the shaded client jars avoid
 * dragging Hadoop's own dependency tree (and its Jetty, Guava, Jackson) onto Flink's classpath. */
export const FLINK_HADOOP_VERSION = '3.4.1';
const LOG4J_VERSION = '2.24.3';
/** Flink's `avro-confluent` format (Avro through a Schema Registry), shaded with its Avro and registry
 * client. The newest 1.20 build on Maven Central is 1.20.0; the format's API is unchanged across 1.20.x. */
export const FLINK_AVRO_CONFLUENT_VERSION = '1.20.0';

/** Where the TaskManager keeps the resource id of its current run; the readiness probe looks for it. */
const taskManagerIdFile = (ctx: ServiceContext) => path.join(ctx.paths.stateDir, 'resource-id');

/**
 * What Flink's own `config.yaml` puts in `env.java.opts.all` for Java 17: Flink (Kryo, Pekko, the
 * planner's code generation) reflects into these JDK internals. A bare `java` command must pass them.
 */
const JAVA_17_OPENS = [
  '--add-exports=java.base/sun.net.util=ALL-UNNAMED',
  '--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED',
  '--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED',
  '--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED',
  ...[
    'java.lang',
    'java.net',
    'java.io',
    'java.nio',
    'sun.nio.ch',
    'java.lang.reflect',
    'java.text',
    'java.time',
    'java.util',
    'java.util.concurrent',
    'java.util.concurrent.atomic',
    'java.util.concurrent.locks',
  ].map((pkg) => `--add-opens=java.base/${pkg}=ALL-UNNAMED`),
];

function flinkArtifacts(config: StackConfig): { artifacts: MavenArtifact[]; standalone: MavenArtifact[] } {
  const flink = (artifactId: string): MavenArtifact => ({
    groupId: 'org.apache.flink',
    artifactId,
    version: config.flink.version,
  });
  return {
    artifacts: [
      flink('flink-clients'),
      flink('flink-runtime-web'), // the Web UI
      flink('flink-table-api-java-bridge'),
      flink('flink-table-runtime'),
      // The planner with its Scala hidden in its own class loader, as flink-dist ships it.
      flink('flink-table-planner-loader'),
      flink('flink-sql-gateway'),
      flink('flink-connector-files'),
      flink('flink-json'),
      flink('flink-csv'),
      {
        groupId: 'org.apache.flink',
        artifactId: 'flink-connector-kafka',
        version: FLINK_KAFKA_CONNECTOR_VERSION,
      },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
      { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-1.2-api', version: LOG4J_VERSION },
    ],
    // Shaded jars: their declared dependencies are already inside them.
    standalone: [
      {
        groupId: 'org.apache.iceberg',
        artifactId: 'iceberg-flink-runtime-1.20',
        version: config.iceberg.version,
      },
      { groupId: 'org.apache.hadoop', artifactId: 'hadoop-client-api', version: FLINK_HADOOP_VERSION },
      { groupId: 'org.apache.hadoop', artifactId: 'hadoop-client-runtime', version: FLINK_HADOOP_VERSION },
      // S3FileIO for Iceberg tables on an S3-compatible object store.
      { groupId: 'org.apache.iceberg', artifactId: 'iceberg-aws-bundle', version: config.iceberg.version },
      {
        groupId: 'org.apache.flink',
        artifactId: 'flink-sql-avro-confluent-registry',
        version: FLINK_AVRO_CONFLUENT_VERSION,
      },
    ],
  };
}

/** The cache folder is keyed by Flink's version and a hash of the whole jar list, so changing any
 * connector version builds a fresh lib/ instead of reusing a stale one. */
export function flinkHome(config: StackConfig): string {
  const { artifacts, standalone } = flinkArtifacts(config);
  const key = createHash('sha256')
    .update(JSON.stringify([artifacts, standalone]))
    .digest('hex')
    .slice(0, 8);
  return path.join(config.cacheDir, `flink-${config.flink.version}-${key}`);
}

const installs = new Map<string, Promise<string>>();

/** One download per cache folder even when several Flink services install at once. */
function ensureFlinkLibs(ctx: ServiceContext): Promise<string> {
  const dir = flinkHome(ctx.config);
  let pending = installs.get(dir);
  if (!pending) {
    const { artifacts, standalone } = flinkArtifacts(ctx.config);
    pending = ensureMavenLibs({
      dir,
      artifacts,
      standaloneArtifacts: standalone,
      label: `Flink ${ctx.config.flink.version} (with the Kafka connector and Iceberg ${ctx.config.iceberg.version})`,
      service: 'flink',
      progress: ctx.progress,
    });
    pending.catch(() => installs.delete(dir));
    installs.set(dir, pending);
  }
  return pending;
}

/** Checkpoints and savepoints are shared by JobManager and TaskManager: one folder for the cluster. */
export function flinkSharedDir(config: StackConfig): string {
  return path.join(config.dataDir, 'flink');
}

/**
 * The TaskManager grows with its slots: every job runs at parallelism 1 in one slot (its operators
 * share it), with heap state, a Kafka consumer and producers, and a few network buffers. A product
 * takes two slots (its creation job and its materialization). `slotMemoryMb` per slot on top of a
 * 1 GB base (metaspace, framework, JVM overhead); network buffers 32 MB + 4 MB per slot: a job at
 * parallelism 1 exchanges through at most one shuffle (about 1 MB of buffers). Measured per job by
 * `npm run bench:capacity` and written out in docs/capacity.md.
 */
export function taskManagerMemory(slots: number, slotMemoryMb = 48): Record<string, string> {
  const network = 32 + 4 * slots;
  return {
    'taskmanager.memory.process.size': `${1024 + slotMemoryMb * slots}m`,
    // Managed memory serves batch sorts/joins and RocksDB; our jobs are small and use heap state.
    'taskmanager.memory.managed.size': '128m',
    'taskmanager.memory.network.min': `${network}m`,
    'taskmanager.memory.network.max': `${network}m`,
  };
}

function flinkConfig(ctx: ServiceContext, extra: Record<string, string>): string {
  const { flink } = ctx.config;
  const shared = flinkSharedDir(ctx.config);
  const tmp = path.join(ctx.paths.stateDir, 'tmp');
  const entries: Record<string, string | number> = {
    'jobmanager.rpc.address': '127.0.0.1',
    'jobmanager.rpc.port': flink.rpcPort,
    'jobmanager.bind-host': '127.0.0.1',
    'taskmanager.bind-host': '127.0.0.1',
    'taskmanager.host': '127.0.0.1',
    'rest.address': '127.0.0.1',
    'rest.bind-address': '127.0.0.1',
    'rest.port': flink.restPort,
    // Sized for a 2-core, 24 GB machine shared with Kafka, Temporal and the catalog.
    'jobmanager.memory.process.size': '900m',
    ...taskManagerMemory(flink.taskSlots, flink.slotMemoryMb),
    'taskmanager.numberOfTaskSlots': flink.taskSlots,
    // A job the cluster has no slot for fails after this (and is seen waiting before: describe's
    // waitingForSlot) instead of pending for Flink's default five minutes per attempt.
    'slot.request.timeout': '120s',
    // The TaskManager starts together with the JobManager; retry registration every second rather than
    // Flink's default 10 s pause after a refused connection.
    'cluster.registration.error-delay': '1s',
    'cluster.registration.refused-registration-delay': '1s',
    'cluster.registration.max-timeout': '5s',
    'parallelism.default': 1,
    // The Iceberg sink commits on checkpoints: a few seconds keeps tables fresh without churn.
    'execution.checkpointing.interval': '5s',
    'execution.checkpointing.dir': `file://${path.join(shared, 'checkpoints')}`,
    'execution.checkpointing.savepoint-dir': `file://${path.join(shared, 'savepoints')}`,
    'io.tmp.dirs': tmp,
    'blob.storage.directory': path.join(tmp, 'blobs'),
    'web.tmpdir': path.join(tmp, 'web'),
    // No jar upload or run through the REST API or Web UI (/jars/upload, /jars/:id/run): any local process
    // reaches that port, and a jar is code. Meshloop submits SQL through the Gateway only.
    'web.submit.enable': 'false',
    'web.upload.dir': path.join(tmp, 'web', 'no-uploads'),
    'execution.target': 'remote',
    'sql-gateway.endpoint.rest.address': '127.0.0.1',
    'sql-gateway.endpoint.rest.bind-address': '127.0.0.1',
    'sql-gateway.endpoint.rest.port': flink.sqlGatewayPort,
    ...extra,
  };
  return `${Object.entries(entries)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join('\n')}\n`;
}

const log4jConfig = `rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c{1} - %m%n
# Kafka clients and Hadoop log every connection and config dump at INFO.
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
`;

/** Write this process's config folder (each Flink process gets its own, from the same settings). */
async function writeFlinkConf(ctx: ServiceContext, extra: Record<string, string>): Promise<string> {
  const confDir = path.join(ctx.paths.stateDir, 'conf');
  await fsp.mkdir(confDir, { recursive: true });
  await fsp.mkdir(path.join(ctx.paths.stateDir, 'tmp'), { recursive: true });
  await fsp.mkdir(flinkSharedDir(ctx.config), { recursive: true });
  await fsp.writeFile(path.join(confDir, 'config.yaml'), flinkConfig(ctx, extra));
  await fsp.writeFile(path.join(confDir, 'log4j2.properties'), log4jConfig);
  return confDir;
}

/**
 * Flink's start scripts compute the JVM memory flags and the matching `-D` settings with BashJavaUtils;
 * the TaskManager refuses to start without them. We do what `taskmanager.sh`/`jobmanager.sh` do.
 */
async function memoryParams(
  java: string,
  classpath: string,
  confDir: string,
  command: 'GET_JM_RESOURCE_PARAMS' | 'GET_TM_RESOURCE_PARAMS',
  service: string,
): Promise<{ jvm: string[]; dynamic: string[] }> {
  let output: string;
  try {
    const { stdout } = await promisify(execFile)(java, [
      ...CONTROL_PLANE_JIT,
      '-XX:+UseSerialGC',
      '-cp',
      classpath,
      'org.apache.flink.runtime.util.bash.BashJavaUtils',
      command,
      '--configDir',
      confDir,
    ]);
    output = stdout;
  } catch (error) {
    throw new StackError(`computing memory settings failed: ${(error as Error).message}`, service);
  }
  const results = output
    .split('\n')
    .filter((line) => line.startsWith('BASH_JAVA_UTILS_EXEC_RESULT:'))
    .map((line) => line.slice('BASH_JAVA_UTILS_EXEC_RESULT:'.length).trim());
  if (results.length < 2) {
    throw new StackError(`unexpected BashJavaUtils output:\n${output.slice(-2000)}`, service);
  }
  return { jvm: results[0]!.split(/\s+/), dynamic: results[1]!.split(/\s+/) };
}

/**
 * The JobManager, the SQL Gateway and BashJavaUtils coordinate and plan; they never run the data path.
 * The C1 compiler alone cuts their start-up CPU by about 40% (measured: JobManager 8.5 → 5.1 CPU-s),
 * which matters on two cores where every JVM of the platform starts at once. The TaskManager keeps C2.
 */
const CONTROL_PLANE_JIT = ['-XX:TieredStopAtLevel=1'];

async function javaPlan(
  ctx: ServiceContext,
  service: string,
  mainClass: string,
  memory: 'GET_JM_RESOURCE_PARAMS' | 'GET_TM_RESOURCE_PARAMS' | { heap: string },
  options: { args?: readonly string[]; jit?: readonly string[]; config?: Record<string, string> } = {},
): Promise<LaunchPlan> {
  const java = requireJava(`Flink (${service})`);
  const lib = await ensureFlinkLibs(ctx);
  const confDir = await writeFlinkConf(ctx, options.config ?? {});
  const classpath = `${lib}/*`;
  const { jvm, dynamic } =
    typeof memory === 'string'
      ? await memoryParams(java, classpath, confDir, memory, service)
      : { jvm: [`-Xms128m`, `-Xmx${memory.heap}`], dynamic: [] };
  return {
    command: java,
    args: [
      ...jvm,
      ...JAVA_17_OPENS,
      ...(options.jit ?? []),
      // Two cores: a serial collector keeps GC threads and footprint small for these small heaps.
      '-XX:+UseSerialGC',
      `-Djava.io.tmpdir=${path.join(ctx.paths.stateDir, 'tmp')}`,
      `-Dlog4j.configurationFile=${path.join(confDir, 'log4j2.properties')}`,
      // The Web UI shows the JobManager's and TaskManager's logs from this file.
      `-Dlog.file=${ctx.paths.logFile}`,
      '-cp',
      classpath,
      mainClass,
      ...(options.args ?? []),
      ...(typeof memory === 'string' ? ['--configDir', confDir] : []),
      ...dynamic,
    ],
    env: { FLINK_CONF_DIR: confDir },
    cwd: ctx.paths.stateDir,
  };
}

/**
 * The TaskManager and the Gateway start alongside the JobManager, not after it is healthy; but they
 * must never join a JobManager we did not start (another platform on the same ports). Wait until our
 * JobManager has been launched (its run record is ours); a JobManager port already open without
 * such a record belongs to someone else.
 */
async function awaitOurJobManager(ctx: ServiceContext, service: string): Promise<void> {
  // The run-record path convention of src/stack/stack.ts (servicePaths), for the JobManager.
  const runFile = path.join(ctx.config.dataDir, 'run', 'flink-jobmanager.json');
  const { rpcPort, restPort } = ctx.config.flink;
  const deadline = Date.now() + ctx.config.readyTimeoutMs;
  for (;;) {
    const record = await readRunRecord(runFile);
    if (record && isOurs(record)) return;
    if ((await portOpen(rpcPort)) || (await portOpen(restPort))) {
      throw new StackError(
        `the JobManager's ports (${rpcPort}, ${restPort}) answer, but Meshloop did not start that JobManager; ` +
          'not joining a foreign cluster. Stop it, or choose other ports (MESHLOOP_FLINK_RPC_PORT, MESHLOOP_FLINK_REST_PORT).',
        service,
      );
    }
    if (Date.now() > deadline) {
      throw new StackError(
        'our Flink JobManager was not started; run `meshloop stack up` to see why',
        service,
      );
    }
    await delay(250);
  }
}

async function fetchJson(url: string): Promise<unknown> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

export const flinkJobManagerService: ServiceDefinition = {
  name: 'flink-jobmanager',
  title: 'Flink JobManager (session cluster, Web UI)',
  ports: (config) => [
    { port: config.flink.restPort, setting: 'MESHLOOP_FLINK_REST_PORT' },
    { port: config.flink.rpcPort, setting: 'MESHLOOP_FLINK_RPC_PORT' },
  ],
  urls: (config) => ({ ui: `http://127.0.0.1:${config.flink.restPort}` }),
  async install(ctx) {
    requireJava('Flink');
    await ensureFlinkLibs(ctx);
  },
  prepare: (ctx) =>
    javaPlan(
      ctx,
      'flink-jobmanager',
      'org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint',
      'GET_JM_RESOURCE_PARAMS',
      { jit: CONTROL_PLANE_JIT },
    ),
  async probe(ctx) {
    const overview = (await fetchJson(`http://127.0.0.1:${ctx.config.flink.restPort}/overview`)) as
      { 'flink-version'?: string } | undefined;
    return overview?.['flink-version'] === ctx.config.flink.version;
  },
};

export const flinkTaskManagerService: ServiceDefinition = {
  name: 'flink-taskmanager',
  title: 'Flink TaskManager',
  // Not dependsOn the JobManager: it keeps retrying to register (quickly, see cluster.registration.*),
  // so both JVMs warm up at the same time instead of one after the other.
  startsWith: ['flink-jobmanager'],
  ports: () => [], // its RPC and data ports are chosen by the OS: nothing to collide with
  urls: (config) => ({ ui: `http://127.0.0.1:${config.flink.restPort}/#/task-manager` }),
  async install(ctx) {
    await ensureFlinkLibs(ctx);
  },
  async prepare(ctx) {
    await awaitOurJobManager(ctx, 'flink-taskmanager');
    // A fresh id per run: the probe then recognises this very process, never another platform's
    // TaskManager nor a stale registration of an earlier run.
    const resourceId = `meshloop-taskmanager-${randomBytes(4).toString('hex')}`;
    await fsp.mkdir(ctx.paths.stateDir, { recursive: true });
    await fsp.writeFile(taskManagerIdFile(ctx), resourceId);
    return javaPlan(
      ctx,
      'flink-taskmanager',
      'org.apache.flink.runtime.taskexecutor.TaskManagerRunner',
      'GET_TM_RESOURCE_PARAMS',
      {
        config: { 'taskmanager.resource-id': resourceId },
      },
    );
  },
  /** Healthy when this TaskManager has registered its slots with our JobManager. */
  async probe(ctx) {
    const resourceId = await fsp.readFile(taskManagerIdFile(ctx), 'utf8').catch(() => undefined);
    if (!resourceId) return false;
    const body = (await fetchJson(`http://127.0.0.1:${ctx.config.flink.restPort}/taskmanagers`)) as
      { taskmanagers?: Array<{ id: string; slotsNumber: number }> } | undefined;
    return (body?.taskmanagers ?? []).some((tm) => tm.id === resourceId && tm.slotsNumber > 0);
  },
};

export const flinkSqlGatewayService: ServiceDefinition = {
  name: 'flink-sql-gateway',
  title: 'Flink SQL Gateway (REST)',
  // Needs the JobManager only when a statement runs, so it starts alongside it.
  startsWith: ['flink-jobmanager'],
  ports: (config) => [{ port: config.flink.sqlGatewayPort, setting: 'MESHLOOP_FLINK_SQL_GATEWAY_PORT' }],
  urls: (config) => ({ rest: `http://127.0.0.1:${config.flink.sqlGatewayPort}/v3` }),
  async install(ctx) {
    // Materialization jobs register our JSON parser from this jar (src/stack/flink-udf.ts).
    await ensureParserJar(ctx.config, await ensureFlinkLibs(ctx));
  },
  // The gateway reads its settings from FLINK_CONF_DIR; the address flag mirrors Flink's sql-gateway.sh.
  async prepare(ctx) {
    await awaitOurJobManager(ctx, 'flink-sql-gateway');
    return javaPlan(
      ctx,
      'flink-sql-gateway',
      'org.apache.flink.table.gateway.SqlGateway',
      { heap: '512m' },
      {
        args: ['-Dsql-gateway.endpoint.rest.address=127.0.0.1'],
        jit: CONTROL_PLANE_JIT,
      },
    );
  },
  async probe(ctx) {
    return httpOk(`http://127.0.0.1:${ctx.config.flink.sqlGatewayPort}/v3/info`);
  },
};

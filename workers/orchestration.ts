import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { FlinkRestClient, SqlGatewayClient } from '../src/adapters/flink';
import { createKafkaClient } from '../src/adapters/kafka/client';
import { valueSchemaLookup } from '../src/adapters/schema-registry/client';
import { flinkSessionSecrets } from '../src/materialize/flink-catalog';
import { createIdempotentProducer } from '../src/adapters/kafka/producer';
import { createLlmClient } from '../src/adapters/llm/client';
import { createSlackWebClient } from '../src/adapters/slack';
import { analysisLakeFromConfig } from '../src/analysis/cycle-service';
import { dataConverterFor } from '../src/codec/payload-codec';
import type { MeshloopConfig } from '../src/config';
import type { Logger } from '../src/log';
import { lineageEmitterOf } from '../src/lineage';
import { createMaterializers } from '../src/materialize';
import { processRecordKey } from '../src/signing/record-key';
import { temporalConnectOptions } from '../src/config';
import { defaultCriticSettings } from '../activities/critic';
import { instrumentedLlm } from '../src/metrics/llm';
import {
  productMetricsSinks,
  prometheusTelemetry,
  startStageGauge,
  workerMetrics,
} from '../src/metrics/worker';
import { dataProductWorkflowType } from '../workflows/definitions';

/**
 * Route the Temporal SDK's own logs into our structured logger, warnings and up unless the log
 * level is debug (its info lines include a whole webpack report), and, with `metricsPort`, serve
 * Prometheus metrics (the SDK's and Meshloop's, src/metrics) at http://127.0.0.1:<port>/metrics.
 * Call once per process, before any worker or connection: the Runtime is process-wide.
 */
export function installWorkerRuntime(
  log: Logger,
  level: 'debug' | 'info' | 'warn' | 'error',
  metricsPort?: number,
): void {
  try {
    Runtime.install({
      logger: new DefaultLogger(level === 'debug' ? 'DEBUG' : 'WARN', ({ level: at, message, meta }) => {
        const fields = (meta ?? {}) as Record<string, unknown>;
        if (at === 'ERROR') log.error(message, fields);
        else if (at === 'WARN') log.warn(message, fields);
        else log.debug(message, fields);
      }),
      ...(metricsPort !== undefined
        ? { telemetryOptions: { metrics: prometheusTelemetry(metricsPort) } }
        : {}),
    });
  } catch (error) {
    if (metricsPort === undefined) throw error;
    throw new Error(
      `cannot serve metrics on 127.0.0.1:${metricsPort} (${error instanceof Error ? error.message : String(error)}); ` +
        'is another worker running? Set MESHLOOP_METRICS_PORT to a free port',
    );
  }
}

/**
 * The workflow code bundled (webpack: several CPU-seconds) ahead of the worker, so `start` does it
 * while the platform comes up instead of after. Only webpack's errors are shown.
 */
export function bundleOrchestrationWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('ERROR'),
  });
}

export type RunningWorker = Readonly<{ worker: Worker; done: Promise<void>; shutdown: () => Promise<void> }>;

/**
 * The orchestration worker: product workflows and their Kafka activities on the main task queue.
 * Configuration arrives parsed; the worker owns its connections and closes them on shutdown.
 */
export async function startOrchestrationWorker(
  config: MeshloopConfig,
  log: Logger,
  options: { taskQueue?: string; workflowBundle?: { code: string }; stageGaugeIntervalMs?: number } = {},
): Promise<RunningWorker> {
  // Meshloop's metrics on the Runtime's meter: served where the SDK's are (a no-op without an exporter).
  const metrics = workerMetrics();
  // The record key signs descriptors, claims and results rows: made (0600) or read now, so a bad
  // key file stops the worker at start with the setting's name rather than at the first publish.
  processRecordKey(config.records.keyFile);
  const kafka = createKafkaClient({
    connection: config.kafka,
    clientId: 'meshloop-worker',
    log: log.child('kafka'),
  });
  // Idempotent, sends in order (see bench/producer for the measurement that replaced the old
  // "it stalls under concurrent sends" note).
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const connection = await NativeConnection.connect(temporalConnectOptions(config.temporal.connection));
  const taskQueue = options.taskQueue ?? config.temporal.taskQueue;
  const dataConverter = dataConverterFor(config.codec.payloadKeys);
  const gateway = new SqlGatewayClient({
    url: config.flink.sqlGatewayUrl,
    headers: config.flink.headers,
    log: log.child('sql-gateway'),
    // The statements carry Kafka's, the registry's and the catalog's secrets: no error shows them.
    secrets: flinkSessionSecrets(config),
  });
  // One LLM client (it holds the API key; it never travels through workflow history).
  const llm = config.llm ? instrumentedLlm(createLlmClient(config.llm), metrics) : undefined;
  // The analysis schedules are Temporal Schedules: their activities need a client of their own.
  const clientConnection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
  const client = new Client({
    connection: clientConnection,
    namespace: config.temporal.namespace,
    ...(dataConverter ? { dataConverter } : {}),
  });
  // Every activity, built once from the clients above (failures translated in the factory).
  const flinkRest = new FlinkRestClient({ url: config.flink.restUrl, headers: config.flink.headers });
  const lake = analysisLakeFromConfig(config, log.child('analysis'));
  // OpenLineage events (MESHLOOP_OPENLINEAGE_URL or _FILE): undefined, and silent, when neither is set.
  const lineage = lineageEmitterOf(config, { log: log.child('lineage'), iceberg: lake.iceberg, flinkRest });
  const activities = createActivities({
    log,
    kafka,
    producer,
    temporal: { client, taskQueue },
    flink: {
      gateway,
      rest: flinkRest,
      connectors: config.flink,
      valueSchemas: valueSchemaLookup(config.schemaRegistry),
      uiUrl: config.flink.restUrl,
    },
    materializers: createMaterializers(config, log.child('materialize')),
    lake,
    ...(llm ? { llm } : {}),
    ...(lineage ? { lineage } : {}),
    ...(config.slack ? { slack: createSlackWebClient(config.slack) } : {}),
    metrics,
    settings: {
      meshFile: config.meshFile,
      dataDir: config.stack.dataDir,
      materialization: config.materialize,
      schemaRegistry: config.schemaRegistry,
      critic: {
        mode: config.critic.mode,
        rateWindowMs: config.critic.rateWindowMs,
        preview: { ...defaultCriticSettings.preview, recordsPerInput: config.critic.previewRecords },
      },
    },
  });
  const worker = await Worker.create({
    connection,
    // With MESHLOOP_PAYLOAD_KEYS every payload is encrypted before it reaches Temporal's store.
    ...(dataConverter ? { dataConverter } : {}),
    namespace: config.temporal.namespace,
    taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    activities,
    // Product workflows report their metric updates here (no history command, not on replay).
    sinks: productMetricsSinks(metrics, log.child('metrics')),
  });
  const stageGauge = startStageGauge(client, metrics, {
    intervalMs: options.stageGaugeIntervalMs ?? 15_000,
    log: log.child('metrics'),
    workflowType: dataProductWorkflowType,
  });
  log.info('worker started', {
    taskQueue,
    namespace: config.temporal.namespace,
    address: config.temporal.address,
  });
  const done = worker.run().finally(async () => {
    stageGauge.stop();
    await producer.disconnect().catch(() => undefined);
    await clientConnection.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
    log.info('worker stopped', { taskQueue });
  });
  return {
    worker,
    done,
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

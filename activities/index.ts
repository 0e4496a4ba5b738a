import type { WebClient } from '@slack/web-api';
import type { Client } from '@temporalio/client';
import type { Kafka, Producer } from 'kafkajs';
import type { FlinkRestClient, SqlGatewayClient } from '../src/adapters/flink';
import type { LlmClient } from '../src/adapters/llm/client';
import { proposeWithLlmAnalyst } from '../src/agents/llm-analyst';
import type { AnalysisLake, LlmAnalystInput } from '../src/analysis/cycle-service';
import type { ValueSchemaLookup } from '../src/creation/avro-sql';
import type { FlinkConnectors } from '../src/creation/job-sql';
import { ProductJobs } from '../src/creation/product-jobs';
import type { MeshMaterializationDefaults } from '../src/domain/materialization';
import type { SchemaRegistryConfig } from '../src/config';
import type { LineageEmitter } from '../src/lineage';
import type { Logger } from '../src/log';
import type { Materializers } from '../src/materialize';
import { createAnalysisScheduleActivities } from './analysis';
import type { MeshloopMetrics } from '../src/metrics/meshloop-metrics';
import { createAnalysisCycleActivities } from './analysis-cycle';
import { createCreationActivities } from './creation';
import type { CriticSettings } from './critic';
import { createCriticActivities } from './critic';
import { createSqlGuardActivities } from './creation-guard';
import { createDiscoveryActivities } from './discovery';
import { translatingFailures } from './failures';
import { heartbeat } from './heartbeat';
import { createKafkaActivities } from './kafka';
import { createMaterializationActivities } from './materialize';
import { createMeshActivities } from './mesh';
import { createNotificationActivities } from './notifications';
import { createSchemaRegistryActivities } from './schema-registry';
import { createSlackActivities } from './slack';

/** What the activities are built from: connected clients and settings, all made by the worker. */
export type ActivityClients = Readonly<{
  log: Logger;
  kafka: Kafka;
  /** Connected and disconnected by the worker that owns it. */
  producer: Producer;
  /** The analysis schedules are Temporal Schedules, made with this client on this task queue. */
  temporal: Readonly<{ client: Client; taskQueue: string }>;
  flink: Readonly<{
    /** The SQL guard, and each product's job. */
    gateway: SqlGatewayClient;
    rest: FlinkRestClient;
    /** Kafka and the registry as Flink's processes reach them (config.flink): secrets, session-only. */
    connectors: FlinkConnectors;
    /** Registered value schemas, for Avro inputs (valueSchemaLookup). */
    valueSchemas?: ValueSchemaLookup;
    /** Where people look at a job (links in a product's status). */
    uiUrl: string;
  }>;
  /** Kafka → Iceberg providers: Flink always, Tableflow when configured. */
  materializers: Materializers;
  /** The Iceberg catalog and DuckDB, for analysis cycles. */
  lake: AnalysisLake;
  /** Absent without an API key: the planner and the rules-based analyst propose. */
  llm?: LlmClient;
  /** Absent without a Slack app configured: proposal messages are then skipped. */
  slack?: WebClient;
  /** Meshloop's Prometheus metrics (src/metrics): analysis cycles count here. */
  metrics?: MeshloopMetrics;
  /** OpenLineage run events of product jobs and analysis cycles; absent when lineage is off. */
  lineage?: LineageEmitter;
  settings: Readonly<{
    /** mesh.yaml: read at each decision for who may approve and operate. */
    meshFile: string;
    /** Discovery's profiles and reports go under it. */
    dataDir: string;
    /** The mesh's materialization defaults (config.materialize). */
    materialization: MeshMaterializationDefaults;
    catalogTopic?: string;
    proposalsTopic?: string;
    /**
     * Discovery decodes Avro, Protobuf and JSON Schema records through it; products' output schemas
     * are registered and tested in it (its credentials stay here).
     */
    schemaRegistry?: SchemaRegistryConfig;
    /** The critic's window, sample and preview limits; defaults otherwise. */
    critic?: Partial<CriticSettings>;
  }>;
}>;

/**
 * Every activity the orchestration worker registers, built once from its clients; failures are
 * translated here and nowhere else (activities/failures.ts). Workflows type their proxies with
 * `MeshloopActivities`, derived from this function, so a name or signature changed here is a
 * type error in the workflow that calls it. Names are recorded in histories: never rename one.
 */
export function createActivities(clients: ActivityClients) {
  const { kafka, producer, log, settings } = clients;
  const catalog = settings.catalogTopic ? { catalogTopic: settings.catalogTopic } : {};
  const topics = {
    ...catalog,
    ...(settings.proposalsTopic ? { proposalsTopic: settings.proposalsTopic } : {}),
  };
  const sqlGuard = {
    gateway: clients.flink.gateway,
    connectors: clients.flink.connectors,
    ...(clients.flink.valueSchemas ? { valueSchemas: clients.flink.valueSchemas } : {}),
  };
  const product = log.child('activities');
  const creation = log.child('creation');
  const analysis = log.child('analysis');
  const { llm, lineage } = clients;
  const lineageOn = lineage ? { lineage } : {};
  return translatingFailures({
    ...createKafkaActivities({ kafka, producer, log: product, ...catalog }),
    ...createNotificationActivities({ log: product }),
    ...createMeshActivities({ meshFile: settings.meshFile, log: product }),
    ...createSlackActivities({ log: product, ...(clients.slack ? { slack: clients.slack } : {}) }),
    // The SQL guard: Flink validates a product's SQL over its declared inputs only.
    ...createSqlGuardActivities({ kafka, ...sqlGuard, log: product, ...catalog, ...lineageOn }),
    // The critic: a preview of the rows and a review (cost, redundancy, value, risk) before approval.
    ...createCriticActivities({
      kafka,
      ...sqlGuard,
      meshFile: settings.meshFile,
      ...(llm ? { llm } : {}),
      log: product,
      ...catalog,
      ...(settings.critic ? { settings: settings.critic } : {}),
    }),
    // Discovery: the LLM client holds the API key; it never travels through workflow history.
    ...createDiscoveryActivities({
      kafka,
      producer,
      log: log.child('discovery'),
      dataDir: settings.dataDir,
      meshFile: settings.meshFile,
      ...(llm ? { llm } : {}),
      ...(settings.schemaRegistry ? { schemaRegistry: settings.schemaRegistry } : {}),
      sqlGuard,
      ...topics,
    }),
    // Creation: each product's Flink SQL job (deploy, describe, stop).
    ...createCreationActivities({
      jobs: new ProductJobs({
        ...sqlGuard,
        rest: clients.flink.rest,
        kafka,
        flinkUiUrl: clients.flink.uiUrl,
        log: creation,
        heartbeat,
      }),
      kafka,
      log: creation,
      ...catalog,
      ...lineageOn,
      sqlGuard,
    }),
    // The product's output schema in the Schema Registry (its credentials stay in these clients).
    ...createSchemaRegistryActivities({
      log: creation,
      ...(settings.schemaRegistry ? { schemaRegistry: settings.schemaRegistry } : {}),
    }),
    // Materialization: each product's Iceberg table and the Flink job (or Tableflow) keeping it current.
    ...createMaterializationActivities({
      materializers: clients.materializers,
      defaults: settings.materialization,
      log: log.child('materialize'),
      ...lineageOn,
    }),
    // Analysis: each product's cycle in DuckDB over its Iceberg table, results, the analyst's
    // proposals (with an API key the LLM analyst, its SQL through the same guard; else the rules).
    ...createAnalysisCycleActivities(
      {
        ...clients.lake,
        kafka,
        producer,
        log: analysis,
        meshFile: settings.meshFile,
        sqlGuard,
        ...(llm ? { llmAnalyst: (input: LlmAnalystInput) => proposeWithLlmAnalyst({ ...input, llm }) } : {}),
        ...topics,
        ...(lineage ? { observer: lineage } : {}),
      },
      clients.metrics,
    ),
    // ... and the Temporal Schedule that runs the cycles.
    ...createAnalysisScheduleActivities({ ...clients.temporal, log: analysis }),
  });
}

export type MeshloopActivities = ReturnType<typeof createActivities>;

import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parsePayloadKeys } from '../codec/payload-codec';
import { durationHint, parseDuration } from '../domain/duration';
import type { FlinkEndpoints, FlinkKafka, FlinkSchemaRegistry, KafkaConnection } from './connections';
import { connectionEnvShape, readPem, resolveFlink, resolveFlinkKafka, resolveKafka } from './connections';
import { loadDotEnv } from './dotenv';
import type { IcebergConnection } from './iceberg';
import { icebergEnvShape, resolveIceberg } from './iceberg';
import type { TemporalConnection } from './temporal';
import { resolveTemporal } from './temporal';

export type { FlinkEndpoints, FlinkKafka, FlinkSchemaRegistry, KafkaConnection } from './connections';
export type { IcebergAuth, IcebergConnection, ObjectStoreConnection } from './iceberg';
export { bucketOf } from './iceberg';
export type { TemporalConnection } from './temporal';
export { temporalConnectOptions } from './temporal';

/**
 * The one place that reads the environment. Everything else receives a frozen `MeshloopConfig`.
 * Every key is documented in `.env.example`.
 */

const port = z.coerce.number().int().min(1).max(65535);

/**
 * Every port setting with its default. The test suite shifts all of them by one offset so a test
 * platform never collides with a developer's running one.
 */
export const portDefaults = {
  MESHLOOP_TEMPORAL_PORT: 7233,
  MESHLOOP_TEMPORAL_UI_PORT: 8233,
  MESHLOOP_KAFKA_PORT: 9092,
  MESHLOOP_KAFKA_CONTROLLER_PORT: 9093,
  MESHLOOP_FLINK_REST_PORT: 8081,
  MESHLOOP_FLINK_RPC_PORT: 6123,
  MESHLOOP_FLINK_SQL_GATEWAY_PORT: 8083,
  MESHLOOP_ICEBERG_REST_PORT: 8181,
  MESHLOOP_CODEC_SERVER_PORT: 8234,
  MESHLOOP_SCHEMA_REGISTRY_PORT: 8085,
  MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT: 9085,
  MESHLOOP_METRICS_PORT: 9464,
  MESHLOOP_WEB_PORT: 8090,
} as const;

/**
 * The project root: the default data directory lives here whatever the working directory. Compiled
 * (bin/meshloop runs dist/src/config/index.js) this file sits one level deeper.
 */
export const projectRoot = path.resolve(
  __dirname,
  ...(__filename.endsWith('.js') ? ['..', '..', '..'] : ['..', '..']),
);
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

export const envSchema = z.object({
  // Where Temporal, Kafka and Flink are and how to reach them (src/config/connections.ts, temporal.ts).
  ...connectionEnvShape,
  // The Iceberg REST catalog's URL, warehouse and credentials, and its object store (src/config/iceberg.ts).
  ...icebergEnvShape,
  // A .env-format file of settings loaded instead of `.env` (src/config/dotenv.ts): your platform's profile.
  MESHLOOP_PROFILE: optionalText,
  MESHLOOP_DATA_DIR: optionalText,
  MESHLOOP_CACHE_DIR: optionalText,
  MESHLOOP_TEMPORAL_BIN: optionalText,
  MESHLOOP_TEMPORAL_PORT: port.default(portDefaults.MESHLOOP_TEMPORAL_PORT),
  MESHLOOP_TEMPORAL_UI_PORT: port.default(portDefaults.MESHLOOP_TEMPORAL_UI_PORT),
  MESHLOOP_TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  MESHLOOP_TASK_QUEUE: z.string().min(1).default('meshloop'),
  MESHLOOP_KAFKA_PORT: port.default(portDefaults.MESHLOOP_KAFKA_PORT),
  MESHLOOP_KAFKA_CONTROLLER_PORT: port.default(portDefaults.MESHLOOP_KAFKA_CONTROLLER_PORT),
  MESHLOOP_KAFKA_VERSION: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, 'a Kafka version like 4.1.1')
    .default('4.1.1'),
  MESHLOOP_FLINK_VERSION: z
    .string()
    .regex(
      /^1\.20\.\d+$/,
      'a Flink 1.20 patch version like 1.20.3 (the Kafka and Iceberg connectors are built for 1.20)',
    )
    .default('1.20.3'),
  MESHLOOP_FLINK_REST_PORT: port.default(portDefaults.MESHLOOP_FLINK_REST_PORT),
  MESHLOOP_FLINK_RPC_PORT: port.default(portDefaults.MESHLOOP_FLINK_RPC_PORT),
  MESHLOOP_FLINK_SQL_GATEWAY_PORT: port.default(portDefaults.MESHLOOP_FLINK_SQL_GATEWAY_PORT),
  // 24 products (a creation and a materialization job each, one slot per job) and a proposal's
  // preview job with a spare slot (docs/capacity.md).
  MESHLOOP_FLINK_TASK_SLOTS: z.coerce.number().int().min(1).max(128).default(50),
  // TaskManager memory per slot on top of its 1 GB base (docs/capacity.md).
  MESHLOOP_FLINK_SLOT_MEMORY_MB: z.coerce.number().int().min(16).max(4096).default(48),
  MESHLOOP_FLINK_KAFKA_BOOTSTRAP: optionalText,
  MESHLOOP_FLINK_ICEBERG_URI: optionalText,
  MESHLOOP_ICEBERG_VERSION: z
    .string()
    .regex(
      /^1\.(8|9|10)\.\d+$/,
      'an Iceberg version from 1.8.0 to 1.10.x (the REST catalog server is published for those)',
    )
    .default('1.10.1'),
  MESHLOOP_ICEBERG_REST_PORT: port.default(portDefaults.MESHLOOP_ICEBERG_REST_PORT),
  // The Schema Registry (Confluent's REST API): the local stack's Apicurio Registry unless a URL is set.
  MESHLOOP_SCHEMA_REGISTRY_VERSION: z
    .string()
    .regex(/^3\.\d+\.\d+$/, 'an Apicurio Registry 3.x version like 3.3.3')
    .default('3.3.3'),
  MESHLOOP_SCHEMA_REGISTRY_PORT: port.default(portDefaults.MESHLOOP_SCHEMA_REGISTRY_PORT),
  MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT: port.default(
    portDefaults.MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT,
  ),
  MESHLOOP_SCHEMA_REGISTRY_URL: optionalText.pipe(
    z.url('must be a URL like http://127.0.0.1:8085/apis/ccompat/v7').optional(),
  ),
  MESHLOOP_SCHEMA_REGISTRY_USER: optionalText,
  MESHLOOP_SCHEMA_REGISTRY_PASSWORD: optionalText,
  MESHLOOP_SCHEMA_REGISTRY_TOKEN: optionalText,
  MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: optionalText.refine(
    (file) => file === undefined || fs.existsSync(path.resolve(file)),
    { message: 'no such file' },
  ),
  MESHLOOP_READY_TIMEOUT_S: z.coerce.number().int().min(5).max(3600).default(120),
  // How long a CLI command waits for Temporal or a worker to answer one request (a query, an update).
  MESHLOOP_CLI_TIMEOUT: z
    .string()
    .trim()
    .default('10s')
    .refine(
      (text) => {
        const ms = parseDuration(text) ?? 0;
        return ms >= 500 && ms <= 600_000;
      },
      { message: `must be ${durationHint}, from 500ms to 10m` },
    )
    .transform((text) => parseDuration(text) ?? 10_000),
  MESHLOOP_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  MESHLOOP_MESH_FILE: optionalText,
  // Encrypts workflow history payloads; never logged, never passed to spawned services.
  MESHLOOP_PAYLOAD_KEYS: optionalText.refine(
    (text) => {
      if (text === undefined) return true;
      try {
        parsePayloadKeys(text);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be id:base64key[,id:base64key...], each key 32 bytes (openssl rand -base64 32)' },
  ),
  MESHLOOP_CODEC_SERVER_PORT: port.default(portDefaults.MESHLOOP_CODEC_SERVER_PORT),
  MESHLOOP_METRICS_PORT: port.default(portDefaults.MESHLOOP_METRICS_PORT),
  MESHLOOP_WEB_PORT: port.default(portDefaults.MESHLOOP_WEB_PORT),
  // OpenLineage run events of product jobs and analysis cycles: to an HTTP endpoint or a file; off unset.
  MESHLOOP_OPENLINEAGE_URL: optionalText.pipe(
    z
      .url('must be an http(s) URL, e.g. http://localhost:5000/api/v1/lineage (Marquez)')
      .refine(
        (u) => /^https?:\/\//i.test(u),
        'must be an http(s) URL, e.g. http://localhost:5000/api/v1/lineage',
      )
      .optional(),
  ),
  MESHLOOP_OPENLINEAGE_API_KEY: optionalText,
  MESHLOOP_OPENLINEAGE_FILE: optionalText,
  MESHLOOP_OPENLINEAGE_NAMESPACE: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:/-]{1,200}$/, 'must be 1-200 letters, digits or _ . : / -')
    .default('meshloop'),
  // Discovery: with an API key the LLM proposes products, without one the deterministic planner does.
  OPENAI_API_KEY: optionalText,
  MESHLOOP_LLM_BASE_URL: optionalText.pipe(z.url('must be a URL like https://api.openai.com/v1').optional()),
  MESHLOOP_LLM_MODEL: z.string().trim().min(1).default('gpt-4o-mini'),
  MESHLOOP_LLM_TIMEOUT_S: z.coerce.number().int().min(1).max(600).default(60),
  MESHLOOP_DISCOVERY_INTERVAL: z
    .string()
    .trim()
    .default('1h')
    .refine((text) => (parseDuration(text) ?? 0) >= 60_000, {
      message: `must be ${durationHint}, at least 1m`,
    }),
  MESHLOOP_DISCOVERY_MAX_MESSAGES: z.coerce.number().int().min(1).max(1_000_000).default(5000),
  MESHLOOP_DISCOVERY_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  MESHLOOP_DISCOVERY_DEADLINE_S: z.coerce.number().int().min(1).max(3600).default(60),
  // The live demo feed `npm start` runs on the local Kafka (records per second; 0: none).
  MESHLOOP_DEMO_FEED_RATE: z.coerce.number().min(0).max(1000).default(4),
  // Materialization (Kafka → Iceberg): the provider, Tableflow's knobs, and Confluent Cloud's ids.
  MESHLOOP_CRITIC: z.enum(['enforce', 'advise']).default('enforce'),
  MESHLOOP_CRITIC_RATE_WINDOW: z
    .string()
    .default('15m')
    .refine((text) => parseDuration(text) !== undefined, { message: 'must be a duration like 15m' }),
  MESHLOOP_PREVIEW_RECORDS: z.coerce.number().int().min(0).max(1_000_000).default(5000),
  MESHLOOP_MATERIALIZER: z.enum(['flink', 'tableflow']).default('flink'),
  MESHLOOP_MATERIALIZE_ERROR_MODE: z.enum(['suspend', 'skip', 'log']).default('suspend'),
  MESHLOOP_MATERIALIZE_COMMIT_INTERVAL: z
    .string()
    .trim()
    .default('60s')
    .refine((text) => (parseDuration(text) ?? 0) >= 100, { message: `must be ${durationHint}` }),
  // The one-pass JSON parser's jar as Flink's SQL Gateway reads it; `none`: per-field JSON functions.
  MESHLOOP_MATERIALIZE_PARSER_JAR: optionalText,
  MESHLOOP_ICEBERG_CATALOG_NAME: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a plain lowercase SQL name')
    .default('lake'),
  MESHLOOP_TABLEFLOW_API_URL: optionalText.pipe(z.url('must be a URL').optional()),
  MESHLOOP_TABLEFLOW_ENVIRONMENT_ID: optionalText,
  MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID: optionalText,
  CONFLUENT_CLOUD_API_KEY: optionalText,
  CONFLUENT_CLOUD_API_SECRET: optionalText,
  // Approval signing: the CLI approver's key (default ~/.meshloop/signing-key.json when it exists).
  MESHLOOP_SIGNING_KEY_FILE: optionalText,
  // The worker's record key (catalog descriptors, topic claims, analysis results); made on first use.
  MESHLOOP_RECORD_KEY_FILE: optionalText,
  // The Slack app: runs when both the bot token and the signing secret are set.
  MESHLOOP_SLACK_BOT_TOKEN: optionalText,
  MESHLOOP_SLACK_SIGNING_SECRET: optionalText,
  MESHLOOP_SLACK_PORT: port.default(3000),
  MESHLOOP_SLACK_API_URL: optionalText.pipe(z.url('must be a URL like https://slack.com/api/').optional()),
  MESHLOOP_SLACK_KEY_FILE: optionalText,
  XDG_CACHE_HOME: optionalText,
  HOME: optionalText,
});

export type StackConfig = Readonly<{
  dataDir: string;
  cacheDir: string;
  readyTimeoutMs: number;
  temporal: Readonly<{
    binary?: string;
    port: number;
    uiPort: number;
    namespace: string;
    /** Set when payloads are encrypted: the codec server the Web UI calls. */
    uiCodecEndpoint?: string;
  }>;
  kafka: Readonly<{ version: string; port: number; controllerPort: number }>;
  flink: Readonly<{
    version: string;
    restPort: number;
    rpcPort: number;
    sqlGatewayPort: number;
    taskSlots: number;
    /** TaskManager memory per slot, MB (on a 1 GB base). */
    slotMemoryMb: number;
  }>;
  iceberg: Readonly<{ version: string; port: number }>;
  schemaRegistry: Readonly<{ version: string; port: number; managementPort: number }>;
  /**
   * The local services a setting points elsewhere (your own platform), by service name, with the
   * setting and the address: `stack up` starts none of them.
   */
  elsewhere: Readonly<Record<string, ElsewhereService>>;
  /**
   * Where Meshloop's secrets are (approval signing keys, the Slack app's key, `.env` and the profile):
   * the services `stack up` starts run where these folders are empty and these files read as empty
   * (src/stack/sandbox.ts). A key's folder is hidden whole (keys made after `stack up` too) unless it
   * holds the project, the data or cache folder or is the home folder: then only the file is.
   */
  hidden: Readonly<{ dirs: readonly string[]; files: readonly string[] }>;
}>;

/**
 * The credential the codec server asks of every `/decode` and `/encode`: derived from the payload keys
 * (whoever holds them can decrypt anyway), so the Temporal UI `stack up` starts and the codec server
 * agree without another setting. The UI sends it as the first path segment of its codec endpoint;
 * other clients may send `Authorization: Bearer <token>`.
 */
export function codecServerToken(payloadKeys: string): string {
  return createHmac('sha256', payloadKeys).update('meshloop codec server token v1').digest('base64url');
}

function secretPlaces(e: EnvData, home: string, dataDir: string, cacheDir: string): StackConfig['hidden'] {
  const keys = [
    path.resolve(e.MESHLOOP_SIGNING_KEY_FILE ?? path.join(home, '.meshloop', 'signing-key.json')),
    ...(e.MESHLOOP_SLACK_KEY_FILE ? [path.resolve(e.MESHLOOP_SLACK_KEY_FILE)] : []),
  ];
  const needed = [projectRoot, dataDir, cacheDir, path.resolve(home)];
  const holdsNeeded = (dir: string) =>
    needed.some((other) => other === dir || other.startsWith(`${dir}${path.sep}`)) ||
    dir === path.resolve(home);
  const dirs = keys.map((key) => path.dirname(key)).filter((dir) => !holdsNeeded(dir));
  const files = [
    ...keys.filter((key) => holdsNeeded(path.dirname(key))),
    path.resolve(e.MESHLOOP_PROFILE ?? '.env'),
    path.resolve('.env'),
  ];
  return { dirs: [...new Set(dirs)], files: [...new Set(files)] };
}

/** A service of your own platform that replaces one of the local stack's. */
export type ElsewhereService = Readonly<{ setting: string; address: string }>;

/** A Schema Registry speaking Confluent's REST API; credentials stay in the clients made from it. */
export type SchemaRegistryConfig = Readonly<{
  /** The API's base URL (for Apicurio Registry, its `/apis/ccompat/v7` path). */
  url: string;
  basicAuth?: Readonly<{ user: string; password: string }>;
  bearerToken?: string;
  /** A CA (PEM file) to trust for an https URL, besides Node's built-in roots. */
  tlsCaFile?: string;
}>;

export type MeshloopConfig = Readonly<{
  stack: StackConfig;
  temporal: Readonly<{
    /** The server's address (also in `connection`). */
    address: string;
    namespace: string;
    taskQueue: string;
    uiUrl: string;
    /** How every Temporal connection is made: `temporalConnectOptions(config.temporal.connection)`. Has secrets. */
    connection: TemporalConnection;
  }>;
  /** Bootstrap brokers, TLS and SASL: what `createKafkaClient` takes. Has secrets. */
  kafka: KafkaConnection;
  /**
   * Flink REST API (also the Flink Web UI) and the SQL Gateway's REST endpoint; and Kafka, the
   * Schema Registry and the Iceberg catalog *as Flink's processes reach them*, for the SQL we submit
   * (they differ from ours when Flink runs in containers). `kafka.properties` and
   * `schemaRegistry.options` hold secrets: they go into a gateway session only, never stored.
   */
  flink: FlinkEndpoints &
    Readonly<{
      kafka: FlinkKafka;
      schemaRegistry: FlinkSchemaRegistry;
      icebergCatalogUri: string;
    }>;
  /**
   * The Iceberg REST catalog as our own clients reach it (Flink's `'uri'` is `flink.icebergCatalogUri`),
   * its warehouse and credentials, and the object store of its files. Has secrets.
   */
  iceberg: IcebergConnection;
  /** The Schema Registry that discovery decodes Avro, Protobuf and JSON Schema records through. */
  schemaRegistry: SchemaRegistryConfig;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** mesh.yaml: the domains, their approvers and deadlines, and their business goals. */
  meshFile: string;
  /**
   * Payload encryption: with keys, clients and workers encrypt every payload (AES-GCM) and the
   * codec server decodes them for the Temporal UI at `uiOrigin` only.
   */
  codec: Readonly<{
    payloadKeys?: string;
    /** What the codec server asks of its callers (set with the payload keys): see codecServerToken. */
    serverToken?: string;
    serverPort: number;
    uiOrigin: string;
  }>;
  /** Where the worker serves Prometheus metrics (127.0.0.1:<port>/metrics). */
  metrics: Readonly<{ port: number }>;
  /** Where the worker (and `meshloop web`) serves the read-only web catalog (127.0.0.1:<port>). */
  web: Readonly<{ port: number }>;
  /**
   * OpenLineage events (docs/lineage.md): absent when neither MESHLOOP_OPENLINEAGE_URL nor
   * MESHLOOP_OPENLINEAGE_FILE is set. The API key is a secret (sent as a Bearer token only).
   */
  lineage?: Readonly<
    { namespace: string } & (
      { url: string; apiKey?: string; file?: undefined } | { file: string; url?: undefined }
    )
  >;
  /** The LLM discovery uses; absent without OPENAI_API_KEY (the planner proposes instead). */
  llm?: Readonly<{ apiKey: string; baseURL?: string; model: string; timeoutMs: number }>;
  /** How products land in Iceberg, unless a spec's `materialization` says otherwise. */
  materialize: Readonly<{
    provider: 'flink' | 'tableflow';
    errorMode: 'suspend' | 'skip' | 'log';
    commitIntervalMs: number;
    catalog: string;
    /**
     * How Flink's materialization jobs parse records: once, by our parser function from a jar Flink's
     * SQL Gateway reads (`uri`), or built by the local stack under the cache folder (`build`);
     * absent: one JSON function call per field (MESHLOOP_MATERIALIZE_PARSER_JAR=none, or Flink
     * elsewhere without a jar).
     */
    parserJar?: Readonly<{ build: true } | { uri: string }>;
  }>;
  /** Confluent Tableflow (Confluent Cloud); present when all its keys are set. */
  tableflow?: Readonly<{
    apiUrl: string;
    apiKey: string;
    apiSecret: string;
    environmentId: string;
    kafkaClusterId: string;
  }>;
  /** How often the discovery schedule runs, and how much it samples per topic. */
  discovery: Readonly<{
    intervalMs: number;
    maxMessages: number;
    maxBytes: number;
    sampleDeadlineMs: number;
  }>;
  /** The live demo feed `npm start` runs beside the worker on the local Kafka: records a second (0: off). */
  demo: Readonly<{ feedRate: number }>;
  /** The CLI: how long one request to Temporal or a worker may take before it says nothing answered. */
  cli: Readonly<{ timeoutMs: number }>;
  /**
   * The critic before approval: `enforce` dismisses redundant or valueless proposals, `advise` only
   * records its review; input rates over `rateWindowMs`; the preview reads `previewRecords` per
   * input (0: no preview).
   */
  critic: Readonly<{ mode: 'enforce' | 'advise'; rateWindowMs: number; previewRecords: number }>;
  /** The key the CLI signs approvals with; `explicit` when set in the environment (then it must exist). */
  signing: Readonly<{ keyFile: string; explicit: boolean }>;
  /**
   * The secret that signs what the worker writes where others can write too (catalog descriptors,
   * topic claims, analysis results rows); readers ignore what it did not sign. Made (0600) on first use.
   */
  records: Readonly<{ keyFile: string }>;
  /** The Slack app; absent unless its bot token and signing secret are set. */
  slack?: Readonly<{
    botToken: string;
    signingSecret: string;
    port: number;
    /** Slack Web API base URL (tests point it at a fake). */
    apiUrl?: string;
    /** The app's approval signing key (its public half is a `slackApp` key in mesh.yaml). */
    keyFile?: string;
  }>;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}\nSee .env.example.`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * The configuration from `env`. With the default (`process.env`), `.env` in the working directory is
 * loaded first (`process.loadEnvFile`: variables already set win). Every wrong setting is reported in
 * one `ConfigError`.
 */
function criticConfig(e: z.output<typeof envSchema>): MeshloopConfig['critic'] {
  return {
    mode: e.MESHLOOP_CRITIC,
    rateWindowMs: parseDuration(e.MESHLOOP_CRITIC_RATE_WINDOW) ?? 900_000,
    previewRecords: e.MESHLOOP_PREVIEW_RECORDS,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): MeshloopConfig {
  if (env === process.env) loadDotEnv();
  const { data: e, problems } = parseEnv(env);
  const home = e.HOME ?? os.homedir();
  const temporal = resolveTemporal(
    env,
    {
      address: `127.0.0.1:${e.MESHLOOP_TEMPORAL_PORT}`,
      namespace: e.MESHLOOP_TEMPORAL_NAMESPACE,
      addressKey: 'MESHLOOP_TEMPORAL_PORT',
      namespaceKey: 'MESHLOOP_TEMPORAL_NAMESPACE',
    },
    problems,
  );
  const dataDir = path.resolve(projectRoot, e.MESHLOOP_DATA_DIR ?? '.meshloop');
  const cacheDir = path.resolve(
    e.MESHLOOP_CACHE_DIR ?? path.join(e.XDG_CACHE_HOME ?? path.join(home, '.cache'), 'meshloop'),
  );
  const stack: StackConfig = {
    dataDir,
    cacheDir,
    readyTimeoutMs: e.MESHLOOP_READY_TIMEOUT_S * 1000,
    temporal: {
      binary: e.MESHLOOP_TEMPORAL_BIN,
      port: e.MESHLOOP_TEMPORAL_PORT,
      uiPort: e.MESHLOOP_TEMPORAL_UI_PORT,
      // The namespace the local server creates: the one Meshloop uses (TEMPORAL_NAMESPACE, a profile's, or this).
      namespace: temporal.namespace,
      ...(e.MESHLOOP_PAYLOAD_KEYS
        ? {
            uiCodecEndpoint: `http://127.0.0.1:${e.MESHLOOP_CODEC_SERVER_PORT}/${codecServerToken(e.MESHLOOP_PAYLOAD_KEYS)}`,
          }
        : {}),
    },
    kafka: {
      version: e.MESHLOOP_KAFKA_VERSION,
      port: e.MESHLOOP_KAFKA_PORT,
      controllerPort: e.MESHLOOP_KAFKA_CONTROLLER_PORT,
    },
    flink: {
      version: e.MESHLOOP_FLINK_VERSION,
      restPort: e.MESHLOOP_FLINK_REST_PORT,
      rpcPort: e.MESHLOOP_FLINK_RPC_PORT,
      sqlGatewayPort: e.MESHLOOP_FLINK_SQL_GATEWAY_PORT,
      taskSlots: e.MESHLOOP_FLINK_TASK_SLOTS,
      slotMemoryMb: e.MESHLOOP_FLINK_SLOT_MEMORY_MB,
    },
    iceberg: { version: e.MESHLOOP_ICEBERG_VERSION, port: e.MESHLOOP_ICEBERG_REST_PORT },
    schemaRegistry: {
      version: e.MESHLOOP_SCHEMA_REGISTRY_VERSION,
      port: e.MESHLOOP_SCHEMA_REGISTRY_PORT,
      managementPort: e.MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT,
    },
    elsewhere: elsewhereServices(e, temporal),
    hidden: secretPlaces(e, home, dataDir, cacheDir),
  };
  problems.push(
    ...findDuplicatePorts(stack, e.MESHLOOP_CODEC_SERVER_PORT, e.MESHLOOP_METRICS_PORT, e.MESHLOOP_WEB_PORT),
  );
  const kafka = resolveKafka(e, `127.0.0.1:${stack.kafka.port}`, problems);
  const flink = resolveFlink(e, stack.flink);
  const schemaRegistry = schemaRegistryOf(e, stack, problems);
  const flinkSchemaRegistry = flinkSchemaRegistryOf(schemaRegistry, problems);
  const iceberg = resolveIceberg(e, `http://127.0.0.1:${stack.iceberg.port}`, problems);
  const flinkKafka = resolveFlinkKafka(
    e,
    kafka,
    e.MESHLOOP_FLINK_KAFKA_BOOTSTRAP ?? kafka.brokers.join(','),
    problems,
  );
  const tableflowKeys = {
    CONFLUENT_CLOUD_API_KEY: e.CONFLUENT_CLOUD_API_KEY,
    CONFLUENT_CLOUD_API_SECRET: e.CONFLUENT_CLOUD_API_SECRET,
    MESHLOOP_TABLEFLOW_ENVIRONMENT_ID: e.MESHLOOP_TABLEFLOW_ENVIRONMENT_ID,
    MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID: e.MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID,
  };
  const missingTableflow = Object.entries(tableflowKeys).filter(([, value]) => !value);
  if (e.MESHLOOP_MATERIALIZER === 'tableflow' && missingTableflow.length > 0) {
    problems.push(
      ...missingTableflow.map(([key]) => `${key}: required with MESHLOOP_MATERIALIZER=tableflow`),
    );
  }
  const lineage = lineageOf(e, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze({
    stack,
    temporal: {
      address: temporal.connection.address,
      namespace: temporal.namespace,
      taskQueue: e.MESHLOOP_TASK_QUEUE,
      uiUrl: `http://127.0.0.1:${stack.temporal.uiPort}`,
      connection: temporal.connection,
    },
    kafka,
    flink: {
      ...flink,
      kafka: flinkKafka,
      schemaRegistry: flinkSchemaRegistry,
      icebergCatalogUri: e.MESHLOOP_FLINK_ICEBERG_URI ?? iceberg.catalogUrl,
    },
    iceberg,
    schemaRegistry,
    logLevel: e.MESHLOOP_LOG_LEVEL,
    meshFile: path.resolve(projectRoot, e.MESHLOOP_MESH_FILE ?? 'mesh.yaml'),
    codec: {
      ...(e.MESHLOOP_PAYLOAD_KEYS
        ? { payloadKeys: e.MESHLOOP_PAYLOAD_KEYS, serverToken: codecServerToken(e.MESHLOOP_PAYLOAD_KEYS) }
        : {}),
      serverPort: e.MESHLOOP_CODEC_SERVER_PORT,
      uiOrigin: `http://127.0.0.1:${stack.temporal.uiPort}`,
    },
    metrics: { port: e.MESHLOOP_METRICS_PORT },
    web: { port: e.MESHLOOP_WEB_PORT },
    ...lineage,
    ...(e.OPENAI_API_KEY
      ? {
          llm: {
            apiKey: e.OPENAI_API_KEY,
            ...(e.MESHLOOP_LLM_BASE_URL ? { baseURL: e.MESHLOOP_LLM_BASE_URL } : {}),
            model: e.MESHLOOP_LLM_MODEL,
            timeoutMs: e.MESHLOOP_LLM_TIMEOUT_S * 1000,
          },
        }
      : {}),
    materialize: {
      provider: e.MESHLOOP_MATERIALIZER,
      errorMode: e.MESHLOOP_MATERIALIZE_ERROR_MODE,
      commitIntervalMs: parseDuration(e.MESHLOOP_MATERIALIZE_COMMIT_INTERVAL) ?? 60_000,
      catalog: e.MESHLOOP_ICEBERG_CATALOG_NAME,
      ...parserJarOf(e),
    },
    ...(missingTableflow.length === 0
      ? {
          tableflow: {
            apiUrl: e.MESHLOOP_TABLEFLOW_API_URL ?? 'https://api.confluent.cloud',
            apiKey: e.CONFLUENT_CLOUD_API_KEY!,
            apiSecret: e.CONFLUENT_CLOUD_API_SECRET!,
            environmentId: e.MESHLOOP_TABLEFLOW_ENVIRONMENT_ID!,
            kafkaClusterId: e.MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID!,
          },
        }
      : {}),
    discovery: {
      intervalMs: parseDuration(e.MESHLOOP_DISCOVERY_INTERVAL) ?? 3_600_000,
      maxMessages: e.MESHLOOP_DISCOVERY_MAX_MESSAGES,
      maxBytes: e.MESHLOOP_DISCOVERY_MAX_BYTES,
      sampleDeadlineMs: e.MESHLOOP_DISCOVERY_DEADLINE_S * 1000,
    },
    demo: { feedRate: e.MESHLOOP_DEMO_FEED_RATE },
    cli: { timeoutMs: e.MESHLOOP_CLI_TIMEOUT },
    critic: criticConfig(e),
    signing: {
      keyFile: path.resolve(e.MESHLOOP_SIGNING_KEY_FILE ?? path.join(home, '.meshloop', 'signing-key.json')),
      explicit: e.MESHLOOP_SIGNING_KEY_FILE !== undefined,
    },
    records: recordsConfig(e, home),
    ...(e.MESHLOOP_SLACK_BOT_TOKEN && e.MESHLOOP_SLACK_SIGNING_SECRET
      ? {
          slack: {
            botToken: e.MESHLOOP_SLACK_BOT_TOKEN,
            signingSecret: e.MESHLOOP_SLACK_SIGNING_SECRET,
            port: e.MESHLOOP_SLACK_PORT,
            ...(e.MESHLOOP_SLACK_API_URL ? { apiUrl: e.MESHLOOP_SLACK_API_URL } : {}),
            ...(e.MESHLOOP_SLACK_KEY_FILE ? { keyFile: path.resolve(e.MESHLOOP_SLACK_KEY_FILE) } : {}),
          },
        }
      : {}),
  });
}

type EnvData = z.infer<typeof envSchema>;

function recordsConfig(e: EnvData, home: string): MeshloopConfig['records'] {
  return { keyFile: path.resolve(e.MESHLOOP_RECORD_KEY_FILE ?? path.join(home, '.meshloop', 'record-key')) };
}

/**
 * Each key on its own, so that one message lists every wrong key (a wrong key takes its default
 * meanwhile, for the checks across keys).
 */
export function parseEnv(env: NodeJS.ProcessEnv): { data: EnvData; problems: string[] } {
  const data: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, schema] of Object.entries(envSchema.shape)) {
    const parsed = (schema as z.ZodType).safeParse(env[key]);
    if (parsed.success) data[key] = parsed.data;
    else {
      problems.push(...parsed.error.issues.map((issue) => `${key}: ${issue.message}`));
      data[key] = (schema as z.ZodType).safeParse(undefined).data;
    }
  }
  return { data: data as EnvData, problems };
}

function findDuplicatePorts(
  stack: StackConfig,
  codecPort: number,
  metricsPort: number,
  webPort: number,
): string[] {
  const ports: Record<keyof typeof portDefaults, number> = {
    MESHLOOP_TEMPORAL_PORT: stack.temporal.port,
    MESHLOOP_TEMPORAL_UI_PORT: stack.temporal.uiPort,
    MESHLOOP_KAFKA_PORT: stack.kafka.port,
    MESHLOOP_KAFKA_CONTROLLER_PORT: stack.kafka.controllerPort,
    MESHLOOP_FLINK_REST_PORT: stack.flink.restPort,
    MESHLOOP_FLINK_RPC_PORT: stack.flink.rpcPort,
    MESHLOOP_FLINK_SQL_GATEWAY_PORT: stack.flink.sqlGatewayPort,
    MESHLOOP_ICEBERG_REST_PORT: stack.iceberg.port,
    MESHLOOP_CODEC_SERVER_PORT: codecPort,
    MESHLOOP_SCHEMA_REGISTRY_PORT: stack.schemaRegistry.port,
    MESHLOOP_SCHEMA_REGISTRY_MANAGEMENT_PORT: stack.schemaRegistry.managementPort,
    MESHLOOP_METRICS_PORT: metricsPort,
    MESHLOOP_WEB_PORT: webPort,
  };
  const byPort = new Map<number, string[]>();
  for (const [key, value] of Object.entries(ports)) byPort.set(value, [...(byPort.get(value) ?? []), key]);
  return [...byPort.entries()]
    .filter(([, keys]) => keys.length > 1)
    .map(([value, keys]) => `${keys.join(', ')}: all set to port ${value}; each service needs its own port`);
}

/** The materialization's parser jar: given, `none`, or built locally when Flink is the local stack's. */
function parserJarOf(e: z.infer<typeof envSchema>): { parserJar?: { build: true } | { uri: string } } {
  const setting = e.MESHLOOP_MATERIALIZE_PARSER_JAR;
  if (setting === 'none') return {};
  if (setting) return { parserJar: { uri: setting } };
  const flinkElsewhere = e.MESHLOOP_FLINK_SQL_GATEWAY_URL ?? e.MESHLOOP_FLINK_REST_URL;
  return flinkElsewhere ? {} : { parserJar: { build: true } };
}

/** Which local services the settings replace with your own (a Temporal profile's address counts). */
function elsewhereServices(
  e: z.infer<typeof envSchema>,
  temporal: ReturnType<typeof resolveTemporal>,
): Record<string, ElsewhereService> {
  const out: Record<string, ElsewhereService> = {};
  const addressOrigin = temporal.origins['temporal.address'];
  if (addressOrigin && addressOrigin.source !== 'default') {
    out.temporal = { setting: addressOrigin.detail, address: temporal.connection.address };
  }
  if (e.MESHLOOP_KAFKA_BROKERS)
    out.kafka = { setting: 'MESHLOOP_KAFKA_BROKERS', address: e.MESHLOOP_KAFKA_BROKERS };
  const flinkUrl = e.MESHLOOP_FLINK_SQL_GATEWAY_URL ?? e.MESHLOOP_FLINK_REST_URL;
  if (flinkUrl) {
    const setting = e.MESHLOOP_FLINK_SQL_GATEWAY_URL
      ? 'MESHLOOP_FLINK_SQL_GATEWAY_URL'
      : 'MESHLOOP_FLINK_REST_URL';
    for (const service of ['flink-jobmanager', 'flink-taskmanager', 'flink-sql-gateway']) {
      out[service] = { setting, address: flinkUrl };
    }
  }
  if (e.MESHLOOP_ICEBERG_REST_URL) {
    out.iceberg = { setting: 'MESHLOOP_ICEBERG_REST_URL', address: e.MESHLOOP_ICEBERG_REST_URL };
  }
  if (e.MESHLOOP_SCHEMA_REGISTRY_URL) {
    out.registry = { setting: 'MESHLOOP_SCHEMA_REGISTRY_URL', address: e.MESHLOOP_SCHEMA_REGISTRY_URL };
  }
  return out;
}

function schemaRegistryOf(
  e: z.infer<typeof envSchema>,
  stack: StackConfig,
  problems: string[],
): SchemaRegistryConfig {
  const user = e.MESHLOOP_SCHEMA_REGISTRY_USER;
  const password = e.MESHLOOP_SCHEMA_REGISTRY_PASSWORD;
  if ((user === undefined) !== (password === undefined)) {
    problems.push(
      `${user === undefined ? 'MESHLOOP_SCHEMA_REGISTRY_USER' : 'MESHLOOP_SCHEMA_REGISTRY_PASSWORD'}: ` +
        'basic auth needs both MESHLOOP_SCHEMA_REGISTRY_USER and MESHLOOP_SCHEMA_REGISTRY_PASSWORD',
    );
  }
  if (user !== undefined && e.MESHLOOP_SCHEMA_REGISTRY_TOKEN !== undefined) {
    problems.push(
      'MESHLOOP_SCHEMA_REGISTRY_TOKEN: set either a bearer token or a user and password, not both',
    );
  }
  return {
    url:
      e.MESHLOOP_SCHEMA_REGISTRY_URL?.replace(/\/+$/, '') ??
      `http://127.0.0.1:${stack.schemaRegistry.port}/apis/ccompat/v7`,
    ...(user !== undefined && password !== undefined ? { basicAuth: { user, password } } : {}),
    ...(e.MESHLOOP_SCHEMA_REGISTRY_TOKEN ? { bearerToken: e.MESHLOOP_SCHEMA_REGISTRY_TOKEN } : {}),
    ...(e.MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE
      ? { tlsCaFile: path.resolve(e.MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE) }
      : {}),
  };
}

/**
 * The `avro-confluent` format's registry options: its URL and, when set, basic or bearer auth, and
 * the registry's private CA. The CA goes through the format's `properties` map to the (shaded)
 * Confluent registry client, whose TLS settings take the `schema.registry.` prefix: a PEM
 * truststore given inline (`ssl.truststore.certificates`), so Flink's processes need no file.
 */
function flinkSchemaRegistryOf(registry: SchemaRegistryConfig, problems: string[]): FlinkSchemaRegistry {
  const options: Record<string, string> = {};
  const ca = registry.tlsCaFile
    ? readPem(registry.tlsCaFile, 'MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE', problems)
    : undefined;
  if (ca) {
    options['properties.schema.registry.ssl.truststore.type'] = 'PEM';
    options['properties.schema.registry.ssl.truststore.certificates'] = ca;
  }
  if (registry.basicAuth) {
    options['basic-auth.credentials-source'] = 'USER_INFO';
    options['basic-auth.user-info'] = `${registry.basicAuth.user}:${registry.basicAuth.password}`;
  }
  if (registry.bearerToken) {
    options['bearer-auth.credentials-source'] = 'STATIC_TOKEN';
    options['bearer-auth.token'] = registry.bearerToken;
  }
  return { url: registry.url, options };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Where OpenLineage events go: one of the endpoint and the file (both set is a mistake to say). */
function lineageOf(e: EnvData, problems: string[]): Pick<MeshloopConfig, 'lineage'> {
  const namespace = e.MESHLOOP_OPENLINEAGE_NAMESPACE;
  if (e.MESHLOOP_OPENLINEAGE_URL && e.MESHLOOP_OPENLINEAGE_FILE) {
    problems.push(
      'MESHLOOP_OPENLINEAGE_URL and MESHLOOP_OPENLINEAGE_FILE: set one (events go to an endpoint or a file), not both',
    );
    return {};
  }
  if (e.MESHLOOP_OPENLINEAGE_API_KEY && !e.MESHLOOP_OPENLINEAGE_URL) {
    problems.push(
      'MESHLOOP_OPENLINEAGE_API_KEY: is sent to MESHLOOP_OPENLINEAGE_URL only; set the URL too, or unset the key',
    );
  }
  if (e.MESHLOOP_OPENLINEAGE_URL) {
    const apiKey = e.MESHLOOP_OPENLINEAGE_API_KEY;
    return { lineage: { namespace, url: e.MESHLOOP_OPENLINEAGE_URL, ...(apiKey ? { apiKey } : {}) } };
  }
  if (e.MESHLOOP_OPENLINEAGE_FILE) {
    return { lineage: { namespace, file: path.resolve(projectRoot, e.MESHLOOP_OPENLINEAGE_FILE) } };
  }
  return {};
}

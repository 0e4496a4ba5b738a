import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import type { Check } from '../../src/cli/doctor';
import { FlinkRestClient, terminalJobStates } from '../../src/adapters/flink';
import { proposeProduct } from '../../src/cli/product-commands';
import { CATALOG_TOPIC, createKafkaClient } from '../../src/adapters/kafka/client';
import { createSchemaRegistryClient } from '../../src/adapters/schema-registry/client';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { queryProduct } from '../../src/query/product-query';
import { seedRegistryTopics } from '../../src/seed/registry-seed';
import { waitUntil } from '../../src/stack/probe';
import { resolveTemporalBinary } from '../../src/stack/services/temporal';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import type { ObjectStorePlatform } from '../helpers/object-store-platform';
import { objectStorePlatform } from '../helpers/object-store-platform';
import { testPlatform } from '../helpers/platform';
import type { SecuredPlatform } from '../helpers/secured-platform';
import { SECURED_TOPIC_PREFIX, securedPlatform } from '../helpers/secured-platform';

const root = path.resolve(__dirname, '..', '..');
const SEEDED = 60;

type CliResult = { code: number; stdout: string; stderr: string };

/**
 * The issue's composed test: one profile (a `.env`-format file named by MESHLOOP_PROFILE) holds
 * the secured platform (Kafka SASL_SSL + SCRAM + ACLs, Temporal over TLS, the registry over TLS
 * with basic auth), the object store's Iceberg catalog (OAuth2 client credentials, warehouse on
 * S3Proxy) and the shared platform's Flink. Configured only through it: `meshloop doctor` passes,
 * an approved product over an Avro topic runs on Flink (reading SASL_SSL Kafka through the TLS
 * registry), registers its output schema, lands in Iceberg on s3:// and answers `meshloop query`;
 * and no secret is in `temporal workflow show`, the catalog topic, the worker's logs or `meshloop show`.
 */
describe('end to end on a secured platform with tables on an object store, configured only through a profile', function () {
  this.timeout(300_000);
  const run = `${SECURED_TOPIC_PREFIX}${randomUUID().replace(/-/g, '').slice(0, 8)}_`;
  const domain = `${run}loyalty`;
  const pointsTopic = `${run}loyalty.points`;
  const taskQueue = `secured-e2e-${run}`;
  let secured: SecuredPlatform;
  let store: ObjectStorePlatform;
  let workDir: string;
  let profileFile: string;
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker | undefined;
  const logLines: string[] = [];
  /** The token the catalog hands for the profile's client credentials (its fixture's is fixed per client id). */
  let icebergToken: string;

  /** `bin/meshloop` with nothing but the profile (and PATH, HOME). */
  function cli(args: readonly string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(root, 'bin', 'meshloop'), [...args], {
        cwd: workDir,
        env: {
          PATH: process.env.PATH!,
          HOME: process.env.HOME ?? os.homedir(),
          MESHLOOP_PROFILE: profileFile,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  const secrets = () => ({
    'Kafka SASL password': secured.profile.MESHLOOP_KAFKA_SASL_PASSWORD!,
    'registry password': secured.profile.MESHLOOP_SCHEMA_REGISTRY_PASSWORD!,
    'S3 secret key': store.profile.AWS_SECRET_ACCESS_KEY!,
    'Iceberg client secret': store.profile.MESHLOOP_ICEBERG_CLIENT_SECRET!,
    'Iceberg access token': icebergToken,
  });

  before(async function () {
    this.timeout(15 * 60_000);
    const shared = await testPlatform();
    [secured, store] = await Promise.all([securedPlatform(), objectStorePlatform()]);
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-secured-e2e-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        operators: ['ops'],
        domains: { [domain]: { approvers: ['judy'], businessGoals: ['Reward loyal customers.'] } },
      }),
    );
    const { MESHLOOP_ICEBERG_REST_PORT: _plainCatalog, ...securedProfile } = secured.profile;
    const profile: Record<string, string> = {
      ...securedProfile,
      ...store.profile,
      MESHLOOP_FLINK_REST_URL: shared.flink.restUrl,
      MESHLOOP_FLINK_SQL_GATEWAY_URL: shared.flink.sqlGatewayUrl,
      // What any install sets for itself: where its data and mesh file are, its task queue.
      MESHLOOP_DATA_DIR: path.join(workDir, 'data'),
      MESHLOOP_MESH_FILE: meshFile,
      MESHLOOP_TASK_QUEUE: taskQueue,
      OPENAI_API_KEY: '',
    };
    profileFile = path.join(workDir, 'secured-object-store.env');
    await fs.writeFile(
      profileFile,
      `${Object.entries(profile)
        .map(([key, value]) => `${key}=${value}`)
        .join('\n')}\n`,
      { mode: 0o600 },
    );
    // The test's own clients read the same file (as the CLI's loadDotEnv does), and nothing else.
    config = loadConfig({
      ...parseEnv(await fs.readFile(profileFile, 'utf8')),
      HOME: process.env.HOME ?? os.homedir(),
    });
    assert.equal(config.kafka.sasl?.mechanism, 'scram-sha-512');
    assert.match(config.iceberg.warehouse ?? '', /^s3:\/\//);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'secured-e2e-test' });
    const tokens = await fetch(`${store.catalogUrl}/v1/oauth/tokens`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: store.profile.MESHLOOP_ICEBERG_CLIENT_ID!,
        client_secret: store.profile.MESHLOOP_ICEBERG_CLIENT_SECRET!,
        scope: 'catalog',
      }),
    });
    assert.equal(tokens.status, 200);
    icebergToken = ((await tokens.json()) as { access_token: string }).access_token;
    assert.ok(icebergToken.length > 8, icebergToken);
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
  });

  after(async () => {
    await worker?.shutdown();
    await connection?.close();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('`meshloop doctor` passes every check: Temporal over TLS, Kafka SASL_SSL, the TLS registry, Flink, the Iceberg catalog with its credentials, the object store', async function () {
    this.timeout(120_000);
    const result = await cli(['doctor', '--json']);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
    const failing = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail} | ${c.fix}`);
    assert.deepEqual(failing, []);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(report.checks.map((c) => c.name).sort(), [
      'flink-rest',
      'flink-sql-gateway',
      'iceberg-catalog',
      'kafka',
      'object-store',
      'schema-registry',
      'temporal',
    ]);
    for (const secret of Object.values(secrets())) assert.ok(!result.stdout.includes(secret));
  });

  it('an approved product over an Avro topic runs on Flink, registers its output schema, lands on the object store and answers `meshloop query`; no secret is stored or shown', async function () {
    this.timeout(12 * 60_000);
    await seedRegistryTopics(kafka, config.schemaRegistry, {
      count: SEEDED,
      topicPrefix: run,
      only: ['loyalty'],
    });
    worker = await startOrchestrationWorker(
      config,
      createLogger('secured-e2e-worker', 'debug', (line) => logLines.push(line)),
      { taskQueue },
    );
    const name = 'points_e2e';
    const spec = parseSpec({
      name,
      domain,
      owner: 'judy',
      description: 'Loyalty point events as earned, read from the Avro topic on the secured Kafka.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: pointsTopic,
          as: 'points',
          format: 'avro',
          schema: {
            fields: [
              { name: 'event_id', type: 'string' },
              { name: 'customer_id', type: 'string' },
              { name: 'points', type: 'long' },
              { name: 'reason', type: 'string' },
              { name: 'earned_at', type: 'timestamp' },
            ],
            eventTimeField: 'earned_at',
          },
        },
      ],
      sql: 'SELECT event_id, customer_id, points, reason, earned_at FROM points',
      outputTopic: { partitions: 1, retentionMs: 86_400_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'event_id', type: 'string', nullable: false },
          { name: 'customer_id', type: 'string' },
          { name: 'points', type: 'long' },
          { name: 'reason', type: 'string' },
          { name: 'earned_at', type: 'timestamp', nullable: false },
        ],
        key: ['event_id'],
        eventTimeField: 'earned_at',
      },
      materialization: { commitInterval: '2s', errorMode: 'log' },
      tags: ['test'],
    });
    const productId = productIdOf(spec);
    const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
    const handle = client.workflow.getHandle(workflowId);
    try {
      await waitUntil(async () => (await handle.query(getStatusQuery)).stage === 'awaitingApproval', {
        timeoutMs: 120_000,
        intervalMs: 500,
      });
      const proposed = await handle.query(getStatusQuery);
      assert.equal(proposed.stage, 'awaitingApproval', JSON.stringify(proposed.lastError));
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'judy' }] });
      await waitUntil(async () => ['active', 'failed'].includes((await handle.query(getStatusQuery)).stage), {
        timeoutMs: 240_000,
        intervalMs: 500,
      });
      const active = await handle.query(getStatusQuery);
      assert.equal(active.stage, 'active', JSON.stringify(active.lastError));

      // Its output schema, in the secured registry under <topic>-value with BACKWARD.
      const registry = await createSchemaRegistryClient(config.schemaRegistry, 30_000);
      const subject = `${productId}-value`;
      const latest = await registry.getLatestSchemaMetadata(subject);
      assert.equal(latest.schemaType, 'JSON');
      assert.deepEqual(Object.keys((JSON.parse(latest.schema) as { properties: object }).properties).sort(), [
        'customer_id',
        'earned_at',
        'event_id',
        'points',
        'reason',
      ]);
      assert.equal(await registry.getCompatibility(subject), 'BACKWARD');

      // Every seeded event reaches the Iceberg table on the object store, and `meshloop query` reads it.
      // A failed job of the product ends the wait with Flink's reason.
      const rest = new FlinkRestClient({ url: config.flink.restUrl });
      let counted = '';
      let jobFailure: string | undefined;
      await waitUntil(
        async () => {
          const answer = await queryProduct(config, productId, { sql: 'select count(*) AS n from t' }).catch(
            (error: Error) => ({ rows: [{ n: error.message }] }),
          );
          counted = String(answer.rows[0]?.n);
          const failed = (await rest.listJobs()).find(
            (job) => job.name.includes(`:${productId}:`) && job.state === 'FAILED',
          );
          if (failed) jobFailure = `${failed.name}: ${await rest.rootException(failed.jid)}`;
          return counted === String(SEEDED) || jobFailure !== undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      assert.equal(jobFailure, undefined);
      assert.equal(counted, String(SEEDED), `the table answered ${counted}`);
      const queried = await cli([
        'query',
        productId,
        'SELECT count(*) AS n, sum(points) AS p FROM t',
        '--json',
      ]);
      assert.equal(queried.code, 0, queried.stderr);
      assert.match(queried.stdout, new RegExp(`"n":\\s*"?${SEEDED}"?`));
      const dataDir = path.join(store.storeDir, store.bucket, 'warehouse', domain, name, 'data');
      const parquet = (await fs.readdir(dataDir, { recursive: true })).filter((f) => f.endsWith('.parquet'));
      assert.ok(
        parquet.length > 0,
        `no Parquet data files under s3://${store.bucket}/warehouse/${domain}/${name}/data/`,
      );

      // No secret anywhere it could be stored or shown.
      const shown = await cli(['show', productId]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(productId.replace(/\./g, '\\.')));
      const history = await temporalWorkflowShow(workflowId);
      assert.match(
        history,
        new RegExp(pointsTopic.replace(/\./g, '\\.')),
        'the history is not the one expected',
      );
      const places = {
        '`temporal workflow show`': history,
        'the catalog topic': await topicRecords(kafka, CATALOG_TOPIC),
        "the worker's logs": logLines.join('\n'),
        '`meshloop show`': shown.stdout + shown.stderr,
        "the product's state (its job)": JSON.stringify(await handle.query(getStatusQuery)),
        '`meshloop query`': queried.stdout + queried.stderr,
      };
      assert.match(places['the catalog topic'], new RegExp(productId.replace(/\./g, '\\.')));
      assert.ok(logLines.length > 0, 'the worker logged');
      for (const [place, text] of Object.entries(places)) {
        for (const [what, secret] of Object.entries(secrets())) {
          assert.ok(!text.includes(secret), `${place} holds the ${what}`);
        }
      }

      // Retired, its jobs are cancelled (they read the secured Kafka, which stops with the run).
      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
      assert.equal(((await handle.result()) as ProductStatus).stage, 'retired');
      const live = (await rest.listJobs()).filter(
        (job) => job.name.includes(`:${productId}:`) && !terminalJobStates.includes(job.state),
      );
      assert.deepEqual(
        live.map((job) => `${job.name} ${job.state}`),
        [],
      );
    } finally {
      await handle.terminate('test finished').catch(() => undefined);
      await cancelJobsOf(config, productId);
    }
  });

  /** The Temporal CLI (the stack's cached binary) against the TLS endpoint, with its own TLS flags. */
  async function temporalWorkflowShow(workflowId: string): Promise<string> {
    const binary = await resolveTemporalBinary(config.stack, () => undefined);
    const p = secured.profile;
    const args = [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--address',
      p.TEMPORAL_ADDRESS!,
      '--namespace',
      p.TEMPORAL_NAMESPACE!,
      '--tls-ca-path',
      p.TEMPORAL_TLS_SERVER_CA_CERT_PATH!,
      '--tls-server-name',
      p.TEMPORAL_TLS_SERVER_NAME!,
      '--output',
      'json',
    ];
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        binary.path,
        args,
        { env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? os.homedir() }, maxBuffer: 64 << 20 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    // Payloads the CLI could not show as JSON stay base64: decode those too.
    const decoded = [...stdout.matchAll(/"data":\s*"([A-Za-z0-9+/=]{8,})"/g)].map((m) =>
      Buffer.from(m[1]!, 'base64').toString('utf8'),
    );
    return [stdout, ...decoded].join('\n');
  }
});

/** Cancels whatever Flink job of the product still runs (when the test failed before retiring it). */
async function cancelJobsOf(config: MeshloopConfig, productId: string): Promise<void> {
  const rest = new FlinkRestClient({ url: config.flink.restUrl });
  for (const job of await rest.listJobs().catch(() => [])) {
    if (job.name.includes(`:${productId}:`) && !terminalJobStates.includes(job.state)) {
      await rest.cancelJob(job.jid).catch(() => undefined);
    }
  }
}

/** Every record of a topic, keys and values as text, read to its end (a `_meshloop-` group). */
async function topicRecords(kafka: Kafka, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  const texts: string[] = [];
  const consumer = kafka.consumer({ groupId: `_meshloop-e2e-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        texts.push(`${String(message.key)} ${String(message.value)}`);
        if (BigInt(message.offset) + 1n >= (remaining.get(partition) ?? 0n)) remaining.delete(partition);
        return Promise.resolve();
      },
    });
    for (const [partition, high] of remaining) if (high === 0n) remaining.delete(partition);
    await waitUntil(() => Promise.resolve(remaining.size === 0), { timeoutMs: 60_000, intervalMs: 250 });
  } finally {
    await consumer.disconnect();
  }
  assert.equal(remaining.size, 0, `the catalog topic was not read to its end`);
  return texts.join('\n');
}

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import type { Check } from '../../src/cli/doctor';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { FieldProfile, TopicProfile } from '../../src/profile';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import type { SecuredPlatform } from '../helpers/secured-platform';
import { SECURED_TOPIC_PREFIX, securedPlatform, securedPorts } from '../helpers/secured-platform';
import { securedKafkaClient } from '../helpers/secured/kafka';

const root = path.resolve(__dirname, '..', '..');

type CliResult = { code: number; stdout: string; stderr: string };
type DoctorReport = { ok: boolean; checks: Check[] };

/**
 * Meshloop against the second, secured platform (test/helpers/secured-platform.ts): Kafka over
 * SASL_SSL with SCRAM-SHA-512 and ACLs, Temporal and the Schema Registry behind TLS (the registry
 * with basic auth too), a CA made by the test. Meshloop is configured only through the profile the
 * harness writes: the CLI runs in a directory whose `.env` is that profile, with no other setting.
 */
describe('the secured platform, configured only through a profile', function () {
  const run = `${SECURED_TOPIC_PREFIX}${randomUUID().replace(/-/g, '').slice(0, 8)}_`;
  let platform: SecuredPlatform;
  let workDir: string;
  let env: Record<string, string>;
  let config: MeshloopConfig;
  let kafka: Kafka;
  const taskQueue = `secured-${run}`;

  /** `bin/meshloop` in the work directory: its settings come from `.env` there, and `overrides`. */
  function cli(args: readonly string[], overrides: Record<string, string> = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(root, 'bin', 'meshloop'), [...args], {
        cwd: workDir,
        env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? os.homedir(), ...overrides },
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

  async function doctor(overrides: Record<string, string> = {}): Promise<Map<string, Check>> {
    const result = await cli(['doctor', '--json'], overrides);
    const report = JSON.parse(result.stdout) as DoctorReport;
    assert.equal(result.code, report.ok ? 0 : 1, result.stderr);
    return new Map(report.checks.map((c) => [c.name, c]));
  }

  function failed(checks: Map<string, Check>, name: string, fix: RegExp): void {
    const check = checks.get(name)!;
    assert.equal(check.ok, false, `${name} passed: ${check.detail}`);
    assert.match(check.fix!, fix, `${name}: ${check.detail} | ${check.fix}`);
  }

  const secrets = () => [
    platform.profile.MESHLOOP_KAFKA_SASL_PASSWORD!,
    platform.profile.MESHLOOP_SCHEMA_REGISTRY_PASSWORD!,
    platform.kafkaAdmin.password,
  ];

  before(async function () {
    this.timeout(15 * 60_000);
    platform = await securedPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-secured-test-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: Object.fromEntries(
          ['loyalty', 'support'].map((d) => [
            `${run}${d}`,
            { approvers: [`${d}-lead`], businessGoals: [`Use ${d} data.`] },
          ]),
        ),
      }),
    );
    // The profile, and what any install sets for itself (where its data and mesh file are).
    const local = {
      MESHLOOP_DATA_DIR: path.join(workDir, 'data'),
      MESHLOOP_MESH_FILE: meshFile,
      OPENAI_API_KEY: '',
    };
    await fs.writeFile(
      path.join(workDir, '.env'),
      `${await fs.readFile(platform.envFile, 'utf8')}${Object.entries(local)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
    env = { ...platform.profile, ...local, HOME: process.env.HOME ?? os.homedir() };
    config = loadConfig(env);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'secured-test' });
  });

  after(async () => {
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('`meshloop doctor` passes: Temporal over TLS, Kafka over SASL_SSL, the registry over TLS with credentials', async function () {
    this.timeout(120_000);
    const checks = await doctor();
    for (const check of checks.values()) assert.equal(check.ok, true, `${check.name}: ${check.detail}`);
    assert.match(checks.get('temporal')!.detail, /namespace 'secured' described/);
    assert.equal(checks.get('temporal')!.target, `127.0.0.1:${securedPorts.temporalTls} (secured)`);
    assert.equal(checks.get('kafka')!.target, `127.0.0.1:${securedPorts.kafka}`);
    assert.match(
      checks.get('schema-registry')!.target,
      new RegExp(`^https://localhost:${securedPorts.registryTls}/`),
    );
  });

  it('`meshloop config` shows the profile came from .env, and masks its secrets', async function () {
    this.timeout(60_000);
    const result = await cli(['config', '--json']);
    assert.equal(result.code, 0, result.stderr);
    for (const secret of secrets())
      assert.ok(!result.stdout.includes(secret), 'a secret in `meshloop config`');
    const settings = (JSON.parse(result.stdout) as { settings: Array<{ key: string; source: string }> })
      .settings;
    const source = (key: string) => settings.find((s) => s.key === key)?.source;
    assert.match(String(source('MESHLOOP_KAFKA_SASL_PASSWORD')), /\.env/);
    assert.match(String(source('MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE')), /\.env/);
  });

  it('`meshloop seed` writes an Avro and a Protobuf topic over SASL_SSL, their schemas through the TLS registry', async function () {
    this.timeout(5 * 60_000);
    const seeded = await cli([
      'seed',
      '--only',
      'loyalty,support',
      '--registry-count',
      '400',
      '--topic-prefix',
      run,
      '--json',
    ]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const out = JSON.parse(seeded.stdout) as {
      topics: Array<{ topic: string; format: string; records: number }>;
    };
    assert.deepEqual(
      out.topics.map((t) => [t.topic, t.format]),
      [
        [`${run}loyalty.points`, 'avro'],
        [`${run}support.tickets`, 'protobuf'],
      ],
    );
    for (const secret of secrets()) assert.ok(!`${seeded.stdout}${seeded.stderr}`.includes(secret));
  });

  describe('discovery on a worker that reaches Temporal through the TLS proxy', () => {
    let connection: Connection;
    let client: Client;
    let worker: RunningWorker;
    let result: DiscoveryResult | undefined;
    const workflowId = `secured-discovery-${run}`;

    before(async function () {
      this.timeout(60_000);
      const withQueue = loadConfig({ ...env, MESHLOOP_TASK_QUEUE: taskQueue });
      connection = await Connection.connect(temporalConnectOptions(withQueue.temporal.connection));
      client = new Client({ connection, namespace: withQueue.temporal.namespace });
      worker = await startOrchestrationWorker(withQueue, createLogger('secured-test', 'warn'), { taskQueue });
    });

    after(async () => {
      for (const productId of result?.started ?? []) {
        await client.workflow
          .getHandle(workflowIdOf(productId))
          .terminate('test finished')
          .catch(() => undefined);
      }
      await worker?.shutdown();
      await connection?.close();
    });

    it('profiles the Avro and Protobuf topics with their registered field names, and proposes products over them', async function () {
      this.timeout(5 * 60_000);
      result = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
        taskQueue,
        workflowId,
        args: [{ topicPrefix: run, maxMessages: 400, sampleDeadlineMs: 60_000, agent: 'planner' }],
      });
      const stored = JSON.parse(await fs.readFile(result.profilesFile, 'utf8')) as {
        profiles: TopicProfile[];
        summaries: unknown[];
      };
      const profileOf = (topic: string) => stored.profiles.find((p) => p.topic === `${run}${topic}`)!;
      const names = (profile: TopicProfile) =>
        profile.fields.map((f: FieldProfile) => `${f.name}:${f.registeredType}`);

      const loyalty = profileOf('loyalty.points');
      // The sample's summaries say why when a topic came back empty (deleted records, a deadline).
      assert.equal(loyalty.format?.kind, 'avro', JSON.stringify(stored.summaries));
      assert.equal(loyalty.unparseable.total, 0, JSON.stringify(loyalty.unparseable));
      assert.deepEqual(names(loyalty), [
        'event_id:string',
        'customer_id:string',
        'points:int',
        'reason:enum',
        'balance:long',
        'channel:string',
        'earned_at:timestamp-millis',
      ]);
      const support = profileOf('support.tickets');
      assert.equal(support.format?.kind, 'protobuf');
      assert.equal(support.unparseable.total, 0, JSON.stringify(support.unparseable));
      assert.deepEqual(names(support), [
        'ticket_id:string',
        'customer_id:string',
        'order_id:string',
        'priority:meshloop.support.Ticket.Priority',
        'satisfaction:int32',
        'escalated:bool',
        'opened_at:google.protobuf.Timestamp',
      ]);

      // The planner proposed a product over each (product jobs read JSON only so far, so the
      // report lists them among the dropped, with that reason).
      const report = JSON.parse(await fs.readFile(result.reportFile, 'utf8')) as {
        proposals: Array<{ spec: { name: string } }>;
        dropped: Array<{ name: string; reasons: string[] }>;
      };
      const proposed = [...report.proposals.map((p) => p.spec.name), ...report.dropped.map((d) => d.name)];
      for (const name of ['points_curated', 'tickets_curated'])
        assert.ok(proposed.includes(name), proposed.join(', '));
    });

    it("leaves none of the platform's secrets in the discovery workflow's history", async function () {
      this.timeout(60_000);
      const history = JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
      assert.ok(history.includes(run), 'the history is not the one expected');
      for (const secret of secrets()) assert.ok(!history.includes(secret), 'a secret in workflow history');
    });
  });

  it("the ACLs hold: Meshloop's user neither sees, reads nor creates topics outside its grants", async function () {
    this.timeout(120_000);
    const restricted = `restricted_${run}payroll`;
    const admin = securedKafkaClient(
      {
        port: securedPorts.kafka,
        caFile: platform.certificates.caFile,
        user: 'admin',
        password: platform.kafkaAdmin.password,
      },
      'secured-test-admin',
    );
    const superAdmin = admin.admin();
    await superAdmin.connect();
    await createTopicsAndAwaitLeaders(superAdmin, [
      { topic: restricted, numPartitions: 1, replicationFactor: 1 },
    ]);
    await superAdmin.disconnect();
    const producer = admin.producer();
    await producer.connect();
    await producer.send({ topic: restricted, messages: [{ value: '{"salary": 1}' }] });
    await producer.disconnect();

    const own = kafka.admin();
    await own.connect();
    try {
      // Under its prefix it may create topics.
      await createTopicsAndAwaitLeaders(own, [
        { topic: `${SECURED_TOPIC_PREFIX}acl_${run}own`, numPartitions: 1, replicationFactor: 1 },
      ]);
      const topics = await own.listTopics();
      assert.ok(topics.includes(`${SECURED_TOPIC_PREFIX}acl_${run}own`), topics.join(', '));
      assert.ok(!topics.includes(restricted), 'the restricted topic is listed to meshloop');
      await assert.rejects(own.fetchTopicOffsets(restricted), /authoriz/i);
      await assert.rejects(
        own.createTopics({ topics: [{ topic: `other_${run}x`, numPartitions: 1 }] }),
        (error: { errors?: Array<{ type?: string }> }) => {
          assert.deepEqual(
            error.errors?.map((e) => e.type),
            ['TOPIC_AUTHORIZATION_FAILED'],
          );
          return true;
        },
      );
    } finally {
      await own.disconnect();
    }
    const consumer = kafka.consumer({ groupId: `_meshloop-acl-${run}` });
    await consumer.connect();
    try {
      await assert.rejects(consumer.subscribe({ topics: [restricted], fromBeginning: true }), /authoriz/i);
    } finally {
      await consumer.disconnect();
    }
  });

  it('each wrong setting fails its check with a fix that names the setting', async function () {
    this.timeout(120_000);
    const { otherCaFile } = platform.certificates;
    // One after the other: a loaded machine may not connect within doctor's timeouts when they run at once.
    const credentials = await doctor({
      MESHLOOP_KAFKA_SASL_PASSWORD: 'not-the-password',
      TEMPORAL_NAMESPACE: 'no-such-namespace',
      MESHLOOP_SCHEMA_REGISTRY_URL: `https://localhost:${securedPorts.registryTls + 1}/apis/ccompat/v7`,
    });
    const wrongCa = await doctor({
      MESHLOOP_KAFKA_TLS_CA_FILE: otherCaFile,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCaFile,
      MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: otherCaFile,
    });
    // TLS expected, not offered: TLS clients against plaintext listeners.
    const tlsNotOffered = await doctor({
      MESHLOOP_KAFKA_BROKERS: `127.0.0.1:${securedPorts.kafkaController}`,
      TEMPORAL_ADDRESS: `127.0.0.1:${securedPorts.temporalPlain}`,
      MESHLOOP_SCHEMA_REGISTRY_PASSWORD: 'not-the-password',
    });
    // Plaintext clients against TLS listeners.
    const plaintextToTls = await doctor({
      MESHLOOP_KAFKA_TLS_CA_FILE: '',
      MESHLOOP_KAFKA_SASL_MECHANISM: '',
      MESHLOOP_KAFKA_SASL_USERNAME: '',
      MESHLOOP_KAFKA_SASL_PASSWORD: '',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: '',
      TEMPORAL_TLS_SERVER_NAME: '',
      MESHLOOP_SCHEMA_REGISTRY_URL: `http://localhost:${securedPorts.registryTls}/apis/ccompat/v7`,
    });
    failed(credentials, 'kafka', /MESHLOOP_KAFKA_SASL_PASSWORD/);
    failed(
      credentials,
      'temporal',
      /namespace 'no-such-namespace' does not exist there: set TEMPORAL_NAMESPACE/,
    );
    failed(
      credentials,
      'schema-registry',
      /no Schema Registry answers at .*: set MESHLOOP_SCHEMA_REGISTRY_URL/,
    );

    failed(wrongCa, 'kafka', /not signed by a CA Meshloop trusts .*: set MESHLOOP_KAFKA_TLS_CA_FILE/);
    failed(
      wrongCa,
      'temporal',
      /not signed by a CA Meshloop trusts .*: set TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
    );
    failed(
      wrongCa,
      'schema-registry',
      /not signed by a CA Meshloop trusts .*: set MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE/,
    );

    failed(
      tlsNotOffered,
      'kafka',
      /offers no TLS there: put the TLS listener's port in MESHLOOP_KAFKA_BROKERS/,
    );
    failed(tlsNotOffered, 'temporal', /offers no TLS: point TEMPORAL_ADDRESS at its TLS endpoint/);
    failed(
      tlsNotOffered,
      'schema-registry',
      /refused the credentials: check MESHLOOP_SCHEMA_REGISTRY_USER and MESHLOOP_SCHEMA_REGISTRY_PASSWORD/,
    );

    failed(plaintextToTls, 'kafka', /speaks TLS .*MESHLOOP_KAFKA_TLS is off: set MESHLOOP_KAFKA_TLS=true/);
    failed(plaintextToTls, 'temporal', /speaks TLS, but TLS is off: set TEMPORAL_TLS=true/);
    failed(
      plaintextToTls,
      'schema-registry',
      /speaks TLS: use an https:\/\/ URL in MESHLOOP_SCHEMA_REGISTRY_URL/,
    );

    // One wrong setting fails its own check only.
    assert.equal(credentials.get('flink-rest')!.ok, true);
    assert.equal(tlsNotOffered.get('flink-sql-gateway')!.ok, true);
  });
});

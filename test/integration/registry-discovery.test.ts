import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { stringify as toYaml } from 'yaml';
import { JsonSerializer, SchemaRegistryClient, SerdeType } from '@confluentinc/schemaregistry';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { schemaRegistryClientConfig } from '../../src/adapters/schema-registry/client';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { FieldProfile, TopicProfile } from '../../src/profile';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import { getStatusQuery } from '../../workflows/definitions';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';

/**
 * The local stack's Schema Registry (Apicurio, Confluent's API) end to end: `meshloop seed` writes
 * the Avro and Protobuf domains through it, discovery decodes them through it and proposes products
 * from their registered fields.
 */
describe('discovery of Avro and Protobuf topics through the Schema Registry', function () {
  const run = `r${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const prefix = `${run}_`;
  const domains = ['customers', 'orders', 'loyalty', 'support'];
  let config: MeshloopConfig;
  let env: NodeJS.ProcessEnv;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let workDir: string;
  let result: DiscoveryResult | undefined;
  const taskQueue = `registry-discovery-${run}`;

  before(async function () {
    this.timeout(15 * 60_000);
    await testPlatform();
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-registry-'));
    const meshFile = path.join(workDir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      toYaml({
        domains: Object.fromEntries(
          domains.map((d) => [
            `${prefix}${d}`,
            { approvers: [`${d}-lead`], businessGoals: [`Use ${d} data.`] },
          ]),
        ),
      }),
    );
    env = {
      ...testEnvironment(),
      MESHLOOP_MESH_FILE: meshFile,
      MESHLOOP_TASK_QUEUE: taskQueue,
      OPENAI_API_KEY: '',
    };
    config = loadConfig(env);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'registry-discovery-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    worker = await startOrchestrationWorker(config, createLogger('registry-discovery-test', 'warn'), {
      taskQueue,
    });
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
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('`stack status` lists the registry, healthy', async function () {
    this.timeout(60_000);
    const status = await runCli(['stack', 'status', '--json'], env);
    const services = JSON.parse(status.stdout) as Array<{ service: string; state: string; urls: object }>;
    const registry = services.find((s) => s.service === 'registry');
    assert.equal(registry?.state, 'healthy', status.stdout);
    assert.deepEqual(registry.urls, { confluentApi: config.schemaRegistry.url });
  });

  it('`meshloop seed` writes the Avro and Protobuf domains in wire format, schemas under <topic>-value', async function () {
    this.timeout(5 * 60_000);
    const seeded = await runCli(
      ['seed', '--only', 'loyalty,support', '--registry-count', '1500', '--topic-prefix', prefix, '--json'],
      env,
    );
    assert.equal(seeded.code, 0, seeded.stderr);
    const out = JSON.parse(seeded.stdout) as {
      topics: Array<{ topic: string; records: number; format: string; subject?: string }>;
    };
    assert.deepEqual(
      out.topics.map((t) => [t.topic, t.format, t.subject]),
      [
        [`${prefix}loyalty.points`, 'avro', `${prefix}loyalty.points-value`],
        [`${prefix}support.tickets`, 'protobuf', `${prefix}support.tickets-value`],
      ],
    );
    const subjects = (await (await fetch(`${config.schemaRegistry.url}/subjects`)).json()) as string[];
    assert.ok(subjects.includes(`${prefix}loyalty.points-value`), subjects.join(', '));
    const latest = (await (
      await fetch(`${config.schemaRegistry.url}/subjects/${prefix}support.tickets-value/versions/latest`)
    ).json()) as { schemaType?: string; id: number };
    assert.equal(latest.schemaType, 'PROTOBUF');

    // The bytes in Kafka: magic byte 0, then the id the registry gave.
    const consumer = kafka.consumer({ groupId: `${run}-peek` });
    await consumer.connect();
    await consumer.subscribe({ topic: `${prefix}support.tickets`, fromBeginning: true });
    const first = await new Promise<Buffer>((resolve) => {
      void consumer.run({ eachMessage: ({ message }) => Promise.resolve(resolve(message.value!)) });
    });
    await consumer.disconnect();
    assert.equal(first[0], 0);
    assert.equal(first.readUInt32BE(1), latest.id);

    // JSON domains beside them, so the registry topics can relate to customers and orders.
    await seedKafka(kafka, { count: 3000, seed: 42, topicPrefix: prefix, only: ['customers', 'orders'] });
  });

  it('a JSON Schema topic, with records the registry cannot explain beside it', async function () {
    this.timeout(2 * 60_000);
    const topic = `${prefix}support.surveys`;
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
    await admin.disconnect();
    const registry = new SchemaRegistryClient(schemaRegistryClientConfig(config.schemaRegistry));
    await registry.register(`${topic}-value`, {
      schemaType: 'JSON',
      schema: JSON.stringify({
        type: 'object',
        properties: {
          survey_id: { type: 'string' },
          score: { type: 'integer' },
          answered_at: { type: 'string', format: 'date-time' },
        },
      }),
    });
    const serializer = new JsonSerializer(registry, SerdeType.VALUE, { useLatestVersion: true });
    const values: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      values.push(
        await serializer.serialize(topic, {
          survey_id: `srv-${i}`,
          score: i % 11,
          answered_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
        }),
      );
    }
    // An id the registry never gave, and a record cut short after its header.
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0x01, 0x7b, 0x7d]);
    const truncated = Buffer.concat([values[0]!.subarray(0, 5), Buffer.from('{"survey_id": ')]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [...values, unknownId, truncated].map((value) => ({ value })),
    });
    await producer.disconnect();
  });

  it('profiles them with their registered field names and types; proposes a product over the Avro topic (its SQL passes the guard), none over Protobuf or JSON Schema', async function () {
    this.timeout(5 * 60_000);
    result = await client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
      taskQueue,
      workflowId: `registry-discovery-${run}`,
      args: [{ topicPrefix: prefix, maxMessages: 3000, sampleDeadlineMs: 60_000, agent: 'planner' }],
    });
    const stored = JSON.parse(await fs.readFile(result.profilesFile, 'utf8')) as { profiles: TopicProfile[] };
    const profileOf = (topic: string) => stored.profiles.find((p) => p.topic === `${prefix}${topic}`)!;
    const typed = (profile: TopicProfile) =>
      Object.fromEntries(profile.fields.map((f: FieldProfile) => [f.name, `${f.type}/${f.registeredType}`]));

    const loyalty = profileOf('loyalty.points');
    assert.equal(loyalty.unparseable.total, 0, JSON.stringify(loyalty.unparseable));
    assert.ok(loyalty.parsed > 1000, `${loyalty.parsed} parsed`);
    assert.equal(loyalty.format?.kind, 'avro');
    assert.deepEqual(loyalty.format.subjects, [`${prefix}loyalty.points-value`]);
    assert.deepEqual(typed(loyalty), {
      event_id: 'string/string',
      customer_id: 'string/string',
      points: 'long/int',
      reason: 'string/enum',
      balance: 'long/long',
      channel: 'string/string',
      earned_at: 'timestamp/timestamp-millis',
    });
    assert.equal(loyalty.eventTimeField, 'earned_at');
    assert.deepEqual(loyalty.candidateKeys, ['event_id']);

    const support = profileOf('support.tickets');
    assert.equal(support.unparseable.total, 0, JSON.stringify(support.unparseable));
    assert.equal(support.format?.kind, 'protobuf');
    assert.deepEqual(typed(support), {
      ticket_id: 'string/string',
      customer_id: 'string/string',
      order_id: 'string/string',
      priority: 'string/meshloop.support.Ticket.Priority',
      satisfaction: 'long/int32',
      escalated: 'boolean/bool',
      opened_at: 'timestamp/google.protobuf.Timestamp',
    });
    assert.ok(
      support.fields.find((f) => f.name === 'priority')?.topValues?.some((v) => v.value === 'NORMAL'),
    );

    const surveys = profileOf('support.surveys');
    assert.equal(surveys.format?.kind, 'json-schema');
    assert.equal(surveys.parsed, 200);
    assert.equal(surveys.unparseable.byReason.unknownSchema, 1, JSON.stringify(surveys.unparseable));
    assert.equal(surveys.unparseable.byReason.undecodable, 1, JSON.stringify(surveys.unparseable));
    assert.deepEqual(typed(surveys), {
      survey_id: 'string/string',
      score: 'long/integer',
      answered_at: 'timestamp/string (date-time)',
    });

    // JSON topics profile as they always did.
    const orders = profileOf('orders.orders');
    assert.equal(orders.format, undefined);
    assert.equal(orders.unparseable.total, 0);

    // Product jobs read JSON and Avro: the Avro product is proposed (its input read as Avro), the
    // Protobuf one would fill nothing, so it is not started, and the discovery report says why.
    const report = JSON.parse(await fs.readFile(result.reportFile, 'utf8')) as {
      proposals: Array<{ spec: { name: string; inputs: Array<{ topic?: string; format?: string }> } }>;
      dropped: Array<{ name: string; reasons: string[] }>;
    };
    assert.ok(
      result.started.some((id) => id.endsWith('.points_curated')),
      `points_curated not started: ${result.started.join(', ')}`,
    );
    const points = report.proposals.find((p) => p.spec.name === 'points_curated');
    assert.deepEqual(
      points?.spec.inputs.map((input) => input.format),
      ['avro'],
      JSON.stringify(points?.spec.inputs),
    );
    // The SQL guard declares the Avro input as the job will (avro-confluent, the registered schema):
    // the proposal reaches its approvers.
    const pointsId = result.started.find((id) => id.endsWith('.points_curated'))!;
    const pointsHandle = client.workflow.getHandle(workflowIdOf(pointsId));
    let stage = '';
    await waitUntil(
      async () => {
        stage = (await pointsHandle.query(getStatusQuery)).stage;
        return stage !== 'proposed';
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(
      stage,
      'awaitingApproval',
      JSON.stringify((await pointsHandle.query(getStatusQuery)).lastError),
    );
    assert.ok(
      !result.started.some((id) => id.endsWith('.tickets_curated')),
      `tickets_curated started: ${result.started.join(', ')}`,
    );
    const dropped = report.dropped.find((d) => d.name === 'tickets_curated');
    assert.ok(dropped, `tickets_curated not among the dropped: ${JSON.stringify(report.dropped)}`);
    assert.match(dropped.reasons.join(' '), /Schema Registry's wire format .*JSON and Avro records only/);
    assert.ok(
      result.started.some((id) => id.endsWith('orders.orders_curated')),
      result.started.join(', '),
    );
  });
});

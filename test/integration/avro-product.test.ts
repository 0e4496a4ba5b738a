import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { AvroSerializer, SerdeType, SubjectNameStrategyType } from '@confluentinc/schemaregistry';
import { FlinkRestClient, SqlGatewayClient, terminalJobStates } from '../../src/adapters/flink';
import { readCatalog } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createIdempotentProducer } from '../../src/adapters/kafka/producer';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { createSchemaRegistryClient, valueSchemaLookup } from '../../src/adapters/schema-registry/client';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { ProductJobs } from '../../src/creation/product-jobs';
import { inputBindingsOf } from '../../src/creation/inputs';
import { rejectedTopicOf } from '../../src/domain/creation';
import { secretValuesOf } from '../../src/domain/flink-types';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { queryProduct } from '../../src/query/product-query';
import type { LoyaltyPoints } from '../../src/seed/registry-generator';
import { generateRegistryRecords } from '../../src/seed/registry-generator';
import { seedRegistryTopics } from '../../src/seed/registry-seed';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';

/** Stand-ins for real credentials: harmless on the plaintext platform, searched for everywhere after. */
const KAFKA_SECRET = `kafka-secret-${randomUUID()}`;
const REGISTRY_SECRET = `registry-secret-${randomUUID()}`;
const SEEDED = 120;

/**
 * Product jobs over Avro topics on the real platform: the demo seed's `loyalty.points` (Avro through
 * the Schema Registry) read by Flink's avro-confluent format. Through the real worker: the product is
 * proposed, approved, its job fills its topic with the registered field names, and its Iceberg table
 * follows. The worker runs with Kafka and registry secrets configured (ignored by the plaintext,
 * auth-less platform, but sent in every session): none of them appears in workflow history, the
 * product's state, the catalog, `meshloop show` or the worker's logs.
 */
describe('product jobs read Avro topics (real worker, real platform)', function () {
  this.timeout(300_000);
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const prefix = `av${run}_`;
  const pointsTopic = `${prefix}loyalty.points`;
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  const logLines: string[] = [];
  const taskQueue = `avro-product-${run}`;

  before(async function () {
    this.timeout(15 * 60_000);
    await testPlatform();
    config = loadConfig({
      ...testEnvironment(),
      // PLAINTEXT ignores a JAAS config, and the platform's registry asks for no credentials: both are
      // sent all the same, so each place that could leak them is looked at.
      MESHLOOP_FLINK_KAFKA_PROPERTIES: JSON.stringify({
        'sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required username="meshloop" password="${KAFKA_SECRET}";`,
      }),
      MESHLOOP_SCHEMA_REGISTRY_USER: 'meshloop',
      MESHLOOP_SCHEMA_REGISTRY_PASSWORD: REGISTRY_SECRET,
    });
    assert.ok(secretValuesOf(config.flink).includes(KAFKA_SECRET));
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'avro-product-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    await seedRegistryTopics(kafka, config.schemaRegistry, {
      count: SEEDED,
      topicPrefix: prefix,
      only: ['loyalty'],
    });
    worker = await startOrchestrationWorker(
      config,
      createLogger('avro-worker', 'debug', (line) => logLines.push(line)),
      { taskQueue },
    );
  });

  after(async () => {
    await worker?.shutdown();
    await connection?.close();
  });

  async function readTopic(topic: string, count: number): Promise<Array<Record<string, unknown>>> {
    const consumer = kafka.consumer({ groupId: `avro-test-${randomUUID()}` });
    const rows: Array<Record<string, unknown>> = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          rows.push(JSON.parse(String(message.value)) as Record<string, unknown>);
          return Promise.resolve();
        },
      });
      await waitUntil(() => Promise.resolve(rows.length >= count), { timeoutMs: 120_000, intervalMs: 250 });
    } finally {
      await consumer.disconnect();
    }
    return rows;
  }

  it('an approved product over loyalty.points runs, fills its topic with the registered fields, lands in Iceberg, and no secret is stored or shown', async () => {
    const name = `points_${run}`;
    const spec = parseSpec({
      name,
      domain: 'loyalty',
      owner: 'judy',
      description: 'Loyalty point events as earned, read from the Avro topic with their registered names.',
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
              { name: 'channel', type: 'string' },
              { name: 'earned_at', type: 'timestamp' },
            ],
            eventTimeField: 'earned_at',
          },
        },
      ],
      sql: 'SELECT event_id, customer_id, points, reason, channel, earned_at FROM points',
      outputTopic: { partitions: 2, retentionMs: 86_400_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'event_id', type: 'string', nullable: false },
          { name: 'customer_id', type: 'string' },
          { name: 'points', type: 'long' },
          { name: 'reason', type: 'string' },
          { name: 'channel', type: 'string' },
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
    await waitUntil(async () => (await handle.query(getStatusQuery)).stage === 'awaitingApproval', {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'judy' }] });
    await waitUntil(async () => ['active', 'failed'].includes((await handle.query(getStatusQuery)).stage), {
      timeoutMs: 180_000,
      intervalMs: 300,
    });
    const active = await handle.query(getStatusQuery);
    assert.equal(active.stage, 'active', JSON.stringify(active.lastError));

    // Every seeded event, with the registered names and values (the enum as its symbol, the
    // nullable union as null or its string, timestamp-millis as the instant).
    const rows = await readTopic(productId, SEEDED);
    assert.equal(rows.length, SEEDED);
    const generator = generateRegistryRecords({ topicPrefix: prefix, only: ['loyalty'] });
    const expected = Array.from({ length: SEEDED }, () => generator.next().value!.value as LoyaltyPoints);
    const byId = new Map(rows.map((row) => [row.event_id, row]));
    for (const event of expected) {
      const row = byId.get(event.event_id);
      assert.ok(row, `${event.event_id} is not in the product's topic`);
      assert.deepEqual(Object.keys(row).sort(), [
        'channel',
        'customer_id',
        'earned_at',
        'event_id',
        'points',
        'reason',
      ]);
      assert.deepEqual(
        { ...row, earned_at: Date.parse(String(row.earned_at)) },
        {
          event_id: event.event_id,
          customer_id: event.customer_id,
          points: event.points,
          reason: event.reason,
          channel: event.channel,
          earned_at: event.earned_at,
        },
      );
    }
    assert.equal(active.job?.rejectedRecords ?? 0, 0);

    // Materialization reads the product's (JSON) topic as for any product.
    let counted = '';
    const landed = await waitUntil(
      async () => {
        const answer = await queryProduct(config, productId, { sql: 'select count(*) AS n from t' }).catch(
          () => undefined,
        );
        const n = answer?.rows[0]?.n;
        counted = typeof n === 'string' || typeof n === 'number' ? String(n) : '';
        return counted === String(SEEDED);
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.equal(landed, 'ready', `the table holds ${counted} rows`);

    // Nothing stored or shown carries a secret.
    const shown = await runCli(['show', productId], { MESHLOOP_TASK_QUEUE: taskQueue });
    assert.equal(shown.code, 0, shown.stderr);
    const places = {
      'workflow history': historyText(await handle.fetchHistory()),
      'product status': JSON.stringify(await handle.query(getStatusQuery)),
      catalog: JSON.stringify((await readCatalog(kafka)).view.get(productId)),
      'meshloop show': shown.stdout + shown.stderr,
      'worker logs': logLines.join('\n'),
    };
    assert.match(places['workflow history'], new RegExp(pointsTopic.replace(/\./g, '\\.')));
    assert.ok(logLines.length > 0, 'the worker logged');
    for (const [place, text] of Object.entries(places)) {
      for (const secret of [KAFKA_SECRET, REGISTRY_SECRET]) {
        assert.ok(!text.includes(secret), `${place} holds a secret`);
      }
    }

    await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
    assert.equal(((await handle.result()) as ProductStatus).stage, 'retired');
  });

  it('records that decode but lack the event time go to the rejected topic; a record that does not decode fails the job with the reason, and a registry or spec error is refused before deploying', async () => {
    const topic = `${prefix}readings`;
    const subject = `${topic}-value`;
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
    await admin.disconnect();
    const registry = await createSchemaRegistryClient(config.schemaRegistry, 60_000);
    await registry.register(subject, {
      schemaType: 'AVRO',
      schema: JSON.stringify({
        type: 'record',
        name: 'Reading',
        namespace: 'test.avro',
        fields: [
          { name: 'sensor', type: 'string' },
          { name: 'value', type: 'double' },
          { name: 'at', type: ['null', { type: 'long', logicalType: 'timestamp-millis' }], default: null },
        ],
      }),
    });
    const serializer = new AvroSerializer(registry, SerdeType.VALUE, {
      useLatestVersion: true,
      subjectNameStrategyType: SubjectNameStrategyType.TOPIC,
    });
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    const send = async (values: Buffer[]) =>
      producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
    const base = Date.UTC(2026, 0, 1);
    const reading = (sensor: string, at: number | null) =>
      serializer.serialize(topic, { sensor, value: 1.5, at });
    await send([await reading('s1', base), await reading('s2', null), await reading('s3', base + 1000)]);

    const spec = parseSpec({
      name: `readings_${run}`,
      domain: 'loyalty',
      owner: 'judy',
      description: 'Sensor readings from an Avro topic, for the rejected and undecodable records.',
      kind: 'source-aligned',
      inputs: [
        {
          topic,
          as: 'readings',
          format: 'avro',
          schema: {
            fields: [
              { name: 'sensor', type: 'string' },
              { name: 'value', type: 'double' },
              { name: 'at', type: 'timestamp' },
            ],
            eventTimeField: 'at',
          },
        },
      ],
      sql: 'SELECT sensor, `value`, `at` FROM readings',
      outputTopic: { partitions: 1 },
      schema: {
        fields: [
          { name: 'sensor', type: 'string' },
          { name: 'value', type: 'double' },
          { name: 'at', type: 'timestamp' },
        ],
        eventTimeField: 'at',
      },
    });
    const productId = productIdOf(spec);
    const rest = new FlinkRestClient({ url: config.flink.restUrl });
    const jobs = new ProductJobs({
      gateway: new SqlGatewayClient({
        url: config.flink.sqlGatewayUrl,
        secrets: secretValuesOf(config.flink),
      }),
      rest,
      kafka,
      connectors: config.flink,
      valueSchemas: valueSchemaLookup(config.schemaRegistry),
    });
    const admin2 = kafka.admin();
    await admin2.connect();
    await createTopicsAndAwaitLeaders(admin2, [{ topic: productId, numPartitions: 1, replicationFactor: 1 }]);
    await admin2.disconnect();

    // A field the registered schema does not have, or a topic with no schema: refused, naming it.
    const wrong = parseSpec({
      ...spec,
      inputs: [{ ...spec.inputs[0]!, schema: { fields: [{ name: 'humidity', type: 'double' }] } }],
    });
    await assert.rejects(
      jobs.deploy({
        productId,
        revision: 1,
        spec: wrong,
        inputs: inputBindingsOf(wrong, () => undefined).bindings,
      }),
      /the field 'humidity' is not in its registered Avro schema \(fields: sensor, value, at\)/,
    );
    const unregistered = parseSpec({ ...spec, inputs: [{ ...spec.inputs[0]!, topic: `${prefix}nothing` }] });
    await assert.rejects(
      jobs.deploy({
        productId,
        revision: 1,
        spec: unregistered,
        inputs: inputBindingsOf(unregistered, () => undefined).bindings,
      }),
      /has no schema under av\w+_nothing-value/,
    );

    const ref = { productId, revision: 1, spec };
    try {
      await jobs.deploy({
        ...ref,
        inputs: inputBindingsOf(spec, () => undefined).bindings,
        fromScratch: true,
      });
      const rows = await readTopic(productId, 2);
      assert.deepEqual(rows.map((row) => row.sensor).sort(), ['s1', 's3']);
      const rejected = await readTopic(rejectedTopicOf(spec), 1);
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]!.reason, 'at: missing or not a timestamp (the event time)');
      assert.equal(rejected[0]!.payload, null, 'an Avro record keeps its coordinates only');
      assert.equal(rejected[0]!.offset, 1);

      // Not the wire format at all: Flink cannot decode it, and the job fails saying so.
      await send([Buffer.from(JSON.stringify({ sensor: 's4', value: 2, at: base }))]);
      let status = await jobs.describe(ref);
      await waitUntil(
        async () => {
          status = await jobs.describe(ref);
          return status.state === 'FAILED';
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      assert.equal(status.state, 'FAILED', JSON.stringify(status));
      assert.match(
        status.failure ?? '',
        /Failed to deserialize Avro record|Magic number|Unknown data format/i,
      );
      process.stdout.write(`      undecodable record: ${status.failure}\n`);
    } finally {
      await producer.disconnect();
      for (const job of await rest.listJobs()) {
        if (job.name.includes(`:${productId}:`) && !terminalJobStates.includes(job.state)) {
          await rest.cancelJob(job.jid).catch(() => undefined);
        }
      }
    }
  });
});

/** Every text in a history: payloads are bytes (JSON inside), so they are decoded. */
function historyText(history: unknown): string {
  const parts: string[] = [];
  const walk = (value: unknown) => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}

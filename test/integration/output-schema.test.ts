import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Kafka } from 'kafkajs';
import { createActivities } from '../../activities';
import type { ActivityClients } from '../../activities';
import { createSchemaRegistryActivities } from '../../activities/schema-registry';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { outputSchemaText } from '../../src/creation/output-schema';
import { profileTopics } from '../../src/discovery/profiling';
import { readJson } from '../../src/discovery/run';
import type { ProductJobInput } from '../../src/domain/creation';
import type { ProductStatus } from '../../src/domain/product-state';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { TopicProfile } from '../../src/profile';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import { amendSpecUpdate, getStatusQuery } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';

/**
 * A product's output schema in the local platform's Schema Registry (Apicurio Registry, Confluent's
 * API): registered under `<topic>-value` with BACKWARD, found again rather than registered twice,
 * amendments tested with Apicurio's own reasons for a refusal, and discovery reading the product's
 * plain JSON topic as JSON although its subject exists.
 */
describe('output schemas in the Schema Registry (Apicurio)', function () {
  this.timeout(60_000);
  const run = `os${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const log = createLogger('output-schema-test', 'warn');
  const spec = validSpec({
    domain: run,
    name: 'daily_revenue',
    schema: {
      fields: [
        { name: 'day', type: 'date', nullable: false },
        { name: 'channel', type: 'string' },
        { name: 'revenue', type: 'decimal' },
      ],
      key: ['day'],
    },
  });
  const subject = `${spec.outputTopic.name}-value`;
  const revision = (n: number, fields: object[]): ProductJobInput => ({
    productId: productIdOf(spec),
    revision: n,
    spec: validSpec({ ...spec, outputTopic: { ...spec.outputTopic }, schema: { fields, key: ['day'] } }),
  });
  const fields = spec.schema.fields.map(({ name, type, nullable }) => ({ name, type, nullable }));
  let config: MeshloopConfig;
  let activities: ReturnType<typeof createSchemaRegistryActivities>;
  const registryGet = async <T>(url: string): Promise<T> => {
    const response = await fetch(`${config.schemaRegistry.url}${url}`);
    assert.ok(response.ok, `GET ${url}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    activities = createSchemaRegistryActivities({ schemaRegistry: config.schemaRegistry, log });
  });

  after(async () => {
    // The registry keeps nothing of the run (both steps are Confluent's API: soft, then permanent).
    const at = `${config.schemaRegistry.url}/subjects/${encodeURIComponent(subject)}`;
    await fetch(at, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${at}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  });

  it('registers the JSON Schema under <topic>-value with BACKWARD; registering again adds nothing', async () => {
    const first = await activities.registerOutputSchema(revision(1, fields));
    assert.ok(first);
    assert.deepEqual(
      { ...first, id: 0 },
      { subject, id: 0, version: 1, compatibility: 'BACKWARD', revision: 1, registered: true },
    );
    const config_ = await registryGet<{ compatibilityLevel: string }>(`/config/${subject}`);
    assert.equal(config_.compatibilityLevel, 'BACKWARD');
    const latest = await registryGet<{ schemaType?: string; schema: string; id: number; version: number }>(
      `/subjects/${subject}/versions/latest`,
    );
    assert.equal(latest.schemaType, 'JSON');
    assert.equal(latest.id, first.id);
    assert.deepEqual(JSON.parse(latest.schema), JSON.parse(outputSchemaText(revision(1, fields).spec)));

    const again = await activities.registerOutputSchema(revision(1, fields));
    assert.deepEqual(again, { ...first, registered: false });
    assert.deepEqual(await registryGet<number[]>(`/subjects/${subject}/versions`), [1]);
  });

  it('takes compatible amendments: a new nullable field, a field made nullable', async () => {
    const widened = await activities.checkOutputSchemaCompatibility(
      revision(2, [...fields, { name: 'orders', type: 'long' }]),
    );
    assert.deepEqual(widened, { compatible: true, subject, against: 1 });
    const nullable = await activities.checkOutputSchemaCompatibility(
      revision(
        2,
        fields.map((f) => ({ ...f, nullable: true })),
      ),
    );
    assert.deepEqual(nullable, { compatible: true, subject, against: 1 });
  });

  it('refuses incompatible amendments with Apicurio’s reasons', async () => {
    const refused = async (changed: object[]) => {
      const check = await activities.checkOutputSchemaCompatibility(revision(2, changed));
      assert.equal(check.compatible, false, JSON.stringify(check));
      assert.equal(check.compatible === false && check.compatibility, 'BACKWARD');
      assert.equal(check.compatible === false && check.against, 1);
      return check.compatible ? [] : check.reasons;
    };
    // A removed field: old records hold it, and the new schema admits no other properties.
    assert.deepEqual(await refused(fields.filter((f) => f.name !== 'channel')), [
      'Object type property schemas narrowed at /propertySchemasRemoved',
    ]);
    // A new required field: old records lack it.
    assert.deepEqual(await refused([...fields, { name: 'orders', type: 'long', nullable: false }]), [
      'A new required property was added at /required',
    ]);
    // A changed type.
    assert.deepEqual(await refused(fields.map((f) => (f.name === 'day' ? { ...f, type: 'long' } : f))), [
      'Combined type subschema not compatible at /properties/day',
    ]);
  });

  it('refuses to register an incompatible schema with the registry’s reason, as provisioning reports it', async () => {
    const changed = fields.map((f) => (f.name === 'day' ? { ...f, type: 'long' } : f));
    await assert.rejects(
      // Through the factory: the error is translated as the workflow sees it.
      createActivities({
        log,
        settings: { schemaRegistry: config.schemaRegistry },
        flink: {},
      } as unknown as ActivityClients).registerOutputSchema(revision(2, changed)),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure, String(error));
        assert.equal(error.type, 'SchemaIncompatible');
        assert.equal(error.nonRetryable, true);
        assert.match(error.message, new RegExp(`under ${subject.replace(/\./g, '\\.')} \\(BACKWARD\\)`));
        assert.match(
          error.message,
          /Incompatible artifact: .*Combined type subschema not compatible at \/properties\/day/,
        );
        return true;
      },
    );
    assert.deepEqual(await registryGet<number[]>(`/subjects/${subject}/versions`), [1]);
  });

  it('registers the approved amendment as the next version', async () => {
    const second = await activities.registerOutputSchema(
      revision(2, [...fields, { name: 'orders', type: 'long' }]),
    );
    assert.equal(second?.version, 2);
    assert.equal(second?.registered, true);
    assert.deepEqual(await registryGet<number[]>(`/subjects/${subject}/versions`), [1, 2]);
  });

  it('a registry that does not answer: a retryable error naming MESHLOOP_SCHEMA_REGISTRY_URL', async () => {
    // A port nothing listens on: taken from the system, then released.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as net.AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const down = createSchemaRegistryActivities({
      schemaRegistry: { url: `http://127.0.0.1:${port}/apis/ccompat/v7` },
      log,
      timeoutMs: 2000,
    });
    for (const attempt of [
      () => down.registerOutputSchema(revision(1, fields)),
      () => down.checkOutputSchemaCompatibility(revision(1, fields)),
    ]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal((error as { type?: string }).type, 'UpstreamUnavailable');
        assert.equal((error as { retryable?: boolean }).retryable, true);
        assert.match(
          error.message,
          new RegExp(`no answer from http://127\\.0\\.0\\.1:${port}/apis/ccompat/v7`),
        );
        assert.match(error.message, /MESHLOOP_SCHEMA_REGISTRY_URL/);
        return true;
      });
    }
  });

  it('discovery profiles the product’s plain JSON topic as JSON although its subject exists', async () => {
    const kafka: Kafka = createKafkaClient({ connection: config.kafka, clientId: 'output-schema-test' });
    const topic = spec.outputTopic.name;
    const admin = kafka.admin();
    const producer = kafka.producer();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-output-schema-'));
    try {
      await admin.connect();
      await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
      await producer.connect();
      await producer.send({
        topic,
        messages: Array.from({ length: 20 }, (_, i) => ({
          value: JSON.stringify({
            day: `2026-01-${String(i + 1).padStart(2, '0')}`,
            channel: 'web',
            revenue: i,
          }),
        })),
      });
      const ref = await profileTopics(
        { kafka, producer, log, dataDir, meshFile: 'mesh.yaml', schemaRegistry: config.schemaRegistry },
        { runKey: run, topics: [topic], maxMessages: 100, maxBytes: 1_000_000, sampleDeadlineMs: 20_000 },
      );
      const stored = await readJson<{ profiles: TopicProfile[] }>(ref.file);
      const profile = stored?.profiles.find((p) => p.topic === topic);
      assert.equal(profile?.records, 20);
      assert.equal(profile?.parsed, 20, 'every record parsed as JSON');
      assert.equal(profile?.unparseable.total, 0);
      assert.equal(profile?.format, undefined, 'no registry format is claimed for the topic');
      assert.deepEqual(
        profile?.fields.map((f) => f.name),
        ['day', 'channel', 'revenue'],
      );
    } finally {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * The same through the real worker: a product whose output topic's subject holds a schema its
 * spec would break is sent back before any approver sees it, with Apicurio's reason; amended to fit,
 * it reaches its approvers (the SQL guard asking Flink on the way).
 */
describe('output schemas through the real worker', function () {
  this.timeout(120_000);
  const run = `ow${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const inputTopic = `${run}.orders.orders`;
  const name = `${run}_orders`;
  const subject = `orders.${name}-value`;
  const taskQueue = `output-schema-${run}`;
  const log = createLogger('output-schema-test', 'warn');
  let config: MeshloopConfig;
  let worker: RunningWorker;
  let connection: Connection;
  let client: Client;

  const specWith = (extraField: boolean) =>
    parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders as placed, for the output schema test.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: inputTopic,
          as: 'orders',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'total_amount', type: 'double' },
            ],
          },
        },
      ],
      sql: extraField
        ? 'SELECT order_id, total_amount AS amount, CAST(NULL AS STRING) AS channel FROM orders WHERE order_id IS NOT NULL'
        : 'SELECT order_id, total_amount AS amount FROM orders WHERE order_id IS NOT NULL',
      outputTopic: { partitions: 1 },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'amount', type: 'double' },
          ...(extraField ? [{ name: 'channel', type: 'string' }] : []),
        ],
        key: ['order_id'],
      },
    });

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'output-schema-test' });
    await seedKafka(kafka, { count: 50, topicPrefix: `${run}.`, only: ['orders'] });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    worker = await startOrchestrationWorker(config, log, { taskQueue });
    // An earlier writer of the topic registered records with a `channel` field.
    const earlier = createSchemaRegistryActivities({ schemaRegistry: config.schemaRegistry, log });
    const spec = specWith(true);
    await earlier.registerOutputSchema({ productId: productIdOf(spec), revision: 1, spec });
  });

  after(async () => {
    await client?.workflow
      .getHandle(`data-product:orders.${name}`)
      .terminate('test finished')
      .catch(() => undefined);
    await worker?.shutdown();
    await connection?.close();
    const at = `${config.schemaRegistry.url}/subjects/${encodeURIComponent(subject)}`;
    await fetch(at, { method: 'DELETE' }).catch(() => undefined);
    await fetch(`${at}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
  });

  async function statusWhen(workflowId: string, done: (s: ProductStatus) => boolean): Promise<ProductStatus> {
    let last: ProductStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        last = await client.workflow.getHandle(workflowId).query(getStatusQuery);
        return done(last);
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    assert.equal(outcome, 'ready', `last: ${JSON.stringify([last?.stage, last?.revision, last?.lastError])}`);
    return last!;
  }

  it('refuses a proposal that drops a registered field with Apicurio’s reason; amended, it reaches the approvers', async () => {
    const { workflowId } = await proposeProduct(client, config, specWith(false), { taskQueue });
    const refused = await statusWhen(workflowId, (s) => s.stage === 'changesRequested');
    assert.equal(refused.lastError?.type, 'SchemaIncompatible', JSON.stringify(refused.lastError));
    assert.match(
      refused.lastError?.message ?? '',
      new RegExp(
        `under ${subject.replace(/\./g, '\\.')} \\(BACKWARD, against version 1\\): ` +
          'Object type property schemas narrowed at /propertySchemasRemoved',
      ),
    );
    assert.equal(refused.decisions.at(-1)?.action, 'policyCheck');

    const amended = await client.workflow
      .getHandle(workflowId)
      .executeUpdate(amendSpecUpdate, { args: [{ by: 'alice', spec: specWith(true) }] });
    assert.equal(amended.revision, 2);
    const waiting = await statusWhen(workflowId, (s) => s.revision === 2 && s.stage === 'awaitingApproval');
    assert.equal(waiting.lastError, undefined);
    assert.deepEqual(waiting.sqlProblems, []);
  });
});

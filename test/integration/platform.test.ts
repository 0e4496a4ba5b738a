import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { stackStatus } from '../../src/stack/stack';
import { waitUntil } from '../../src/stack/probe';
import type { platformCheckWorkflow } from '../fixtures/workflows/platform-check';
import { testPlatform } from '../helpers/platform';
import { temporalConnectOptions } from '../../src/config';

describe('the local platform (real Temporal and Kafka)', function () {
  let config: MeshloopConfig;

  before(async function () {
    this.timeout(15 * 60_000); // a cold first run downloads and builds
    config = await testPlatform();
  });

  it('reports every service healthy', async () => {
    const statuses = await stackStatus(config.stack, { only: ['temporal', 'kafka'] });
    assert.deepEqual(
      statuses.map((s) => [s.service, s.state]),
      [
        ['temporal', 'healthy'],
        ['kafka', 'healthy'],
      ],
    );
  });

  it('runs a workflow on a worker and finds it by a Meshloop search attribute', async () => {
    const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const taskQueue = `platform-check-${randomUUID()}`;
    const domain = `check-${randomUUID().slice(0, 8)}`;
    const worker = await Worker.create({
      connection: await NativeConnection.connect(temporalConnectOptions(config.temporal.connection)),
      namespace: config.temporal.namespace,
      taskQueue,
      workflowsPath: require.resolve('../fixtures/workflows/platform-check'),
    });
    try {
      const result = await worker.runUntil(
        client.workflow.execute<typeof platformCheckWorkflow>('platformCheckWorkflow', {
          taskQueue,
          workflowId: `platform-check-${randomUUID()}`,
          args: ['mesh'],
          typedSearchAttributes: new TypedSearchAttributes([
            { key: meshloopSearchAttributes.domain, value: domain },
          ]),
        }),
      );
      assert.equal(result, 'hello, mesh');

      // Visibility is eventually consistent: poll with a deadline rather than sleep.
      let found: string[] = [];
      const outcome = await waitUntil(
        async () => {
          found = [];
          for await (const execution of client.workflow.list({ query: `MeshloopDomain = '${domain}'` })) {
            found.push(execution.type);
          }
          return found.length === 1;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      assert.equal(outcome, 'ready', `visibility query found ${JSON.stringify(found)}`);
      assert.deepEqual(found, ['platformCheckWorkflow']);
    } finally {
      await connection.close();
    }
  });

  it('creates, describes, produces to and consumes a Kafka topic with kafkajs', async () => {
    const kafka = new Kafka({
      clientId: 'platform-test',
      brokers: [...config.kafka.brokers],
      logLevel: logLevel.WARN,
    });
    const topic = `platform-check-${randomUUID()}`;
    const admin = kafka.admin();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    const consumer = kafka.consumer({ groupId: `platform-check-${randomUUID()}` });
    await admin.connect();
    try {
      const created = await createTopicsAndAwaitLeaders(admin, [
        {
          topic,
          numPartitions: 3,
          configEntries: [
            { name: 'retention.ms', value: '3600000' },
            { name: 'cleanup.policy', value: 'compact' },
          ],
        },
      ]);
      assert.equal(created, true);

      const described = await admin.describeConfigs({
        resources: [
          { type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] },
        ],
        includeSynonyms: false,
      });
      const entries = Object.fromEntries(
        (described.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]),
      );
      assert.deepEqual(entries, { 'retention.ms': '3600000', 'cleanup.policy': 'compact' });
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(metadata.topics[0]?.partitions.length, 3);

      await producer.connect();
      const sent = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i }) }));
      await producer.send({ topic, messages: sent });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumed only ${received.length} of 10`)), 30_000);
        void consumer.run({
          eachMessage: ({ message }) => {
            received.push(message.value?.toString() ?? '');
            if (received.length === sent.length) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        });
      });
      assert.deepEqual(
        received.map((v) => (JSON.parse(v) as { i: number }).i).sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Kafka, Producer } from 'kafkajs';
import { createKafkaActivities } from '../../activities/kafka';
import { ensureCatalogTopic } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import { TopicNotOwnedError } from '../../src/domain/topic-ownership';
import { createLogger } from '../../src/log';
import { testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';

describe('output topics are a product’s own (real Kafka)', function () {
  this.timeout(90_000);
  let kafka: Kafka;
  let producer: Producer;

  before(async function () {
    this.timeout(15 * 60_000);
    const config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'topic-ownership-test' });
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
  });

  after(async () => {
    await producer?.disconnect();
  });

  it('creates its own topic (again on a retry), refuses a raw topic and another product’s topic', async () => {
    const run = randomUUID().replace(/-/g, '').slice(0, 8);
    const activities = createKafkaActivities({
      kafka,
      producer,
      log: createLogger('test', 'error', () => undefined),
      catalogTopic: `_meshloop.catalog-ownership-${run}`,
      topicOwnersTopic: `_meshloop.topic-owners-${run}`,
    });
    const env = new MockActivityEnvironment();
    const settings = { partitions: 3, retentionMs: 604_800_000, cleanupPolicy: 'delete' };
    const create = (productId: string, name: string) =>
      env.run(
        (request: Parameters<typeof activities.createKafkaTopic>[0]) => activities.createKafkaTopic(request),
        {
          productId,
          topic: { name, ...settings },
        },
      );

    // A raw source topic with exactly the settings the product asks for: still not adopted.
    const raw = `orders.raw_${run}`;
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [
      {
        topic: raw,
        numPartitions: 3,
        configEntries: [
          { name: 'retention.ms', value: '604800000' },
          { name: 'cleanup.policy', value: 'delete' },
        ],
      },
    ]);
    // Even with its own descriptor naming the topic (awaiting approval), a product does not own it.
    await ensureCatalogTopic(kafka, `_meshloop.catalog-ownership-${run}`);
    await producer.send({
      topic: `_meshloop.catalog-ownership-${run}`,
      acks: -1,
      messages: [
        {
          key: `orders.raw_${run}`,
          value: JSON.stringify(
            toCatalogDescriptor({
              spec: validSpec({ name: `raw_${run}`, outputTopic: { name: raw } }),
              stage: 'awaitingApproval',
              decisions: [],
              resources: [],
              updatedAt: new Date(),
            }),
          ),
        },
      ],
    });
    const refusedRaw = await create(`orders.raw_${run}`, raw).then(
      () => assert.fail('a raw topic was adopted'),
      (error: unknown) => error,
    );
    assert.ok(refusedRaw instanceof TopicNotOwnedError);
    assert.match(refusedRaw.message, /already exists and was not made for this product/);

    const own = `orders.a_${run}`;
    assert.deepEqual(await create(`orders.a_${run}`, own), { topic: own, created: true });
    assert.deepEqual(
      await create(`orders.a_${run}`, own),
      { topic: own, created: false },
      'a retry finds it',
    );
    const refusedOther = await create(`orders.b_${run}`, own).then(
      () => assert.fail("another product's topic was adopted"),
      (error: unknown) => error,
    );
    assert.ok(refusedOther instanceof TopicNotOwnedError);
    assert.match(refusedOther.message, new RegExp(`is the output of product orders\\.a_${run}`));
    await admin.deleteTopics({ topics: [raw, own] }).catch(() => undefined);
    await admin.disconnect();
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { ensureCatalogTopic, readCompactedRecords } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createLogger } from '../../src/log';
import { testPlatform } from '../helpers/platform';

describe('catalog reader (real Kafka)', function () {
  this.timeout(60_000);
  let kafka: Kafka;

  before(async function () {
    this.timeout(15 * 60_000);
    const config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'catalog-reader-test' });
  });

  it('skips unreadable records with a log line naming their offset, and keeps the highest version', async () => {
    const topic = `_meshloop.catalog-test-${randomUUID().slice(0, 8)}`;
    await ensureCatalogTopic(kafka, topic);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const descriptor = (productId: string, stage: string, version?: number) =>
      JSON.stringify({ productId, stage, ...(version !== undefined ? { version } : {}) });
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'orders.a', value: descriptor('orders.a', 'active', 5) },
        { key: 'orders.bad', value: 'not json {' }, // offset 1
        { key: 'orders.arr', value: '[1,2]' }, // offset 2
        // A late attempt of an older publish lands after the newer descriptor: it must not win.
        { key: 'orders.a', value: descriptor('orders.a', 'awaitingApproval', 3) },
        { key: 'orders.b', value: descriptor('orders.b', 'active') },
        { key: 'orders.b', value: descriptor('orders.b', 'retired', 7) },
        { key: 'orders.c', value: Buffer.from([0xff, 0xfe, 0x00]) }, // offset 6
      ],
    });
    await producer.disconnect();

    const lines: string[] = [];
    const log = createLogger('test', 'info', (line) => lines.push(line));
    const began = Date.now();
    const { records, unreadable } = await readCompactedRecords(kafka, { topic, timeoutMs: 20_000, log });
    assert.ok(Date.now() - began < 15_000, 'no timeout: bad records do not stall the reader');
    assert.equal(unreadable, 3);
    assert.deepEqual([...records.keys()].sort(), ['orders.a', 'orders.b']);
    assert.equal(records.get('orders.a')?.stage, 'active', 'version 5 beats a later version 3');
    assert.equal(records.get('orders.b')?.stage, 'retired');
    const skipped = lines.map((line) => JSON.parse(line) as { message: string; offset: string });
    assert.deepEqual(
      skipped.filter((l) => l.message === 'unreadable catalog record skipped').map((l) => l.offset),
      ['1', '2', '6'],
    );
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
});

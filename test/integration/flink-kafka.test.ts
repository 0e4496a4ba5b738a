import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { stackStatus } from '../../src/stack/stack';
import { consumeMessages, FlinkTestContext, sqlString } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

describe('Flink SQL on the real platform: Kafka to Kafka', function () {
  this.timeout(180_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let flink: FlinkTestContext;
  const topics: string[] = [];

  before(async function () {
    this.timeout(15 * 60_000); // a cold first run downloads Flink and the catalog
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'flink-kafka-test' });
  });

  beforeEach(() => {
    flink = new FlinkTestContext(config);
  });

  afterEach(async () => {
    await flink.cleanUp();
  });

  after(async () => {
    if (topics.length === 0) return;
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  it('reports the Flink services healthy, with the slots of one TaskManager', async () => {
    const statuses = await stackStatus(config.stack, {
      only: ['flink-jobmanager', 'flink-taskmanager', 'flink-sql-gateway'],
    });
    assert.deepEqual(
      statuses.map((s) => [s.service, s.state]),
      [
        ['flink-jobmanager', 'healthy'],
        ['flink-taskmanager', 'healthy'],
        ['flink-sql-gateway', 'healthy'],
      ],
    );
    const overview = await flink.rest.overview();
    assert.equal(overview['flink-version'], config.stack.flink.version);
    assert.equal(overview.taskmanagers, 1);
    assert.equal(overview['slots-total'], config.stack.flink.taskSlots);
    assert.equal((await flink.gateway.info()).version, config.stack.flink.version);
  });

  it('runs a streaming job that filters and transforms a JSON topic into another topic', async () => {
    const suffix = randomUUID().slice(0, 8);
    const input = `it.orders.${suffix}`;
    const output = `it.big-paid-orders.${suffix}`;
    topics.push(input, output);
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [{ topic: input }, { topic: output }]);
    await admin.disconnect();

    const orders = Array.from({ length: 20 }, (_, i) => ({
      order_id: `o-${String(i).padStart(2, '0')}`,
      customer: `customer-${i % 3}`,
      amount: 10 + i * 7.5,
      status: i % 4 === 0 ? 'cancelled' : 'paid',
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: input,
      messages: orders.map((order) => ({ key: order.order_id, value: JSON.stringify(order) })),
    });
    await producer.disconnect();

    const bootstrap = sqlString(config.flink.kafka.bootstrapServers);
    const session = await flink.openSession(`flink-kafka-${suffix}`);
    await session.execute(`
      CREATE TEMPORARY TABLE orders (
        order_id STRING, customer STRING, amount DOUBLE, status STRING
      ) WITH (
        'connector' = 'kafka', 'topic' = ${sqlString(input)},
        'properties.bootstrap.servers' = ${bootstrap},
        'properties.group.id' = ${sqlString(`flink-it-${suffix}`)},
        'scan.startup.mode' = 'earliest-offset',
        'format' = 'json', 'json.fail-on-missing-field' = 'true'
      )`);
    await session.execute(`
      CREATE TEMPORARY TABLE big_paid_orders (
        order_id STRING, customer STRING, amount_cents BIGINT
      ) WITH (
        'connector' = 'kafka', 'topic' = ${sqlString(output)},
        'properties.bootstrap.servers' = ${bootstrap},
        'format' = 'json'
      )`);
    const insert = await session.execute(`
      INSERT INTO big_paid_orders
      SELECT order_id, UPPER(customer), CAST(ROUND(amount * 100, 0) AS BIGINT)
      FROM orders WHERE status = 'paid' AND amount >= 50`);
    const jobId = flink.track(insert.jobId);

    const running = await flink.rest.waitForJobState(jobId, ['RUNNING'], { timeoutMs: 60_000 });
    assert.equal(running.state, 'RUNNING');
    assert.ok((await flink.rest.listJobs()).some((job) => job.jid === jobId && job.state === 'RUNNING'));

    const expected = orders
      .filter((order) => order.status === 'paid' && order.amount >= 50)
      .map((order) => ({
        order_id: order.order_id,
        customer: order.customer.toUpperCase(),
        amount_cents: Math.round(order.amount * 100),
      }));
    assert.ok(expected.length >= 5, 'the fixture keeps a meaningful share of the orders');
    const received = await consumeMessages(kafka, output, expected.length, 90_000);
    const rows = received
      .map((message) => JSON.parse(message.value) as { order_id: string })
      .sort((a, b) => a.order_id.localeCompare(b.order_id));
    assert.deepEqual(rows, expected);

    // Stop gracefully with a savepoint, as a redeploy of the product would.
    const savepoint = await flink.rest.stopWithSavepoint(jobId, { timeoutMs: 90_000 });
    assert.ok(fs.existsSync(fileURLToPath(savepoint.location.replace(/^file:\/(?!\/)/, 'file:///'))));
    const stopped = await flink.rest.waitForJobState(jobId, ['FINISHED'], { timeoutMs: 60_000 });
    assert.equal(stopped.state, 'FINISHED');
  });
});

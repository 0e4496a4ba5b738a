import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { waitUntil } from '../../src/stack/probe';
import { TopicTally } from '../helpers/chaos';
import { testPlatform } from '../helpers/platform';
import { createTopicWith } from '../helpers/topic-records';

const keyed = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: JSON.stringify({ n: from + i }) }));

/**
 * The chaos suite counts each product's topic with a TopicTally. A kafkajs consumer can stop reading
 * after a broker restart without crashing; the tally must then read the topic again, or a fault that
 * lost nothing would be reported as lost records.
 */
describe('The chaos suite’s topic tally, when its consumer stalls', function () {
  this.timeout(120_000);
  let kafka: Kafka;
  let topic: string;
  let tally: TopicTally;

  before(async function () {
    this.timeout(15 * 60_000);
    const config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'chaos-tally-test' });
    topic = `ittally.stall_${randomUUID().slice(0, 8)}`;
    await createTopicWith(kafka, topic, [keyed(0, 40)], 2);
    tally = new TopicTally(kafka, topic);
    await tally.start();
  });

  after(async () => {
    await tally?.stop();
  });

  it('reads the topic again with a fresh consumer, counting each record once', async () => {
    assert.equal(
      await waitUntil(() => Promise.resolve(tally.counts().records === 40), { timeoutMs: 30_000 }),
      'ready',
    );
    // A stall: the consumer fetches nothing more, and nothing crashes.
    tally.reader!.pause([{ topic }]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: keyed(40, 25) });
    await producer.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(tally.counts().records, 40, 'the paused consumer read nothing more');

    tally.reviveIfStalled(65, 1000);
    assert.equal(tally.revivals, 1);
    assert.equal(
      await waitUntil(() => Promise.resolve(tally.counts().records === 65), { timeoutMs: 30_000 }),
      'ready',
    );
    assert.deepEqual(tally.counts(), { records: 65, keys: 65 });

    // Caught up: nothing to revive, however long it has been quiet.
    tally.reviveIfStalled(65, 0);
    assert.equal(tally.revivals, 1);
    // Trailing, but it read within the stall window: a reader still at work is left alone.
    tally.reviveIfStalled(1000, 20_000);
    assert.equal(tally.revivals, 1);
  });
});

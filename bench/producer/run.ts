import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Producer } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { serialiseSends } from '../../src/adapters/kafka/producer';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { testPlatform, stopTestPlatform } from '../../test/helpers/platform';

/**
 * Does kafkajs's idempotent producer stall under concurrent sends (the note that kept the worker's
 * producer non-idempotent)? Sends SENDS records of two messages each over three partitions at once,
 * with the idempotent producer as is and with its sends in order, and reports how many settled
 * within 30 s and how long it took. Uses the test platform's Kafka.
 */
async function main(): Promise<void> {
  const sends = Number(process.env.SENDS ?? 2000);
  const config = await testPlatform();
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-producer' });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-producer-${randomUUID().slice(0, 8)}`;
  await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 3 }]);
  const variants: Array<[string, (p: Producer) => Producer]> = [
    ['idempotent, concurrent sends', (p) => p],
    ['idempotent, sends in order (as the worker runs)', serialiseSends],
  ];
  for (const [name, wrap] of variants) {
    const raw = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await raw.connect();
    const producer = wrap(raw);
    const began = Date.now();
    const all = Promise.allSettled(
      Array.from({ length: sends }, (_, i) =>
        producer.send({
          topic,
          acks: -1,
          messages: [
            { key: `k${i % 50}`, value: `v${i}` },
            { key: `j${i % 7}`, value: 'x' },
          ],
        }),
      ),
    );
    const outcome = await Promise.race([
      all.then((results) => {
        const failed = results.filter((r) => r.status === 'rejected').length;
        return `${results.length - failed} settled ok, ${failed} failed`;
      }),
      new Promise<string>((resolve) => setTimeout(() => resolve('STALLED: no answer within 30 s'), 30_000)),
    ]);
    console.log(`${name}: ${outcome} in ${Date.now() - began} ms`);
    await raw.disconnect().catch(() => undefined);
  }
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await stopTestPlatform();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { sampleTopics } from '../../src/adapters/kafka/sampler';
import type { MeshloopConfig } from '../../src/config';
import { testPlatform } from '../helpers/platform';
import { createTopicWith } from '../helpers/topic-records';

const RECORDS = 40_000;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The sampler's own (throwaway) consumer group, found by the topic its member subscribed to. */
async function samplerGroupOf(kafka: Kafka, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      const groups = (await admin.listGroups()).groups
        .map((group) => group.groupId)
        .filter((id) => id.startsWith('_meshloop-sampler-'));
      const described = groups.length > 0 ? (await admin.describeGroups(groups)).groups : [];
      const mine = described.find((group) =>
        group.members.some((member) => member.memberMetadata.includes(Buffer.from(topic))),
      );
      if (mine) return mine.groupId;
      await delay(100);
    }
    throw new Error(`no sampler group subscribed to ${topic}`);
  } finally {
    await admin.disconnect();
  }
}

/** Another member joins the group (a rebalance), then leaves (another one). Commits nothing. */
async function intrude(kafka: Kafka, groupId: string, topic: string): Promise<void> {
  const intruder = kafka.consumer({ groupId, sessionTimeout: 30_000, rebalanceTimeout: 10_000 });
  await intruder.connect();
  const joined = new Promise<void>((resolve) => intruder.on(intruder.events.GROUP_JOIN, () => resolve()));
  await intruder.subscribe({ topics: [topic], fromBeginning: true });
  await intruder.run({ autoCommit: false, eachBatch: () => new Promise<void>(() => undefined) });
  await joined;
  await intruder.disconnect();
}

describe('Sampling a topic through a rebalance of the sampler’s group', function () {
  this.timeout(180_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let topic: string;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'sampler-test' });
    topic = `itsample.rebalance_${randomUUID().slice(0, 8)}`;
    // Many small produce requests: many record batches, so the sampler reads in many fetches.
    const batches = Array.from({ length: RECORDS / 500 }, (_, b) =>
      Array.from({ length: 500 }, (_, i) => ({
        value: JSON.stringify({ n: b * 500 + i, pad: 'x'.repeat(1000) }),
      })),
    );
    await createTopicWith(kafka, topic, batches);
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('reads every record once and completes, although the rejoined consumer starts again from the beginning', async () => {
    const offsets: number[] = [];
    let intrusion: Promise<void> | undefined;
    const [sample] = await sampleTopics(
      kafka,
      [topic],
      // The deadline is the bound: a sampler that fetched the same records again and again stopped there.
      { maxMessages: 10 * RECORDS, maxBytes: Number.MAX_SAFE_INTEGER, deadlineMs: 60_000 },
      {
        onMessages: async (_topic, messages) => {
          for (const message of messages) offsets.push(Number(message.offset));
          intrusion ??= samplerGroupOf(kafka, topic).then((groupId) => intrude(kafka, groupId, topic));
          // Slow (a fetch is up to 8 MB): the rebalances come while records are still to be read.
          await delay(1000);
        },
      },
    );
    await intrusion;
    assert.ok(sample);
    assert.equal(sample.stoppedBy, 'complete');
    assert.equal(sample.messages, RECORDS);
    assert.equal(offsets.length, RECORDS, 'each record handed on once');
    assert.equal(new Set(offsets).size, RECORDS);
    assert.ok(
      offsets[0] === 0 && offsets.every((offset, i) => i === 0 || offset > offsets[i - 1]!),
      'in offset order',
    );
  });
});

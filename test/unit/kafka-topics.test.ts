import assert from 'node:assert/strict';
import type { Admin, ITopicMetadata } from 'kafkajs';
import { KafkaJSProtocolError } from 'kafkajs';
import {
  awaitTopicLeaders,
  createTopicsAndAwaitLeaders,
  fetchServedTopicOffsets,
} from '../../src/adapters/kafka/topics';
import { UpstreamUnavailableError } from '../../src/domain/errors';

type MetadataAnswer = Error | ITopicMetadata[];

/**
 * An admin whose metadata answers come from a script, one per call (the last one repeats), and
 * whose ListOffsets fail with the errors in `offsets` first, then answer.
 */
function scriptedAdmin(answers: MetadataAnswer[], offsets: Error[] = []) {
  const calls = { metadata: 0, offsets: [] as string[], createTopics: [] as unknown[] };
  const admin: Pick<Admin, 'createTopics' | 'fetchTopicMetadata' | 'fetchTopicOffsets'> = {
    createTopics: (options) => {
      calls.createTopics.push(options);
      return Promise.resolve(true);
    },
    fetchTopicMetadata: () => {
      const answer = answers[Math.min(calls.metadata++, answers.length - 1)]!;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve({ topics: answer });
    },
    fetchTopicOffsets: (topic) => {
      calls.offsets.push(topic);
      const error = offsets.shift();
      return error ? Promise.reject(error) : Promise.resolve([]);
    },
  };
  return { admin, calls };
}

/** As kafkajs raises one from a metadata response (its protocol/error.js table). */
const protocolError = (type: string, code: number, retriable: boolean, message: string) =>
  new KafkaJSProtocolError(Object.assign(new Error(message), { type, code, retriable }));
const unknownTopic = () =>
  protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true, 'This server does not host this topic-partition');
const notLeader = () =>
  protocolError(
    'NOT_LEADER_FOR_PARTITION',
    6,
    true,
    'This server is not the leader for that topic-partition',
  );
const noLeader = () =>
  protocolError('LEADER_NOT_AVAILABLE', 5, true, 'There is no leader for this topic-partition');
const led = (name: string, leaders: number[]): ITopicMetadata => ({
  name,
  partitions: leaders.map((leader, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader,
    replicas: [1],
    isr: [1],
  })),
});

describe('waiting for new topics to have leaders', () => {
  it('waits through the broker not knowing the topic yet, then returns once every partition has a leader', async () => {
    const { admin, calls } = scriptedAdmin([
      unknownTopic(),
      unknownTopic(),
      noLeader(),
      [led('a', [1, -1]), led('b', [1])],
      [led('a', [1, 1]), led('b', [1])],
    ]);
    await awaitTopicLeaders(admin, ['a', 'b'], { pollMs: 1 });
    assert.equal(calls.metadata, 5);
    assert.deepEqual(calls.offsets, ['a', 'b'], 'each leader serves its partitions');
  });

  it('waits until the leader serves the partitions, not only until metadata names it', async () => {
    const { admin, calls } = scriptedAdmin([[led('a', [1]), led('b', [1])]], [notLeader(), unknownTopic()]);
    await awaitTopicLeaders(admin, ['a', 'b'], { pollMs: 1 });
    assert.equal(calls.metadata, 3);
    assert.deepEqual(calls.offsets, ['a', 'a', 'a', 'b']);
  });

  it('keeps waiting while a topic is missing from the answer', async () => {
    const { admin, calls } = scriptedAdmin([[led('a', [1])], [led('a', [1]), led('b', [1])]]);
    await awaitTopicLeaders(admin, ['a', 'b'], { pollMs: 1 });
    assert.equal(calls.metadata, 2);
  });

  it('gives up at the deadline with a retryable error naming the topics', async () => {
    const { admin } = scriptedAdmin([unknownTopic()]);
    await assert.rejects(
      awaitTopicLeaders(admin, ['a', 'b'], { timeoutMs: 30, pollMs: 5 }),
      (error: unknown) =>
        error instanceof UpstreamUnavailableError &&
        error.retryable &&
        /a, b/.test(error.message) &&
        error.cause instanceof KafkaJSProtocolError,
    );
  });

  it('does not wait through other errors', async () => {
    const denied = protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false, 'Not authorized to access topics');
    const { admin, calls } = scriptedAdmin([denied]);
    await assert.rejects(awaitTopicLeaders(admin, ['a'], { pollMs: 1 }), denied);
    assert.equal(calls.metadata, 1);
  });

  it('creates without kafkajs’s own wait, then waits for every topic it was given', async () => {
    const { admin, calls } = scriptedAdmin([unknownTopic(), [led('a', [1, 1, 1]), led('b', [1])]]);
    const created = await createTopicsAndAwaitLeaders(
      admin,
      [
        { topic: 'a', numPartitions: 3 },
        { topic: 'b', numPartitions: 1 },
      ],
      { pollMs: 1 },
    );
    assert.equal(created, true);
    assert.deepEqual(calls.createTopics, [
      {
        topics: [
          { topic: 'a', numPartitions: 3 },
          { topic: 'b', numPartitions: 1 },
        ],
        waitForLeaders: false,
      },
    ]);
    assert.equal(calls.metadata, 2);
  });

  it('reads offsets through a topic its leader does not serve yet (a topic another process just created)', async () => {
    const { admin, calls } = scriptedAdmin([[led('a', [1])]], [notLeader(), notLeader()]);
    assert.deepEqual(await fetchServedTopicOffsets(admin, 'a', { pollMs: 1 }), []);
    assert.deepEqual(
      calls.offsets,
      ['a', 'a', 'a', 'a'],
      'refused, refused again while waiting, served, then read',
    );
  });

  it('reads offsets without waiting when the topic is served, and passes other errors on', async () => {
    const served = scriptedAdmin([[led('a', [1])]]);
    await fetchServedTopicOffsets(served.admin, 'a');
    assert.deepEqual([served.calls.offsets, served.calls.metadata], [['a'], 0]);
    const denied = protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false, 'Not authorized to access topics');
    const refused = scriptedAdmin([[led('a', [1])]], [denied]);
    await assert.rejects(fetchServedTopicOffsets(refused.admin, 'a', { pollMs: 1 }), denied);
    assert.equal(refused.calls.metadata, 0);
  });
});

import assert from 'node:assert/strict';
import { planPartitionStarts } from '../../src/adapters/kafka/sampler';
import { isInternalTopic } from '../../src/adapters/kafka/client';

describe('sampling plan', () => {
  it('takes the newest messages, an equal share per partition, giving a short partition’s rest to the others', () => {
    const starts = planPartitionStarts(
      [
        { partition: 0, low: 0n, high: 1000n },
        { partition: 1, low: 0n, high: 10n },
        { partition: 2, low: 500n, high: 2000n },
      ],
      300,
    );
    // Partition 1 has only 10: the remaining 290 split between 0 and 2.
    assert.deepEqual(
      [...starts.entries()],
      [
        [0, 855n],
        [1, 0n],
        [2, 1855n],
      ],
    );
    const taken = 1000 - 855 + 10 + (2000 - 1855);
    assert.equal(taken, 300);
  });

  it('reads nothing from empty partitions and never below the low watermark', () => {
    const starts = planPartitionStarts(
      [
        { partition: 0, low: 40n, high: 40n },
        { partition: 1, low: 90n, high: 100n },
      ],
      5000,
    );
    assert.deepEqual(
      [...starts.entries()],
      [
        [0, 40n],
        [1, 90n],
      ],
    );
  });

  it('leaves out Kafka’s and Meshloop’s own topics', () => {
    assert.equal(isInternalTopic('__consumer_offsets'), true);
    assert.equal(isInternalTopic('_meshloop.catalog'), true);
    assert.equal(isInternalTopic('_meshloop.proposals'), true);
    assert.equal(isInternalTopic('orders.orders'), false);
  });
});

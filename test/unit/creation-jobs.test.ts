import assert from 'node:assert/strict';
import { taskManagerMemory } from '../../src/stack/services/flink';
import { failureSummary } from '../../src/creation/product-jobs';

describe('creation: Flink’s root exception in one line', () => {
  it('skips the restart wrapper and concurrency wrappers, and keeps the innermost cause', () => {
    const trace = [
      'org.apache.flink.runtime.JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=3, backoffTimeMS=5000)',
      '\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(ExecutionFailureHandler.java:219)',
      'Caused by: org.apache.flink.util.FlinkRuntimeException: Failed to send data to Kafka',
      '\tat org.apache.flink.connector.kafka.sink.KafkaWriter.checkAsyncException(KafkaWriter.java:419)',
      'Caused by: org.apache.kafka.common.errors.TimeoutException: Topic shop.orders not present in metadata after 10000 ms.',
    ].join('\n');
    assert.equal(
      failureSummary(trace),
      'org.apache.flink.util.FlinkRuntimeException: Failed to send data to Kafka (cause: org.apache.kafka.common.errors.TimeoutException: Topic shop.orders not present in metadata after 10000 ms.)',
    );
    assert.equal(
      failureSummary(
        'java.util.concurrent.CompletionException: java.util.concurrent.CompletionException: org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not acquire the minimum required resources.',
      ),
      'org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not acquire the minimum required resources.',
    );
    assert.equal(failureSummary(undefined), undefined);
  });
});

describe('creation: TaskManager memory grows with its slots', () => {
  it('50 slots (the default, 24 products): a 3.4 GB process with 232 MB of network buffers', () => {
    assert.deepEqual(taskManagerMemory(50), {
      'taskmanager.memory.process.size': '3424m',
      'taskmanager.memory.managed.size': '128m',
      'taskmanager.memory.network.min': '232m',
      'taskmanager.memory.network.max': '232m',
    });
    assert.equal(taskManagerMemory(8)['taskmanager.memory.process.size'], '1408m');
    // MESHLOOP_FLINK_SLOT_MEMORY_MB: more per slot for products with large state.
    assert.equal(taskManagerMemory(8, 128)['taskmanager.memory.process.size'], '2048m');
  });
});

import assert from 'node:assert/strict';
import { resolveInputBindings } from '../../src/creation/bindings';
import { taskManagerMemory } from '../../src/stack/services/flink';
import { failureSummary } from '../../src/creation/product-jobs';
import { InvalidSpecError } from '../../src/domain/errors';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';

const upstream: ProductSpec = parseSpec({
  name: 'orders_clean',
  domain: 'orders',
  owner: 'alice',
  kind: 'source-aligned',
  outputTopic: { name: 'orders.orders_clean.v1' },
  schema: {
    fields: [
      { name: 'order_id', type: 'string' },
      { name: 'placed_at', type: 'timestamp' },
    ],
    eventTimeField: 'placed_at',
  },
});

describe('creation: input bindings', () => {
  it('a topic input takes its declared columns; a product input reads that product’s topic and schema', async () => {
    const bindings = await resolveInputBindings(
      {
        inputs: [
          { topic: 'payments.payments', schema: { fields: [{ name: 'payment_id', type: 'string' }] } },
          { product: 'orders.orders_clean', as: 'orders' },
        ],
      },
      (id) => Promise.resolve(id === 'orders.orders_clean' ? upstream : undefined),
    );
    assert.deepEqual(bindings, [
      { alias: 'payments', topic: 'payments.payments', fields: [{ name: 'payment_id', type: 'string' }] },
      {
        alias: 'orders',
        topic: 'orders.orders_clean.v1',
        productId: 'orders.orders_clean',
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'placed_at', type: 'timestamp' },
        ],
        eventTimeField: 'placed_at',
      },
    ]);
  });

  it('names every input it cannot read: a topic without a schema, a product not in the catalog', async () => {
    const failure = await resolveInputBindings(
      { inputs: [{ topic: 'web.clicks' }, { product: 'web.sessions' }] },
      () => Promise.resolve(undefined),
    ).catch((error: unknown) => error);
    assert.ok(failure instanceof InvalidSpecError);
    assert.deepEqual(failure.problems, [
      'inputs.0 (web.clicks): declares no schema, so its columns are unknown',
      'inputs.1: product web.sessions is not in the catalog',
    ]);
  });
});

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
  it('24 slots: a 3.3 GB process with 224 MB of network buffers', () => {
    assert.deepEqual(taskManagerMemory(24), {
      'taskmanager.memory.process.size': '3328m',
      'taskmanager.memory.managed.size': '128m',
      'taskmanager.memory.network.min': '224m',
      'taskmanager.memory.network.max': '224m',
    });
    assert.equal(taskManagerMemory(4)['taskmanager.memory.process.size'], '1408m');
  });
});

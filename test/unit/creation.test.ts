import assert from 'node:assert/strict';
import type { ProductJobStatus } from '../../src/domain/creation';
import {
  duplicateAliases,
  inputAliasOf,
  jobHealthOf,
  normalisedSql,
  productJobNameOf,
  rejectedTopicOf,
} from '../../src/domain/creation';
import { validSpec } from '../helpers/specs';

const status = (overrides: Partial<ProductJobStatus>): ProductJobStatus => ({
  state: 'RUNNING',
  waitingForSlot: false,
  restarts: 0,
  rejectedRecords: 0,
  ...overrides,
});

describe('creation: names, aliases and job health (pure)', () => {
  it('aliases an input by `as`, else by its topic entity or product name', () => {
    assert.equal(inputAliasOf({ topic: 'orders.orders', as: 'o' }), 'o');
    assert.equal(inputAliasOf({ topic: 'payments.payments' }), 'payments');
    assert.equal(inputAliasOf({ topic: 'web.Page-Views' }), 'page_views');
    assert.equal(inputAliasOf({ product: 'orders.orders_with_payments' }), 'orders_with_payments');
    assert.equal(inputAliasOf({ topic: 'x.9lives' }), 't_9lives');
  });

  it('finds inputs that would share an alias', () => {
    const spec = validSpec({ inputs: [{ topic: 'a.orders' }, { topic: 'b.orders' }, { topic: 'c.pay' }] });
    assert.deepEqual(duplicateAliases(spec), ['orders']);
    assert.deepEqual(
      duplicateAliases(validSpec({ inputs: [{ topic: 'a.orders' }, { topic: 'b.orders', as: 'b' }] })),
      [],
    );
  });

  it('names the job by product and revision, the rejected topic after the output', () => {
    assert.equal(productJobNameOf('orders.daily', 3), 'meshloop-create:orders.daily:r3');
    assert.equal(rejectedTopicOf(validSpec()), 'orders.daily_revenue.rejected');
    assert.equal(normalisedSql(' SELECT a\n  FROM  t ;'), 'SELECT a FROM t');
  });

  it('a running job is healthy; a failed, missing or slotless one is settled trouble with the reason', () => {
    assert.deepEqual(jobHealthOf(status({}), 'j'), { healthy: true });
    const failed = jobHealthOf(status({ state: 'FAILED', failure: 'TimeoutException: topic x' }), 'j');
    assert.deepEqual(failed, {
      healthy: false,
      settled: true,
      reason: 'the Flink job j is FAILED: TimeoutException: topic x',
    });
    const missing = jobHealthOf(status({ state: 'NOT_FOUND' }), 'j');
    assert.equal(missing.healthy === false && missing.reason, 'no Flink job named j exists');
    const slotless = jobHealthOf(status({ state: 'CREATED', waitingForSlot: true }), 'j');
    assert.ok(!slotless.healthy && slotless.settled && /task slot/.test(slotless.reason));
  });

  it('one restart is a hiccup to look at again; more is settled trouble', () => {
    const once = jobHealthOf(status({ state: 'RESTARTING', restarts: 1 }), 'j');
    assert.ok(!once.healthy && !once.settled);
    const again = jobHealthOf(status({ state: 'RESTARTING', restarts: 2, failure: 'boom' }), 'j');
    assert.ok(!again.healthy && again.settled && /keeps restarting \(2 restarts\): boom/.test(again.reason));
    const starting = jobHealthOf(status({ state: 'INITIALIZING' }), 'j');
    assert.ok(!starting.healthy && !starting.settled);
  });

  it('a watched job whose output topic is gone is settled trouble, even while Flink shows it running', () => {
    const gone = { outputTopic: 'orders.daily' };
    const running = jobHealthOf(status({ outputTopicExists: false }), 'j', gone);
    assert.deepEqual(running, {
      healthy: false,
      settled: true,
      reason:
        'the output topic orders.daily is gone, so the Flink job j cannot write (Flink shows it RUNNING); redeploy to create the topic again',
    });
    const restartingOnce = jobHealthOf(
      status({ state: 'RESTARTING', restarts: 1, failure: 'boom', outputTopicExists: false }),
      'j',
      gone,
    );
    assert.ok(!restartingOnce.healthy && restartingOnce.settled);
    assert.match(restartingOnce.reason, /is gone.*Flink shows it RESTARTING: boom/);
    // Flink's own settled reason stays when it has one.
    const failed = jobHealthOf(
      status({ state: 'FAILED', failure: 'x', outputTopicExists: false }),
      'j',
      gone,
    );
    assert.equal(!failed.healthy && failed.reason, 'the Flink job j is FAILED: x');
    // Not watched (provisioning creates the topic), or the topic there: as Flink shows it.
    assert.deepEqual(jobHealthOf(status({ outputTopicExists: false }), 'j'), { healthy: true });
    assert.deepEqual(jobHealthOf(status({ outputTopicExists: true }), 'j', gone), { healthy: true });
  });
});

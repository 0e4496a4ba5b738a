import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config';
import {
  inputStatements,
  productJobConfig,
  sinkStatements,
  TRANSACTION_TIMEOUT_MS,
  transactionalIdPrefixOf,
} from '../../src/creation/job-sql';
import type { InputBinding } from '../../src/domain/creation';
import { productJobRestartStrategy } from '../../src/domain/recovery';
import { materializationJobConfig, materializationSetupStatements } from '../../src/materialize/flink-sql';
import { validSpec } from '../helpers/specs';

/** The `'key' = 'value'` options of a CREATE TABLE … WITH (…). */
function tableOptions(statement: string): Record<string, string> {
  const body = statement.slice(statement.lastIndexOf(') WITH (') + 8);
  const options: Record<string, string> = {};
  for (const match of body.matchAll(/'((?:[^']|'')*)' = '((?:[^']|'')*)'/g)) {
    options[match[1]!.replace(/''/g, "'")] = match[2]!.replace(/''/g, "'");
  }
  return options;
}

const config = loadConfig({});

describe('product topics are written exactly once and read committed', () => {
  it("the product's sink writes in Kafka transactions, with the deployment's prefix and a timeout the broker allows", () => {
    const prefix = transactionalIdPrefixOf('orders.daily_revenue', 3, 'abc');
    assert.equal(prefix, 'meshloop-create.orders.daily_revenue.r3.abc');
    const [sink, rejected] = sinkStatements(validSpec(), {
      connectors: config.flink,
      rejectedTopic: 'orders.daily_revenue.rejected',
      transactionalIdPrefix: prefix,
    });
    const options = tableOptions(sink!);
    assert.equal(options['sink.delivery-guarantee'], 'exactly-once');
    assert.equal(options['sink.transactional-id-prefix'], prefix);
    assert.equal(options['properties.transaction.timeout.ms'], String(TRANSACTION_TIMEOUT_MS));
    // Kafka's default transaction.max.timeout.ms (15 min) is the most a broker allows by default.
    assert.ok(TRANSACTION_TIMEOUT_MS <= 900_000);
    // The rejected topic is counted by its offsets: no transaction markers there.
    assert.equal(tableOptions(rejected!)['sink.delivery-guarantee'], undefined);
  });

  it('two deployments of one revision get different prefixes', () => {
    assert.notEqual(
      transactionalIdPrefixOf('orders.daily_revenue', 1, 'a'),
      transactionalIdPrefixOf('orders.daily_revenue', 1, 'b'),
    );
    assert.notEqual(transactionalIdPrefixOf('a.b', 1, 'x'), transactionalIdPrefixOf('a.c', 1, 'x'));
  });

  it('every Flink reader of a topic (product inputs, the materialization) reads committed records only', () => {
    const binding: InputBinding = {
      alias: 'orders',
      topic: 'orders.daily_revenue',
      productId: 'orders.daily_revenue',
      fields: [{ name: 'id', type: 'string' }],
    };
    const input = inputStatements(binding, { connectors: config.flink, groupId: 'g' })[0]!;
    assert.equal(tableOptions(input)['properties.isolation.level'], 'read_committed');
    const materialize = materializationSetupStatements(
      {
        productId: 'orders.daily_revenue',
        topic: 'orders.daily_revenue',
        fields: [{ name: 'id', type: 'string', nullable: false }],
        table: { catalog: 'lake', namespace: 'orders', name: 'daily_revenue' },
      } as never,
      { kafka: config.flink.kafka, icebergCatalogUri: 'http://c' },
    )[1]!;
    assert.equal(tableOptions(materialize)['properties.isolation.level'], 'read_committed');
  });

  it('both kinds of product job restart with the exponential-delay strategy, which gives up, and keep their checkpoints', () => {
    const creation = productJobConfig('meshloop-create:orders.daily_revenue:r1');
    const materialization = materializationJobConfig({
      jobName: 'meshloop-materialize:orders.daily_revenue:r1',
      commitIntervalMs: 5000,
    } as never);
    for (const job of [creation, materialization]) {
      assert.equal(job['restart-strategy.type'], 'exponential-delay');
      assert.ok(Number(job['restart-strategy.exponential-delay.attempts-before-reset-backoff']) > 0);
      assert.equal(
        job['execution.checkpointing.externalized-checkpoint-retention'],
        'RETAIN_ON_CANCELLATION',
      );
    }
    assert.deepEqual(
      Object.keys(productJobRestartStrategy).filter((key) => !key.startsWith('restart-strategy.')),
      [],
    );
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { translatingFailures } from '../../activities/failures';
import type { MaterializationInput } from '../../activities/materialize';
import { createMaterializationActivities } from '../../activities/materialize';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLake } from '../../src/adapters/duckdb/lake';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { materializationPlanOf } from '../../src/domain/materialization';
import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { createMaterializers } from '../../src/materialize';
import type { MaterializationStatus } from '../../src/materialize/types';
import { productSnapshots, queryProduct } from '../../src/query/product-query';
import { waitUntil } from '../../src/stack/probe';
import { stackDown, stackUp } from '../../src/stack/stack';
import { consumeMessages } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

/**
 * Materialization on the real platform: Kafka topics written as the product jobs write them (JSON
 * values, ISO-8601 timestamps; upsert-kafka keys for compacted keyed products), Flink jobs writing
 * Iceberg through the REST catalog, and DuckDB reading the tables back.
 */
describe('Materialization on the real platform: product topics land in Iceberg tables', function () {
  this.timeout(300_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let activities: ReturnType<typeof createMaterializationActivities>;
  const running: MaterializationInput[] = [];
  const topics: string[] = [];
  const log = createLogger('materialize-test', 'warn');

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'materialize-test' });
    activities = translatingFailures(
      createMaterializationActivities({
        materializers: createMaterializers(config, log),
        defaults: { ...config.materialize, commitIntervalMs: 1000 },
        log,
      }),
    );
    // First use downloads the DuckDB extensions (pip), as a fresh clone or CI would.
    await ensureDuckDbExtensions(config.stack.cacheDir);
  });

  // The session cluster has few slots, shared by the whole run: every test stops what it started.
  afterEach(async () => {
    for (const product of running.splice(0)) {
      await run(() => activities.stopMaterialization(product)).catch(() => undefined);
    }
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  function product(overrides: Partial<ProductSpecInput> & { compact?: boolean } = {}): MaterializationInput {
    const { compact, ...rest } = overrides;
    const name = `m_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    const spec: ProductSpec = parseSpec({
      name,
      domain: 'itmat',
      owner: 'alice',
      kind: 'source-aligned',
      outputTopic: { partitions: 2, cleanupPolicy: compact ? 'compact' : 'delete' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'amount', type: 'double' },
          { name: 'placed_at', type: 'timestamp' },
        ],
        key: ['order_id'],
        eventTimeField: 'placed_at',
      },
      materialization: { commitInterval: '1s' },
      ...rest,
    });
    return { productId: productIdOf(spec), revision: 1, spec };
  }

  async function createTopic(input: MaterializationInput) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topic = input.spec.outputTopic;
      await createTopicsAndAwaitLeaders(admin, [
        {
          topic: topic.name,
          numPartitions: topic.partitions,
          configEntries: [{ name: 'cleanup.policy', value: topic.cleanupPolicy }],
        },
      ]);
      topics.push(topic.name);
    } finally {
      await admin.disconnect();
    }
  }

  /** As Flink's `kafka` / `upsert-kafka` JSON sinks write them: the key is the JSON of the key fields. */
  async function produce(
    input: MaterializationInput,
    records: ReadonlyArray<Record<string, unknown> | string>,
  ) {
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: input.spec.outputTopic.name,
        messages: records.map((record) =>
          typeof record === 'string'
            ? { key: 'poison', value: record }
            : { key: JSON.stringify({ order_id: record.order_id }), value: JSON.stringify(record) },
        ),
      });
    } finally {
      await producer.disconnect();
    }
  }

  async function start(input: MaterializationInput, savepoint?: string) {
    const table = await run(() => activities.createIcebergTable(input));
    const job = await run(() => activities.startMaterialization({ ...input, savepoint }));
    running.push(input);
    return { table, job };
  }

  async function waitFor(
    input: MaterializationInput,
    done: (status: MaterializationStatus) => boolean,
    what: string,
  ): Promise<MaterializationStatus> {
    let status: MaterializationStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        status = await run(() => activities.describeIcebergTable(input));
        return done(status);
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.equal(outcome, 'ready', `${what}; last status ${JSON.stringify(status)}`);
    return status!;
  }

  const orders = (from: number, count: number, version = 0) =>
    Array.from({ length: count }, (_, i) => ({
      order_id: `o-${from + i}`,
      amount: Math.round((from + i) * 10 + version) / 10,
      placed_at: new Date(
        Date.UTC(2026, 10, 1 + ((from + i) % 3), 12, 0, 0, (from + i) % 1000),
      ).toISOString(),
    }));

  const sortById = (rows: ReadonlyArray<Record<string, unknown>>) =>
    [...rows].sort((a, b) => String(a.order_id).localeCompare(String(b.order_id)));

  /** DuckDB's JSON rendering of our rows: timestamps as text in UTC. */
  const asRead = (row: { order_id: string; amount: number; placed_at: string }) => ({
    order_id: row.order_id,
    amount: row.amount,
    placed_at: row.placed_at,
  });

  async function readAll(input: MaterializationInput, asOf?: string) {
    const answer = await queryProduct(config, input.productId, {
      sql: `SELECT order_id, amount, strftime(placed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%g') || 'Z' AS placed_at FROM t`,
      asOf,
    });
    return sortById(answer.rows);
  }

  it('appends: the table holds exactly the produced rows; a second start finds the running job; --as-of reads an earlier snapshot', async () => {
    const input = product();
    await createTopic(input);
    const first = orders(0, 40);
    await produce(input, first);
    const { table, job } = await start(input);
    assert.equal(table.created, true);
    assert.equal(table.writeMode, 'append');
    assert.equal(table.table, `lake.itmat.${input.spec.name}`);
    assert.equal(job.started, true);
    // Idempotent: the same revision's job is found by name, never submitted twice.
    const again = await run(() => activities.startMaterialization(input));
    assert.deepEqual([again.started, again.id], [false, job.id]);
    assert.equal((await run(() => activities.createIcebergTable(input))).created, false);

    const firstStatus = await waitFor(
      input,
      (s) => s.table.rowCount === first.length,
      'the first rows committed',
    );
    assert.equal(firstStatus.state, 'RUNNING');
    assert.equal(firstStatus.badRecords, 0);
    assert.equal(firstStatus.table.withinSla, true, 'committed within the spec’s freshness SLA (1h)');
    assert.ok(firstStatus.table.lastCommitAt && firstStatus.table.freshnessMs !== undefined);
    const earlierSnapshot = firstStatus.table.snapshotId!;

    const second = orders(40, 25);
    await produce(input, second);
    await waitFor(
      input,
      (s) => s.table.rowCount === first.length + second.length,
      'the second rows committed',
    );

    assert.deepEqual(await readAll(input), sortById([...first, ...second].map(asRead)));
    const count = await queryProduct(config, input.productId, { sql: 'select count(*) AS n from t' });
    assert.deepEqual(count.rows, [{ n: String(first.length + second.length) }]);
    const before = await queryProduct(config, input.productId, {
      sql: 'select count(*) AS n from t',
      asOf: earlierSnapshot,
    });
    assert.deepEqual(before.rows, [{ n: String(first.length) }]);
    const snapshots = await productSnapshots(config, input.productId);
    assert.ok(snapshots.snapshots.length >= 2);
    assert.equal(snapshots.snapshots.at(-1)?.current, true);
    // By time: the snapshot current when the first commit was made.
    const byTime = await queryProduct(config, input.productId, {
      sql: 'select count(*) AS n from t',
      asOf: firstStatus.table.lastCommitAt,
    });
    assert.deepEqual(byTime.rows, [{ n: String(first.length) }]);

    // The table: format v2, partitioned by day of the event time, product id and revision as properties.
    const loaded = await new IcebergCatalogClient({ url: config.iceberg.catalogUrl }).loadTable({
      namespace: ['itmat'],
      name: input.spec.name,
    });
    assert.equal(loaded.metadata['format-version'], 2);
    assert.equal(loaded.metadata.properties?.['meshloop.product-id'], input.productId);
    assert.equal(loaded.metadata.properties?.['meshloop.revision'], '1');
    assert.equal(loaded.metadata.properties?.['history.expire.max-snapshot-age-ms'], String(7 * 86_400_000));
    assert.match(JSON.stringify(loaded.metadata['partition-specs']), /"transform":"day"/);

    const stopped = await run(() => activities.stopMaterialization(input));
    assert.equal(stopped.stopped, true);
    assert.match(stopped.savepoint ?? '', /savepoint/);
    assert.equal((await run(() => activities.describeIcebergTable(input))).state, 'FINISHED');
  });

  it('upserts compacted keyed topics: the table holds the latest row per key (DuckDB applies the deletes)', async () => {
    const input = product({ compact: true });
    await createTopic(input);
    const v1 = orders(0, 20, 0);
    const v2 = orders(0, 10, 5);
    const v3 = orders(5, 3, 9);
    await produce(input, v1);
    const { table } = await start(input);
    assert.equal(table.writeMode, 'upsert');
    await produce(input, v2);
    await produce(input, v3);
    const latest = new Map<string, ReturnType<typeof orders>[number]>();
    for (const row of [...v1, ...v2, ...v3]) latest.set(row.order_id, row);
    const expected = sortById([...latest.values()].map(asRead));
    let rows: Array<Record<string, unknown>> = [];
    const outcome = await waitUntil(
      async () => {
        const status = await run(() => activities.describeIcebergTable(input));
        if (!status.table.snapshotId) return false;
        rows = await readAll(input);
        return JSON.stringify(rows) === JSON.stringify(expected);
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    assert.equal(outcome, 'ready', `rows read: ${JSON.stringify(rows.slice(0, 5))}…`);
    assert.deepEqual(rows, expected);
  });

  it('log: poison records go to <name>_dlq with topic, partition, offset and the error; nothing uncounted', async () => {
    const input = product({ materialization: { commitInterval: '1s', errorMode: 'log' } });
    await createTopic(input);
    const good = orders(0, 10);
    const poison = [
      'not json at all',
      JSON.stringify({ amount: 3 }),
      JSON.stringify({ order_id: 'x', amount: 'lots' }),
    ];
    await produce(input, [...good.slice(0, 5), ...poison, ...good.slice(5)]);
    await start(input);
    const status = await waitFor(
      input,
      (s) => s.table.rowCount === good.length && s.badRecords === poison.length,
      'good rows in the table, poison in the dead-letter table',
    );
    assert.equal(status.state, 'RUNNING', 'log mode keeps going');
    assert.equal(status.suspendedAt, undefined);
    const dead = await readDeadLetters(input);
    assert.deepEqual(
      dead.map((row) => [row.topic, row.payload]),
      poison.map((payload) => [input.spec.outputTopic.name, payload]),
    );
    assert.deepEqual(
      dead.map((row) => row.error),
      ['not a JSON object', 'order_id: missing, null or not a string', 'amount: not a double'],
    );
    for (const row of dead) assert.match(String(row.offset), /^\d+$/);
    assert.equal(
      new Set(dead.map((row) => `${String(row.partition)}@${String(row.offset)}`)).size,
      poison.length,
    );
  });

  it('skip: poison records are counted (coordinates only, no payload) and the job keeps going', async () => {
    const input = product({ materialization: { commitInterval: '1s', errorMode: 'skip' } });
    await createTopic(input);
    await produce(input, [...orders(0, 6), 'garbage', '{"order_id": null}']);
    await start(input);
    const status = await waitFor(input, (s) => s.table.rowCount === 6 && s.badRecords === 2, 'counted');
    assert.equal(status.state, 'RUNNING');
    const dead = await readDeadLetters(input);
    assert.deepEqual(
      dead.map((row) => row.payload),
      [null, null],
    );
  });

  it('suspend: the first poison record is reported with its coordinates, and the job is stopped', async () => {
    const input = product({ materialization: { commitInterval: '1s', errorMode: 'suspend' } });
    await createTopic(input);
    await produce(input, orders(0, 4));
    await start(input);
    await waitFor(input, (s) => s.table.rowCount === 4, 'good rows first');
    const producer = kafka.producer();
    await producer.connect();
    const [sent] = await producer.send({
      topic: input.spec.outputTopic.name,
      messages: [{ key: 'poison', value: '{"order_id": "p", "placed_at": "not a time"}', partition: 1 }],
    });
    await producer.disconnect();
    const status = await waitFor(input, (s) => s.suspendedAt !== undefined, 'suspended');
    assert.deepEqual(status.suspendedAt, {
      topic: input.spec.outputTopic.name,
      partition: 1,
      offset: Number(sent?.baseOffset),
      error: 'placed_at: not a timestamp',
    });
    // What the workflow does then: stop the job and degrade the product with these coordinates.
    assert.equal((await run(() => activities.stopMaterialization(input))).stopped, true);
    assert.equal((await run(() => activities.describeIcebergTable(input))).state, 'FINISHED');
  });

  it('evolves the schema: an added nullable column is readable in new snapshots and null in old ones', async () => {
    const input = product();
    await createTopic(input);
    const before = orders(0, 8);
    await produce(input, before);
    await start(input);
    const old = await waitFor(input, (s) => s.table.rowCount === before.length, 'revision 1 committed');
    const { savepoint } = await run(() => activities.stopMaterialization(input));

    const amended = parseSpec({
      ...input.spec,
      schema: {
        ...input.spec.schema,
        fields: [...input.spec.schema.fields, { name: 'channel', type: 'string', nullable: true }],
      },
    });
    const revision2 = { ...input, revision: 2, spec: amended };
    const evolved = await run(() => activities.createIcebergTable(revision2));
    assert.deepEqual([evolved.created, evolved.addedColumns], [false, ['channel']]);
    const after = orders(100, 5).map((row) => ({ ...row, channel: 'web' }));
    await produce(input, after);
    const job2 = await run(() => activities.startMaterialization({ ...revision2, savepoint }));
    running.push(revision2);
    assert.match(job2.name, /:r2$/);
    await waitFor(
      revision2,
      (s) => s.table.rowCount === before.length + after.length,
      'revision 2 committed',
    );

    const now = await queryProduct(config, input.productId, {
      sql: 'select count(*) AS n, count(channel) AS with_channel from t',
    });
    assert.deepEqual(now.rows, [
      { n: String(before.length + after.length), with_channel: String(after.length) },
    ]);
    const then = await queryProduct(config, input.productId, {
      sql: 'select * from t',
      asOf: old.table.snapshotId,
    });
    assert.equal(then.rows.length, before.length);
    for (const row of then.rows) assert.equal(row.channel ?? null, null);
  });

  it('loses and duplicates nothing when the Kafka broker restarts during materialization', async () => {
    const input = product();
    await createTopic(input);
    const first = orders(0, 30);
    await produce(input, first);
    await start(input);
    await waitFor(input, (s) => s.table.rowCount === first.length, 'first rows');
    // In flight when the broker goes: produced, maybe read, not yet committed.
    const second = orders(30, 30);
    await produce(input, second);
    await stackDown(config.stack, { only: ['kafka'] });
    await stackUp(config.stack, { only: ['kafka'] });
    const third = orders(60, 30);
    await produce(input, third);
    // kafkajs (not idempotent) may itself write a batch twice when the fresh broker times out its
    // first answer: the table must hold exactly what the topic holds, duplicates of the producer
    // included, and every produced row.
    const all = [...first, ...second, ...third];
    const inTopic = await topicRecordCount(input.spec.outputTopic.name);
    assert.ok(inTopic >= all.length);
    const topicRows = (await consumeMessages(kafka, input.spec.outputTopic.name, inTopic, 60_000)).map(
      (message) => asRead(JSON.parse(message.value) as ReturnType<typeof orders>[number]),
    );
    await waitFor(input, (s) => s.table.rowCount === inTopic, 'rows after the restart');
    assert.deepEqual(await readAll(input), sortById(topicRows));
    assert.deepEqual(
      [...new Set((await readAll(input)).map((row) => JSON.stringify(row)))].sort(),
      all.map((row) => JSON.stringify(asRead(row))).sort(),
    );
  });

  async function topicRecordCount(topic: string): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  async function readDeadLetters(input: MaterializationInput) {
    const plan = materializationPlanOf(input.spec, input.revision, { ...config.materialize });
    const loaded = await new IcebergCatalogClient({ url: config.iceberg.catalogUrl }).loadTable({
      namespace: [plan.deadLetterTable.namespace],
      name: plan.deadLetterTable.name,
    });
    const lake = await IcebergLake.open({
      extensionDir: await ensureDuckDbExtensions(config.stack.cacheDir),
      catalog: config.iceberg,
      tables: [{ ref: plan.deadLetterTable, location: loaded.metadata.location }],
    });
    try {
      const { rows } = await lake.query('SELECT * FROM t ORDER BY "partition", "offset"', {
        table: plan.deadLetterTable,
      });
      // Produced in one batch with one key, the poison sits in one partition in order.
      return [...rows].sort((a, b) => Number(a.offset) - Number(b.offset));
    } finally {
      lake.close();
    }
  }
});

/** Activities read Context.current() for logs; outside a worker, run them in a mock context. */
async function run<T>(fn: () => Promise<T>): Promise<T> {
  const { MockActivityEnvironment } = await import('@temporalio/testing');
  return new MockActivityEnvironment().run(fn);
}

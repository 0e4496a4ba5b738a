import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { IcebergCatalogClient, IcebergCatalogError } from '../../src/adapters/iceberg';
import type { LoadedTable } from '../../src/adapters/iceberg';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { waitUntil } from '../../src/stack/probe';
import { stackStatus } from '../../src/stack/stack';
import { FlinkTestContext, sqlString } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

describe('Iceberg on the real platform: Flink writes Kafka into a table through the REST catalog', function () {
  this.timeout(240_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let catalog: IcebergCatalogClient;
  let flink: FlinkTestContext;
  const cleanups: Array<() => Promise<unknown>> = [];

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'iceberg-flink-test' });
    catalog = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
    flink = new FlinkTestContext(config);
  });

  after(async () => {
    await flink.cleanUp();
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('reports the catalog healthy and answers the REST API', async () => {
    const [status] = await stackStatus(config.stack, { only: ['iceberg'] });
    assert.equal(status?.state, 'healthy');
    const answer = await catalog.config();
    assert.equal(typeof answer.defaults, 'object');
    const missing = await catalog.loadTable({ namespace: ['no_such_namespace'], name: 'nothing' }).then(
      () => assert.fail('the table does not exist'),
      (failure: unknown) => failure,
    );
    assert.ok(missing instanceof IcebergCatalogError);
    assert.equal(missing.notFound, true);
    assert.equal(missing.retryable, false);
    assert.equal(missing.icebergType, 'NoSuchTableException');
  });

  it('streams a Kafka topic into an Iceberg table, which shows snapshots and reads back exactly the rows', async () => {
    const suffix = randomUUID().slice(0, 8);
    const topic = `it.readings.${suffix}`;
    const namespace = `it_${suffix}`;
    const table = { namespace: [namespace], name: 'readings' };

    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 2 }]);
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    });

    const readings = Array.from({ length: 25 }, (_, i) => ({
      id: i + 1,
      device: `sensor-${i % 4}`,
      reading: Math.round((20 + Math.sin(i) * 5) * 1000) / 1000,
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: readings.map((r) => ({ key: r.device, value: JSON.stringify(r) })),
    });
    await producer.disconnect();

    const session = await flink.openSession(`iceberg-${suffix}`);
    await session.execute(
      `CREATE CATALOG lake WITH ('type' = 'iceberg', 'catalog-type' = 'rest', 'uri' = ${sqlString(config.flink.icebergCatalogUri)})`,
    );
    await session.execute(`CREATE DATABASE lake.${namespace}`);
    cleanups.push(() => catalog.dropNamespace([namespace]));
    await session.execute(`CREATE TABLE lake.${namespace}.readings (id INT, device STRING, reading DOUBLE)`);
    cleanups.push(() => catalog.dropTable(table, { purge: true }));
    await session.execute(`
      CREATE TEMPORARY TABLE readings_topic (id INT, device STRING, reading DOUBLE) WITH (
        'connector' = 'kafka', 'topic' = ${sqlString(topic)},
        'properties.bootstrap.servers' = ${sqlString(config.flink.kafka.bootstrapServers)},
        'properties.group.id' = ${sqlString(`iceberg-it-${suffix}`)},
        'scan.startup.mode' = 'earliest-offset', 'format' = 'json'
      )`);
    // A continuous materialization, as products run: the Iceberg sink commits on each checkpoint.
    const insert = await session.execute(
      `INSERT INTO lake.${namespace}.readings SELECT id, device, reading FROM readings_topic`,
    );
    const jobId = flink.track(insert.jobId);
    await flink.rest.waitForJobState(jobId, ['RUNNING'], { timeoutMs: 60_000 });

    // The catalog shows the table; wait (with a deadline) for a commit that holds every row.
    assert.ok((await catalog.listNamespaces()).some((ns) => ns.join('.') === namespace));
    assert.deepEqual(await catalog.listTables([namespace]), [{ namespace: [namespace], name: 'readings' }]);
    let loaded: LoadedTable | undefined;
    const committed = await waitUntil(
      async () => {
        loaded = await catalog.loadTable(table);
        return loaded.currentSnapshot?.summary['total-records'] === String(readings.length);
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    assert.equal(committed, 'ready', `snapshots so far: ${JSON.stringify(loaded?.snapshots)}`);
    assert.ok(loaded);
    assert.ok(loaded.snapshots.length >= 1);
    assert.equal(loaded.currentSnapshot?.summary.operation, 'append');
    assert.match(loaded.currentSnapshot?.snapshotId ?? '', /^\d+$/);
    assert.deepEqual(
      loaded.currentSchema?.fields.map((field) => [field.name, field.type]),
      [
        ['id', 'int'],
        ['device', 'string'],
        ['reading', 'double'],
      ],
    );
    assert.ok(loaded.metadata.location.startsWith('file:'));

    // Stop the stream before reading, so the table cannot change under the query.
    await flink.cancelJobs();

    const batch = { executionConfig: { 'execution.runtime-mode': 'batch' }, timeoutMs: 120_000 };
    const readBack = await session.execute(
      `SELECT id, device, reading FROM lake.${namespace}.readings`,
      batch,
    );
    const rows = [...readBack.rows].sort((a, b) => (a.id as number) - (b.id as number));
    assert.deepEqual(rows, readings);

    // The exact snapshot id (a 64-bit long kept as a string) selects that snapshot for time travel.
    const snapshotId = loaded.currentSnapshot?.snapshotId ?? assert.fail('no current snapshot');
    const atSnapshot = await session.execute(
      `SELECT COUNT(*) AS n FROM lake.${namespace}.readings /*+ OPTIONS('snapshot-id' = ${sqlString(snapshotId)}) */`,
      batch,
    );
    assert.deepEqual(atSnapshot.rows, [{ n: readings.length }]);
  });
});

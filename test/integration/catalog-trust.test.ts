import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Kafka, Producer } from 'kafkajs';
import { createKafkaActivities } from '../../activities/kafka';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLakeWriter } from '../../src/adapters/duckdb/lake-writer';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import {
  ensureCatalogTopic,
  publishCatalogRecord,
  readCatalog,
  signedRecordJson,
} from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { noDataOutcome, resultRowsOf } from '../../src/analysis/cycle';
import {
  AnalysisResultsTable,
  CYCLE_ROW,
  ensureResultsTable,
  RESULT_COLUMNS,
} from '../../src/analysis/results-table';
import type { MeshloopConfig } from '../../src/config';
import type { CatalogDescriptor } from '../../src/domain/catalog';
import { CATALOG_SIGNATURE_PURPOSE, toCatalogDescriptor } from '../../src/domain/catalog';
import type { Stage } from '../../src/domain/lifecycle';
import { TopicNotOwnedError } from '../../src/domain/topic-ownership';
import { createLogger } from '../../src/log';
import { RecordKey } from '../../src/signing/record-key';
import { testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';

/**
 * What someone who can write the catalog topic, the topic claims or the lake can no longer do
 * (issue 19, items 7 and 9), against the real Kafka and Iceberg of the test platform. The workflow
 * side (old cycles replayed) is in test/workflows/product-analysis.test.ts.
 */
describe('forged catalog records, claims and results rows are ignored (real Kafka, Iceberg)', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let producer: Producer;
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const key = RecordKey.generate();
  const attacker = RecordKey.generate();
  const log = createLogger('test', 'error', () => undefined);

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'catalog-trust-test' });
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
  });

  after(async () => {
    await producer?.disconnect();
  });

  const descriptor = (
    name: string,
    stage: Stage,
    version: number,
    runStartedAt?: string,
    overrides: Record<string, unknown> = {},
  ): CatalogDescriptor =>
    toCatalogDescriptor({
      spec: validSpec({ name, ...overrides }),
      stage,
      decisions: [],
      resources: [],
      updatedAt: new Date(),
      version,
      ...(runStartedAt ? { run: { id: `r-${runStartedAt}`, startedAt: runStartedAt } } : {}),
    });

  it('a forged descriptor (huge version, wrong or foreign signature, copied signature) never wins; a product proposed again beats its old life', async () => {
    const topic = `_meshloop.catalog-trust-${run}`;
    await ensureCatalogTopic(kafka, topic);
    const a = `a_${run}`;
    const id = `orders.${a}`;
    const genuine = descriptor(a, 'active', 5, '2026-12-01T06:00:00.000Z', {
      quality: [{ rule: 'notNull', field: 'day' }],
    });
    await publishCatalogRecord(producer, genuine, topic, key);
    // Forged: the quality rules a cycle would take from it say customer_id must never be null.
    const forged = descriptor(a, 'retired', Number.MAX_SAFE_INTEGER, '2999-01-01T00:00:00.000Z', {
      quality: [{ rule: 'notNull', field: 'revenue' }],
    });
    const copied = JSON.parse(signedRecordJson(CATALOG_SIGNATURE_PURPOSE, id, genuine, key)) as Record<
      string,
      unknown
    >;
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: id, value: JSON.stringify(forged) },
        {
          key: id,
          value: JSON.stringify({ ...forged, signature: `hmac-sha256:${key.id}:${'A'.repeat(43)}` }),
        },
        { key: id, value: signedRecordJson(CATALOG_SIGNATURE_PURPOSE, id, forged, attacker) },
        { key: id, value: JSON.stringify({ ...copied, version: 1_000_000, stage: 'retired' }) },
      ],
    });
    const read = await readCatalog(kafka, { topic, recordKey: key, log });
    assert.equal(read.unsigned, 4);
    assert.equal(read.view.get(id)?.stage, 'active');
    assert.equal(read.view.get(id)?.version, 5);
    assert.deepEqual(
      read.view.specOf(id)?.quality.map((q) => ('field' in q ? q.field : undefined)),
      ['day'],
      'the analysis takes its rules from the genuine descriptor',
    );
    // The key, not the topic, is what is trusted: a reader holding the forger's key takes the forgery.
    assert.equal((await readCatalog(kafka, { topic, recordKey: attacker })).view.get(id)?.stage, 'retired');

    // Retired at a high version; proposed again: versions restart, the new life's run is later.
    await publishCatalogRecord(
      producer,
      descriptor(a, 'retired', 42, '2026-12-02T06:00:00.000Z'),
      topic,
      key,
    );
    await publishCatalogRecord(
      producer,
      descriptor(a, 'awaitingApproval', 1, '2026-12-03T06:00:00.000Z'),
      topic,
      key,
    );
    // The old life's genuine retired descriptor, written again (a replay): still older.
    await publishCatalogRecord(
      producer,
      descriptor(a, 'retired', 42, '2026-12-02T06:00:00.000Z'),
      topic,
      key,
    );
    const again = await readCatalog(kafka, { topic, recordKey: key });
    assert.equal(again.view.get(id)?.stage, 'awaitingApproval');
    assert.equal(again.view.get(id)?.version, 1);
  });

  it('every topic a product’s jobs write is claimed first; names like another’s rejected, dead-letter or internal topics are refused; hand-written claims count for nothing', async () => {
    const catalogTopic = `_meshloop.catalog-claims-${run}`;
    const ownersTopic = `_meshloop.topic-owners-${run}`;
    const activities = createKafkaActivities({
      kafka,
      producer,
      log,
      catalogTopic,
      topicOwnersTopic: ownersTopic,
      recordKey: key,
    });
    const env = new MockActivityEnvironment();
    const settings = { partitions: 1, retentionMs: 604_800_000, cleanupPolicy: 'delete' };
    const create = (productId: string, name: string) =>
      env.run(
        (request: Parameters<typeof activities.createKafkaTopic>[0]) => activities.createKafkaTopic(request),
        { productId, topic: { name, ...settings } },
      );
    const refusedBy = async (productId: string, name: string): Promise<string> => {
      const error = await create(productId, name).then(
        () => assert.fail(`${productId} was given ${name}`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TopicNotOwnedError, String(error));
      return error.message;
    };

    // The signing activity is no oracle: a workflow other than the product's own is refused.
    const publishing = env.run(
      (request: Parameters<typeof activities.publishCatalogDescriptor>[0]) =>
        activities.publishCatalogDescriptor(request),
      { productId: `orders.a_${run}`, descriptor: descriptor(`a_${run}`, 'active', 99) },
    );
    await assert.rejects(
      publishing,
      /workflow test may not publish the descriptor of orders\.a_.*only its own workflow \(data-product:orders\.a_/,
    );
    assert.equal((await readCatalog(kafka, { topic: catalogTopic, recordKey: key })).view.all().length, 0);

    const aOut = `orders.a_${run}`;
    assert.deepEqual(await create(`orders.a_${run}`, aOut), { topic: aOut, created: true });
    for (const [name, why] of [
      [
        `${aOut}.rejected`,
        /must not end with "\.rejected": that names another product's rejected-records topic/,
      ],
      [`${aOut}_dlq`, /must not end with "_dlq"/],
      [`${aOut}.REJECTED`, /must not end with "\.rejected"/],
      ['_meshloop.catalog', /must not start with "_"/],
      ['__consumer_offsets', /must not start with "_"/],
      ['_schemas', /must not start with "_"/],
      [`orders.b_${run} x`, /must be a Kafka topic name/],
    ] as const)
      assert.match(await refusedBy(`orders.b_${run}`, name), why);

    // A's derived topics are claimed in the ledger as A's, before its job writes them.
    const admin = kafka.admin();
    await admin.connect();
    try {
      // A topic that exists under a new product's derived name (made by hand) is not adopted.
      const cOut = `orders.c_${run}`;
      await createTopicsAndAwaitLeaders(admin, [{ topic: `${cOut}.rejected`, numPartitions: 1 }]);
      assert.match(
        await refusedBy(`orders.c_${run}`, cOut),
        /\.rejected \(written by the jobs of an output named .*\) already exists and was not made for this product/,
      );
      assert.ok(!(await admin.listTopics()).includes(cOut), 'nothing was created');

      // A raw topic, and a claim written by hand for the product that would adopt it: still refused.
      const raw = `orders.raw_${run}`;
      await createTopicsAndAwaitLeaders(admin, [{ topic: raw, numPartitions: 1 }]);
      await producer.send({
        topic: ownersTopic,
        acks: -1,
        messages: [
          { key: raw, value: JSON.stringify({ productId: `orders.d_${run}`, topic: raw }) },
          {
            key: raw,
            value: signedRecordJson(
              'topic-claim',
              raw,
              { productId: `orders.d_${run}`, topic: raw },
              attacker,
            ),
          },
        ],
      });
      assert.match(
        await refusedBy(`orders.d_${run}`, raw),
        /already exists and was not made for this product/,
      );

      // Someone claims A's output for B by hand: A keeps it, B is still refused.
      await producer.send({
        topic: ownersTopic,
        acks: -1,
        messages: [{ key: aOut, value: JSON.stringify({ productId: `orders.b_${run}`, topic: aOut }) }],
      });
      assert.deepEqual(await create(`orders.a_${run}`, aOut), { topic: aOut, created: false });
      assert.match(
        await refusedBy(`orders.b_${run}`, aOut),
        new RegExp(`is the output of product orders\\.a_${run}`),
      );
      await admin.deleteTopics({ topics: [aOut, `${cOut}.rejected`, raw] }).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  });

  it('results rows appended by hand (unsigned, another key, a copied signature) are not stored cycles, past cycles or rule history', async () => {
    const iceberg = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
    const ref = { catalog: 'lake', namespace: 'meshloop', name: `results_trust_${run}` };
    const table = await ensureResultsTable(iceberg, ref);
    const extensionDir = await ensureDuckDbExtensions(config.stack.cacheDir);
    const open = (recordKey: RecordKey) =>
      AnalysisResultsTable.open({ extensionDir, catalog: config.iceberg, table, recordKey });
    const productId = `orders.p_${run}`;
    const outcome = (cycleKey: string, kind: 'pass' | 'breach') => ({
      ...noDataOutcome(productId, cycleKey, new Date(), 'test'),
      snapshotId: '123',
      outcome: kind,
      breaches:
        kind === 'breach'
          ? [{ rule: 'notNull:customer_id', failing: 9, examples: ['x'], summary: 'forged' }]
          : [],
    });
    const forgedRule = (cycleKey: string) => ({
      productId,
      cycleKey,
      snapshotId: '123',
      rule: 'notNull:customer_id',
      outcome: 'fail',
      failing: 9,
      rows: 10,
      figures: '{"failing":9}',
      examples: '[]',
      summary: 'forged',
      at: new Date().toISOString(),
    });
    try {
      const results = await open(key);
      try {
        await results.appendCycle(resultRowsOf(outcome('genuine', 'pass')));
      } finally {
        results.close();
      }
      // Forged with the attacker's own key: a cycle nobody ran, and a breach beside the genuine pass.
      const forger = await open(attacker);
      try {
        await forger.append(resultRowsOf(outcome('forged', 'breach')));
        await forger.append(resultRowsOf(outcome('genuine', 'breach')));
        await forger.append([forgedRule('genuine')]);
      } finally {
        forger.close();
      }
      // By hand, bypassing the signing: unsigned rows, and a genuine row's signature on changed content.
      const writer = await IcebergLakeWriter.open({ extensionDir, catalog: config.iceberg, table });
      try {
        const [genuineRow] = await writer.select(
          `SELECT figures FROM r WHERE cycle_key = 'genuine' AND rule = '${CYCLE_ROW}'`,
        );
        const copied = JSON.parse(String(genuineRow?.figures)) as { outcome: Record<string, unknown> };
        const row = (cycleKey: string, rule: string, figures: string, result = 'breach') => [
          productId,
          cycleKey,
          '123',
          rule,
          result,
          0n,
          0n,
          figures,
          '[]',
          'by hand',
          new Date().toISOString(),
        ];
        await writer.append(RESULT_COLUMNS, [
          row('by-hand', CYCLE_ROW, JSON.stringify({ outcome: outcome('by-hand', 'breach') })),
          row(
            'genuine',
            CYCLE_ROW,
            JSON.stringify({ ...copied, outcome: { ...copied.outcome, outcome: 'breach' } }),
          ),
          row('genuine', 'notNull:customer_id', '{"failing":9}', 'fail'),
        ]);
      } finally {
        writer.close();
      }

      const check = await open(key);
      try {
        assert.equal((await check.storedCycle(productId, 'genuine'))?.outcome, 'pass');
        assert.equal(await check.storedCycle(productId, 'forged'), undefined);
        assert.equal(await check.storedCycle(productId, 'by-hand'), undefined);
        assert.equal(await check.hasCycle(productId, 'forged'), false);
        assert.deepEqual(
          (await check.pastCycles(productId, 10)).map((c) => c.cycleKey),
          ['genuine'],
        );
        assert.deepEqual(await check.ruleHistory(productId, 10), {});
      } finally {
        check.close();
      }
    } finally {
      await iceberg
        .dropTable({ namespace: [ref.namespace], name: ref.name }, { purge: true })
        .catch(() => undefined);
    }
  });
});

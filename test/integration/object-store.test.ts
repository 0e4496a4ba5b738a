import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import { translatingFailures } from '../../activities/failures';
import type { MaterializationInput } from '../../activities/materialize';
import { createMaterializationActivities } from '../../activities/materialize';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLakeWriter } from '../../src/adapters/duckdb/lake-writer';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { Check } from '../../src/cli/doctor';
import { loadConfig } from '../../src/config';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { createMaterializers } from '../../src/materialize';
import { queryProduct } from '../../src/query/product-query';
import { waitUntil } from '../../src/stack/probe';
import type { ObjectStorePlatform } from '../helpers/object-store-platform';
import { objectStorePlatform } from '../helpers/object-store-platform';
import { testEnvironment } from '../helpers/platform';
import { runCli } from '../helpers/processes';

type Report = { ok: boolean; checks: Check[] };

async function doctor(env: Record<string, string>): Promise<{ code: number; report: Report }> {
  const result = await runCli(['doctor', '--json'], env);
  try {
    return { code: result.code, report: JSON.parse(result.stdout) as Report };
  } catch {
    throw new Error(`doctor printed no report: ${result.stdout}${result.stderr}`);
  }
}

const byName = (report: Report) => new Map(report.checks.map((check) => [check.name, check]));

/**
 * Iceberg on an S3-compatible object store with catalog credentials: a real S3 server (S3Proxy,
 * which checks its keys) and a second Iceberg REST catalog whose warehouse is on it, configured only
 * through the profile's settings (OAuth2 client credentials, warehouse, AWS_* object store).
 */
describe('Iceberg on an object store, with catalog credentials (S3Proxy + a REST catalog on it)', function () {
  this.timeout(180_000);
  let store: ObjectStorePlatform;

  before(async function () {
    this.timeout(15 * 60_000); // a cold first run downloads the platform and S3Proxy
    store = await objectStorePlatform();
  });

  it('doctor passes with the profile: the catalog with its OAuth2 token and warehouse, a probe object written, read and deleted', async () => {
    const { code, report } = await doctor(store.profile);
    assert.equal(code, 0, JSON.stringify(report, null, 2));
    const checks = byName(report);
    const iceberg = checks.get('iceberg-catalog')!;
    assert.equal(iceberg.target, store.catalogUrl);
    assert.match(iceberg.detail, /config read, \d+ namespace\(s\), OAuth2 client-credentials token/);
    const objectStore = checks.get('object-store')!;
    assert.equal(objectStore.ok, true, objectStore.detail);
    assert.equal(objectStore.target, store.s3Endpoint);
    assert.match(
      objectStore.detail,
      /^s3:\/\/lakehouse\/warehouse\/\.meshloop-doctor\/\S+ written, read and deleted$/,
    );
    // Deleted: nothing of the probe is left in the bucket.
    const left = await fs
      .readdir(path.join(store.storeDir, store.bucket, 'warehouse', '.meshloop-doctor'))
      .catch(() => []);
    assert.deepEqual(left, []);
    // `meshloop config` with the profile: what is in effect, secrets masked.
    const printed = await runCli(['config'], store.profile);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(
      printed.stdout,
      /OAuth2 client credentials \(client meshloop, token endpoint http:\/\/127\.0\.0\.1:\d+\/v1\/oauth\/tokens/,
    );
    assert.match(printed.stdout, /endpoint http:\/\/127\.0\.0\.1:\d+, region us-east-1, path-style/);
    for (const key of ['AWS_SECRET_ACCESS_KEY', 'MESHLOOP_ICEBERG_CLIENT_SECRET'] as const) {
      assert.ok(!printed.stdout.includes(store.profile[key]!), `${key} printed by meshloop config`);
    }
    // The secrets are nowhere in the report.
    const text = JSON.stringify(report);
    for (const key of ['AWS_SECRET_ACCESS_KEY', 'MESHLOOP_ICEBERG_CLIENT_SECRET'] as const) {
      assert.ok(!text.includes(store.profile[key]!), `${key} in the doctor's report`);
    }
  });

  it('doctor names the setting: a missing bucket, a wrong secret key, an unknown access key', async () => {
    const missing = await doctor({ ...store.profile, MESHLOOP_ICEBERG_WAREHOUSE: 's3://no-such-bucket/wh' });
    assert.equal(missing.code, 1);
    const bucket = byName(missing.report).get('object-store')!;
    assert.equal(bucket.ok, false);
    assert.match(bucket.detail, /NoSuchBucket/);
    assert.match(
      bucket.fix!,
      /bucket 'no-such-bucket' does not exist on http:\/\/127\.0\.0\.1:\d+: create it/,
    );
    assert.match(bucket.fix!, /MESHLOOP_ICEBERG_WAREHOUSE/);

    const wrongSecret = await doctor({ ...store.profile, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    assert.equal(wrongSecret.code, 1);
    const secret = byName(wrongSecret.report).get('object-store')!;
    assert.equal(secret.ok, false);
    assert.match(secret.detail, /SignatureDoesNotMatch/);
    assert.match(secret.fix!, /AWS_SECRET_ACCESS_KEY/);
    assert.ok(!JSON.stringify(wrongSecret.report).includes('not-the-secret'));

    const unknownKey = await doctor({ ...store.profile, AWS_ACCESS_KEY_ID: 'nobody' });
    const key = byName(unknownKey.report).get('object-store')!;
    assert.equal(key.ok, false);
    assert.match(key.fix!, /AWS_ACCESS_KEY_ID/);
  });

  it('runs the OAuth2 client-credentials flow at the catalog token endpoint; a wrong one is named', async () => {
    const catalog = IcebergCatalogClient.of(store.config.iceberg, 10_000);
    assert.equal(store.config.iceberg.auth?.kind, 'oauth2');
    await catalog.ensureNamespace(['oauth_probe']);
    assert.ok((await catalog.listNamespaces()).some((ns) => ns.join('.') === 'oauth_probe'));
    // The namespace lands in the warehouse on the object store.
    const properties = await catalog.namespaceProperties(['oauth_probe']);
    assert.equal(properties.location, 's3://lakehouse/warehouse/oauth_probe');

    const { code, report } = await doctor({
      ...store.profile,
      MESHLOOP_ICEBERG_OAUTH2_SERVER_URI: `${store.catalogUrl}/v1/oauth/no-such-endpoint`,
    });
    assert.equal(code, 1);
    const iceberg = byName(report).get('iceberg-catalog')!;
    assert.equal(iceberg.ok, false);
    assert.match(iceberg.detail, /OAuth2/);
    assert.match(iceberg.fix!, /MESHLOOP_ICEBERG_OAUTH2_SERVER_URI/);
    assert.match(iceberg.fix!, /MESHLOOP_ICEBERG_CLIENT_SECRET/);
  });

  it("DuckDB's lake writer appends to a table in the S3 warehouse and reads it back (the analysis results' path)", async () => {
    const catalog = IcebergCatalogClient.of(store.config.iceberg, 10_000);
    const name = `w_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    await catalog.ensureNamespace(['itobj']);
    const created = await catalog.createTable(['itobj'], {
      name,
      schema: {
        type: 'struct',
        'schema-id': 0,
        fields: [
          { id: 1, name: 'id', required: false, type: 'string' },
          { id: 2, name: 'n', required: false, type: 'long' },
        ],
      },
    });
    assert.equal(created.metadata.location, `s3://lakehouse/warehouse/itobj/${name}`);
    const writer = await IcebergLakeWriter.open({
      extensionDir: await ensureDuckDbExtensions(store.config.stack.cacheDir),
      catalog: store.config.iceberg,
      table: {
        ref: { catalog: 'lake', namespace: 'itobj', name },
        location: created.metadata.location,
      },
    });
    try {
      await writer.append(
        [
          { name: 'id', type: 'VARCHAR' },
          { name: 'n', type: 'BIGINT' },
        ],
        [
          ['a', 1],
          ['b', 2],
        ],
      );
      assert.deepEqual(await writer.select('SELECT id, n FROM r ORDER BY id'), [
        { id: 'a', n: '1' },
        { id: 'b', n: '2' },
      ]);
    } finally {
      writer.close();
    }
    const files = await fs.readdir(
      path.join(store.storeDir, 'lakehouse', 'warehouse', 'itobj', name, 'data'),
    );
    assert.ok(
      files.some((file) => file.endsWith('.parquet')),
      `no Parquet file written: ${files.join(', ')}`,
    );
  });

  describe('a product materialized by Flink into the S3 warehouse', () => {
    let kafka: Kafka;
    const topics: string[] = [];
    let input: MaterializationInput | undefined;
    let activities: ReturnType<typeof createMaterializationActivities>;
    const log = createLogger('object-store-test', 'warn');
    const run = <T>(work: () => Promise<T>) => work();

    before(async function () {
      this.timeout(10 * 60_000);
      kafka = createKafkaClient({ connection: store.config.kafka, clientId: 'object-store-test' });
      activities = translatingFailures(
        createMaterializationActivities({
          materializers: createMaterializers(store.config, log),
          defaults: { ...store.config.materialize, commitIntervalMs: 1000 },
          log,
        }),
      );
      await ensureDuckDbExtensions(store.config.stack.cacheDir);
    });

    after(async () => {
      if (input) await run(() => activities.stopMaterialization(input!)).catch(() => undefined);
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    });

    it('answers `meshloop query` (src/query) from data files under s3://lakehouse/ on the object store', async () => {
      const name = `s3_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
      const spec = parseSpec({
        name,
        domain: 'itobj',
        owner: 'alice',
        kind: 'source-aligned',
        outputTopic: { partitions: 1, cleanupPolicy: 'delete' },
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
      });
      input = { productId: productIdOf(spec), revision: 1, spec };
      const admin = kafka.admin();
      await admin.connect();
      await createTopicsAndAwaitLeaders(admin, [{ topic: spec.outputTopic.name, numPartitions: 1 }]);
      await admin.disconnect();
      topics.push(spec.outputTopic.name);
      const rows = Array.from({ length: 25 }, (_, i) => ({
        order_id: `o-${i}`,
        amount: i * 1.5,
        placed_at: new Date(Date.UTC(2026, 10, 1, 12, 0, i)).toISOString(),
      }));
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: spec.outputTopic.name,
        messages: rows.map((row) => ({
          key: JSON.stringify({ order_id: row.order_id }),
          value: JSON.stringify(row),
        })),
      });
      await producer.disconnect();

      const table = await run(() => activities.createIcebergTable(input!));
      assert.equal(table.created, true);
      const job = await run(() => activities.startMaterialization(input!));
      assert.equal(job.started, true);
      let seen: string | undefined;
      const outcome = await waitUntil(
        async () => {
          const status = await run(() => activities.describeIcebergTable(input!));
          seen = JSON.stringify(status);
          return status.table.rowCount === rows.length;
        },
        { timeoutMs: 150_000, intervalMs: 1000 },
      );
      assert.equal(outcome, 'ready', `the rows were not committed; last status ${seen}`);

      // The job Flink runs shows none of the credentials its session was given.
      for (const part of ['', '/config', '/plan']) {
        const shown = await (await fetch(`${store.config.flink.restUrl}/jobs/${job.id}${part}`)).text();
        for (const key of ['AWS_SECRET_ACCESS_KEY', 'MESHLOOP_ICEBERG_CLIENT_SECRET'] as const) {
          assert.ok(!shown.includes(store.profile[key]!), `${key} shown by Flink at /jobs/<id>${part}`);
        }
      }

      const answer = await queryProduct(store.config, input.productId, {
        sql: 'SELECT count(*) AS n, sum(amount) AS total FROM t',
      });
      assert.deepEqual(answer.rows, [{ n: '25', total: rows.reduce((sum, row) => sum + row.amount, 0) }]);
      // With a bearer token instead of client credentials (DuckDB's iceberg secret with TOKEN).
      const {
        MESHLOOP_ICEBERG_CLIENT_ID: _id,
        MESHLOOP_ICEBERG_CLIENT_SECRET: _secret,
        ...rest
      } = store.profile;
      const withToken = loadConfig({
        ...testEnvironment(),
        ...rest,
        MESHLOOP_ICEBERG_TOKEN: 'a-static-token',
      });
      assert.equal(withToken.iceberg.auth?.kind, 'token');
      const byToken = await queryProduct(withToken, input.productId, { sql: 'SELECT count(*) AS n FROM t' });
      assert.deepEqual(byToken.rows, [{ n: '25' }]);
      // Through the CLI too, as a user runs it with the profile.
      const cli = await runCli(
        ['query', input.productId, 'SELECT order_id FROM t ORDER BY order_id LIMIT 2', '--json'],
        store.profile,
      );
      assert.equal(cli.code, 0, cli.stdout + cli.stderr);
      assert.match(cli.stdout, /o-0/);

      const loaded = await IcebergCatalogClient.of(store.config.iceberg).loadTable({
        namespace: ['itobj'],
        name,
      });
      assert.equal(loaded.metadata.location, `s3://lakehouse/warehouse/itobj/${name}`);
      // The data files, listed on the object store itself with the profile's keys.
      const s3 = new S3Client({
        endpoint: store.s3Endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: {
          accessKeyId: store.profile.AWS_ACCESS_KEY_ID!,
          secretAccessKey: store.profile.AWS_SECRET_ACCESS_KEY!,
        },
      });
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: 'lakehouse', Prefix: `warehouse/itobj/${name}/data/` }),
      );
      s3.destroy();
      const parquet = (listed.Contents ?? []).filter((object) => object.Key?.endsWith('.parquet'));
      assert.ok(
        parquet.length > 0,
        `no Parquet data files under s3://lakehouse/warehouse/itobj/${name}/data/`,
      );
    });
  });
});

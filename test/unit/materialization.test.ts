import assert from 'node:assert/strict';
import type { Snapshot } from '../../src/adapters/iceberg';
import {
  checkSchemaEvolution,
  defaultSnapshotRetentionMs,
  materializationPlanOf,
  rowCountOf,
  tablePropertiesOf,
  tableStatusOf,
  tableTroubleOf,
  writeModeOf,
} from '../../src/domain/materialization';
import type { MeshMaterializationDefaults } from '../../src/domain/materialization';
import { ConfigError, loadConfig } from '../../src/config';
import { InvalidSpecError } from '../../src/domain/errors';
import {
  materializationInsertStatement,
  materializationSetupStatements,
} from '../../src/materialize/flink-sql';
import { productTableRequest } from '../../src/materialize/iceberg-table';
import { resolveAsOf } from '../../src/query/product-query';
import { validSpec } from '../helpers/specs';

const defaults: MeshMaterializationDefaults = {
  provider: 'flink',
  errorMode: 'suspend',
  commitIntervalMs: 60_000,
  catalog: 'lake',
};

const eventSpec = (overrides: Record<string, unknown> = {}) =>
  validSpec({
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'amount', type: 'double' },
        { name: 'placed_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    ...overrides,
  });

describe('materialization decisions', () => {
  it('appends delete-cleanup topics and upserts compacted keyed ones (Tableflow’s rule)', () => {
    assert.equal(writeModeOf(eventSpec()), 'append');
    assert.equal(writeModeOf(eventSpec({ outputTopic: { cleanupPolicy: 'compact' } })), 'upsert');
    assert.equal(writeModeOf(eventSpec({ outputTopic: { cleanupPolicy: 'compact,delete' } })), 'upsert');
    const unkeyed = eventSpec({
      outputTopic: { cleanupPolicy: 'compact' },
      schema: { fields: [{ name: 'a', type: 'string' }], key: [] },
    });
    assert.equal(writeModeOf(unkeyed), 'append');
  });

  it('plans a table <catalog>.<domain>.<name> with the mesh defaults, overridable per spec', () => {
    const plan = materializationPlanOf(eventSpec(), 3, defaults);
    assert.deepEqual(plan.table, { catalog: 'lake', namespace: 'orders', name: 'daily_revenue' });
    assert.deepEqual(plan.deadLetterTable.name, 'daily_revenue_dlq');
    assert.equal(plan.jobName, 'meshloop-materialize:orders.daily_revenue:r3');
    assert.equal(plan.errorMode, 'suspend');
    assert.equal(plan.commitIntervalMs, 60_000);
    assert.equal(plan.snapshotRetentionMs, defaultSnapshotRetentionMs);
    assert.equal(plan.partitionDayField, 'placed_at');

    const overridden = materializationPlanOf(
      eventSpec({
        materialization: {
          provider: 'tableflow',
          errorMode: 'log',
          snapshotRetention: '2d',
          commitInterval: '5s',
        },
      }),
      1,
      defaults,
    );
    assert.deepEqual(
      [
        overridden.provider,
        overridden.errorMode,
        overridden.snapshotRetentionMs,
        overridden.commitIntervalMs,
      ],
      ['tableflow', 'log', 2 * 86_400_000, 5000],
    );
  });

  it('partitions upsert tables by day only when the event time is part of the key', () => {
    const upsert = materializationPlanOf(
      eventSpec({ outputTopic: { cleanupPolicy: 'compact' } }),
      1,
      defaults,
    );
    assert.equal(upsert.partitionDayField, undefined);
    const longTime = materializationPlanOf(
      validSpec({
        schema: { fields: [{ name: 'ts', type: 'long' }], key: [], eventTimeField: 'ts' },
      }),
      1,
      defaults,
    );
    assert.equal(longTime.partitionDayField, undefined, 'day() needs a date or timestamp');
  });

  it('rejects a wrong spec field in the materialization block', () => {
    assert.throws(() => eventSpec({ materialization: { errorMode: 'explode' } }), InvalidSpecError);
    assert.throws(() => eventSpec({ materialization: { snapshotRetention: 'forever' } }), InvalidSpecError);
  });

  it('builds the Iceberg table: v2, typed, day partition, key as identifier fields, properties', () => {
    const plan = materializationPlanOf(eventSpec({ outputTopic: { cleanupPolicy: 'compact' } }), 2, defaults);
    const request = productTableRequest(plan);
    assert.deepEqual(
      request.schema.fields.map((f) => [f.id, f.name, f.type, f.required]),
      [
        [1, 'order_id', 'string', true],
        [2, 'amount', 'double', false],
        [3, 'placed_at', 'timestamptz', false],
      ],
    );
    assert.deepEqual(request.schema['identifier-field-ids'], [1]);
    assert.equal(request.properties['format-version'], '2');
    assert.equal(request.properties['write.upsert.enabled'], 'true');
    assert.equal(request.properties['meshloop.product-id'], 'orders.daily_revenue');
    assert.equal(request.properties['meshloop.revision'], '2');
    assert.equal(request.properties['history.expire.max-snapshot-age-ms'], String(7 * 86_400_000));
    // Plain pages (zstd) instead of dictionary pages: the faster writer (docs/tables.md#writer-settings).
    assert.equal(request.properties['parquet.enable.dictionary'], 'false');

    const append = productTableRequest(materializationPlanOf(eventSpec(), 1, defaults));
    assert.deepEqual(append.partitionSpec.fields, [
      { 'source-id': 3, 'field-id': 1000, name: 'placed_at_day', transform: 'day' },
    ]);
    assert.deepEqual(append.schema['identifier-field-ids'], []);
    assert.equal(
      tablePropertiesOf(materializationPlanOf(eventSpec(), 1, defaults))['write.upsert.enabled'],
      undefined,
    );
  });

  it('writes Flink SQL that splits good rows from bad ones into the dead-letter table', () => {
    const plan = materializationPlanOf(eventSpec({ materialization: { errorMode: 'skip' } }), 1, defaults);
    const setup = materializationSetupStatements(plan, {
      kafka: { bootstrapServers: 'k:9092', properties: {} },
      icebergCatalogUri: 'http://c:8181',
    }).join('\n');
    assert.match(setup, /'value\.format' = 'raw'/);
    assert.match(setup, /'scan\.startup\.mode' = 'earliest-offset'/);
    assert.match(setup, /order_id: missing, null or not a string/);
    assert.match(setup, /amount: not a double/);
    const insert = materializationInsertStatement(plan);
    assert.match(
      insert,
      /INSERT INTO `lake`\.`orders`\.`daily_revenue` SELECT `order_id`, `amount`, `placed_at`/,
    );
    assert.match(insert, /INSERT INTO `lake`\.`orders`\.`daily_revenue_dlq` .*CAST\(NULL AS STRING\)/);
    const logged = materializationInsertStatement({ ...plan, errorMode: 'log' });
    assert.doesNotMatch(logged, /CAST\(NULL AS STRING\)/);
    const resumed = materializationSetupStatements(plan, {
      kafka: { bootstrapServers: 'k', properties: {} },
      icebergCatalogUri: 'c',
      startFrom: 'group-offsets',
    }).join('\n');
    assert.match(resumed, /'scan\.startup\.mode' = 'group-offsets'/);
    assert.match(resumed, /'properties\.auto\.offset\.reset' = 'earliest'/);
  });

  it('parses each record once with the parser function when given its jar, per field without', () => {
    const plan = materializationPlanOf(eventSpec(), 1, defaults);
    const options = { kafka: { bootstrapServers: 'k', properties: {} }, icebergCatalogUri: 'c' };
    const perField = materializationSetupStatements(plan, options).join('\n');
    assert.match(perField, /JSON_VALUE\(payload, '\$\.amount'\)/);
    assert.doesNotMatch(perField, /meshloop_json_fields/);
    const onePass = materializationSetupStatements(plan, { ...options, parserJar: "file:///j/it's.jar" });
    assert.equal(
      onePass[1],
      "CREATE TEMPORARY FUNCTION `meshloop_json_fields` AS 'dev.meshloop.flink.JsonFields' LANGUAGE JAVA USING JAR 'file:///j/it''s.jar'",
    );
    const sql = onePass.join('\n');
    assert.doesNotMatch(sql, /JSON_VALUE|IS JSON OBJECT/);
    // One call per branch, naming every field in order with its type; it types and checks them. The
    // dead letters' call emits only records with an error (the parse itself is shared: a memo).
    assert.equal(sql.match(/meshloop_json_fields`\(/g)?.length, 2);
    assert.match(
      sql,
      /LATERAL TABLE\(`meshloop_json_fields`\(payload, 'order_id:string!,amount:double,placed_at:timestamp'\)\) AS parsed/,
    );
    assert.match(
      sql,
      /VIEW `meshloop_dead_letters` AS[^;]*LATERAL TABLE\(`meshloop_json_fields`\(payload, 'order_id:string!,amount:double,placed_at:timestamp', 'errors'\)\) AS parsed/,
    );
    assert.match(materializationInsertStatement(plan), /FROM `meshloop_dead_letters` WHERE error <> ''/);
    assert.match(sql, /parsed\.v1 AS `amount`,\n {2}parsed\.v2 AS `placed_at`,\n {2}parsed\.error AS error/);
  });
});

describe('schema evolution policy', () => {
  const base = {
    fields: [
      { name: 'id', type: 'string' as const, nullable: false },
      { name: 'qty', type: 'int' as const, nullable: true },
    ],
    key: ['id'],
  };

  it('accepts added nullable fields and widenings', () => {
    const change = checkSchemaEvolution(base, {
      fields: [
        base.fields[0]!,
        { name: 'qty', type: 'long', nullable: true },
        { name: 'note', type: 'string', nullable: true },
      ],
      key: ['id'],
    });
    assert.equal(change.compatible, true, change.problems.join('; '));
    assert.deepEqual(change.added, [{ name: 'note', type: 'string', nullable: true }]);
    assert.deepEqual(change.widened, [{ name: 'qty', from: 'int', to: 'long' }]);
  });

  it('refuses drops, narrowings, new required fields, required-ness and key changes, with the reasons', () => {
    const dropped = checkSchemaEvolution(base, { fields: [base.fields[0]!], key: ['id'] });
    assert.equal(dropped.compatible, false);
    assert.match(dropped.problems.join(), /'qty' is dropped/);

    const narrowed = checkSchemaEvolution(
      { fields: [{ name: 'n', type: 'long', nullable: true }], key: [] },
      { fields: [{ name: 'n', type: 'int', nullable: true }], key: [] },
    );
    assert.match(narrowed.problems.join(), /'n' changes type long → int/);

    const required = checkSchemaEvolution(base, {
      fields: [...base.fields, { name: 'must', type: 'string', nullable: false }],
      key: ['id'],
    });
    assert.match(required.problems.join(), /new field 'must' must be nullable/);

    const tightened = checkSchemaEvolution(base, {
      fields: [base.fields[0]!, { name: 'qty', type: 'int', nullable: false }],
      key: ['id'],
    });
    assert.match(tightened.problems.join(), /'qty' becomes required/);

    const rekeyed = checkSchemaEvolution(base, { fields: base.fields, key: ['id', 'qty'] });
    assert.match(rekeyed.problems.join(), /schema\.key: changes from \[id\] to \[id, qty\]/);
  });
});

describe('table status and time travel', () => {
  const snapshot = (id: string, timestampMs: number, total: string): Snapshot => ({
    snapshotId: id,
    timestampMs,
    manifestList: '',
    summary: { operation: 'append', 'total-records': total },
  });

  it('reports table, snapshot, row count, last commit and freshness', () => {
    const status = tableStatusOf({
      table: { catalog: 'lake', namespace: 'orders', name: 'daily_revenue' },
      provider: 'flink',
      snapshots: 2,
      current: snapshot('9223372036854775807', Date.parse('2026-12-01T10:00:00Z'), '120'),
      now: Date.parse('2026-12-01T10:05:00Z'),
      slaFreshnessMs: 60_000,
    });
    assert.deepEqual(status, {
      table: 'lake.orders.daily_revenue',
      provider: 'flink',
      snapshotId: '9223372036854775807',
      rowCount: 120,
      lastCommitAt: '2026-12-01T10:00:00.000Z',
      freshnessMs: 300_000,
      withinSla: false,
      snapshots: 2,
    });
    assert.equal(rowCountOf({ 'total-records': '10', 'total-position-deletes': '3' }), 7);
    const empty = tableStatusOf({
      table: { catalog: 'lake', namespace: 'a', name: 'b' },
      provider: 'flink',
      snapshots: 0,
      now: 0,
    });
    assert.equal(empty.snapshotId, undefined);
  });

  it('resolves --as-of by exact snapshot id or by time (the snapshot current then)', () => {
    const snapshots = [
      snapshot('6598282813123424555', Date.parse('2026-12-01T10:00:00Z'), '5'),
      snapshot('12', Date.parse('2026-12-01T11:00:00Z'), '9'),
    ];
    assert.equal(resolveAsOf(snapshots, '6598282813123424555').summary['total-records'], '5');
    assert.equal(resolveAsOf(snapshots, '2026-12-01T10:30:00Z').snapshotId, '6598282813123424555');
    assert.equal(resolveAsOf(snapshots, '2026-12-01T11:00:00Z').snapshotId, '12');
    assert.throws(() => resolveAsOf(snapshots, '2026-12-01T09:00:00Z'), /no snapshot at or before/);
    assert.throws(() => resolveAsOf(snapshots, '6598282813123424000'), /no snapshot 6598282813123424000/);
    assert.throws(() => resolveAsOf(snapshots, 'yesterday'), /neither a snapshot id nor an ISO time/);
  });
});

describe('materialization configuration', () => {
  it('defaults to the flink provider, suspend, 60 s commits, catalog lake', () => {
    const config = loadConfig({});
    assert.deepEqual(config.materialize, {
      provider: 'flink',
      errorMode: 'suspend',
      commitIntervalMs: 60_000,
      catalog: 'lake',
      parserJar: { build: true },
    });
    assert.equal(config.tableflow, undefined);
  });

  it('parses with the jar the local stack builds, a given jar, or per field (none; Flink elsewhere)', () => {
    assert.deepEqual(
      loadConfig({ MESHLOOP_MATERIALIZE_PARSER_JAR: 's3://jars/p.jar' }).materialize.parserJar,
      {
        uri: 's3://jars/p.jar',
      },
    );
    assert.equal(loadConfig({ MESHLOOP_MATERIALIZE_PARSER_JAR: 'none' }).materialize.parserJar, undefined);
    const elsewhere = { MESHLOOP_FLINK_SQL_GATEWAY_URL: 'https://flink-sql.example.com' };
    assert.equal(loadConfig(elsewhere).materialize.parserJar, undefined);
    assert.deepEqual(
      loadConfig({ ...elsewhere, MESHLOOP_MATERIALIZE_PARSER_JAR: 'file:///opt/p.jar' }).materialize
        .parserJar,
      { uri: 'file:///opt/p.jar' },
    );
  });

  it('needs every Tableflow key with MESHLOOP_MATERIALIZER=tableflow, and lists the missing ones', () => {
    assert.throws(
      () => loadConfig({ MESHLOOP_MATERIALIZER: 'tableflow', CONFLUENT_CLOUD_API_KEY: 'k' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 3 &&
        error.problems.every((problem) => /required with MESHLOOP_MATERIALIZER=tableflow/.test(problem)),
    );
    const config = loadConfig({
      MESHLOOP_MATERIALIZER: 'tableflow',
      CONFLUENT_CLOUD_API_KEY: 'k',
      CONFLUENT_CLOUD_API_SECRET: 's',
      MESHLOOP_TABLEFLOW_ENVIRONMENT_ID: 'env-1',
      MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID: 'lkc-1',
      MESHLOOP_MATERIALIZE_COMMIT_INTERVAL: '5s',
    });
    assert.equal(config.materialize.provider, 'tableflow');
    assert.equal(config.materialize.commitIntervalMs, 5000);
    assert.equal(config.tableflow?.apiUrl, 'https://api.confluent.cloud');
  });
});

describe('table trouble (what degrades a product through its table)', () => {
  const table = { table: 'lake.orders.x', provider: 'flink' as const, snapshots: 1 };
  const bad = { topic: 'orders.x', partition: 1, offset: 42, error: 'placed_at: not a timestamp' };

  it('a suspend product’s bad record is trouble, with its coordinates, until a redeploy acknowledges it', () => {
    const look = { state: 'RUNNING', badRecords: 1, suspendedAt: bad, table };
    const trouble = tableTroubleOf(look, 0, 'meshloop-materialize:orders.x:r1');
    assert.deepEqual(trouble?.suspendedAt, bad);
    assert.match(trouble?.reason ?? '', /orders\.x partition 1 offset 42: placed_at: not a timestamp/);
    assert.equal(tableTroubleOf(look, 1, 'j'), undefined, 'already dealt with');
    assert.ok(tableTroubleOf({ ...look, badRecords: 2 }, 1, 'j'), 'a new one suspends again');
  });

  it('Tableflow’s own suspension (no count, no coordinates) and a failed job are trouble; a running table is not', () => {
    const suspended = tableTroubleOf(
      { state: 'SUSPENDED', badRecords: 0, suspendedAt: { ...bad, partition: -1, offset: -1 }, table },
      0,
      'orders.x',
    );
    assert.match(suspended?.reason ?? '', /bad record: orders\.x: placed_at/);
    assert.doesNotMatch(suspended?.reason ?? '', /-1/);
    assert.match(
      tableTroubleOf(
        { state: 'FAILED', failure: 'java.io.IOException: disk full', badRecords: 0, table },
        0,
        'j',
      )?.reason ?? '',
      /the materialization job j is FAILED: java\.io\.IOException: disk full/,
    );
    assert.equal(
      tableTroubleOf({ state: 'RUNNING', badRecords: 3, table }, 0, 'j'),
      undefined,
      'log and skip go on',
    );
  });
});

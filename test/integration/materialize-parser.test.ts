import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SqlGatewayClient } from '../../src/adapters/flink';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import type { MeshloopConfig } from '../../src/config';
import { materializationPlanOf } from '../../src/domain/materialization';
import type { MaterializationPlan } from '../../src/domain/materialization';
import { parseSpec } from '../../src/domain/spec';
import { parserJarOf } from '../../src/materialize';
import { materializationJobConfig, materializationSetupStatements } from '../../src/materialize/flink-sql';
import { testPlatform } from '../helpers/platform';
import { createTopicWith } from '../helpers/topic-records';

/**
 * The one-pass parser (src/materialize/udf/JsonFields.java) against the per-field JSON functions it
 * replaced, on the real Flink: the same awkward records read through both parsing views must give
 * the same typed values and the same errors, record by record.
 */
const records: Array<string | Buffer | null> = [
  '{"id":"a1","n":7,"big":9007199254740993,"x":1.25,"d":"12.5","ok":true,"day":"2026-01-02","ts":"2026-01-01T10:00:00.5Z","b":"aGk=","doc":{"k":[1,2]}}',
  '{"id":"a2","n":"8","big":"42","x":"3","d":4,"ok":"false","day":"2026-02-30","ts":1767261600000,"b":"AAEC","doc":[1,"two"]}',
  '{"id":"a3","n":1.5,"x":1e3,"d":1e-7,"ts":"2026-01-01 10:00:00","doc":"text"}',
  '{"id":"a4","n":2147483648,"big":1.0,"x":"NaN","ok":1,"ts":"yesterday","doc":12.50}',
  '{"id":"a5","n":null,"x":null,"doc":null,"ts":null}',
  '{"id":{"nested":true},"n":[1],"x":{"v":1},"doc":true}',
  '{"id":5,"n":" 9 ","x":" 2.5"}',
  '{"n":1}',
  '{"id":null}',
  '{"id":"dup","id":"dup2","n":1,"n":2}',
  '{"id":"uni\\u00e9\\"q\\"","n":-0,"x":-0.0}',
  '{"id":"trail"} garbage',
  '{"id":"a6"}   ',
  '[{"id":"array"}]',
  '"just a string"',
  '42',
  'null',
  '',
  'not json at all',
  '{"id":"half"',
  '{}',
  '{"id":"t1","ts":"2026-01-01T10:00:00+02:00","ok":"TRUE","day":"2026-1-2","b":"","d":"1e40","n":"0x10"}',
  '{"id":"t2","ts":-86400000,"ok":"yes","day":" 2026-01-02 ","b":"aGk","d":"-0.00000000001","big":"9223372036854775808"}',
  '{"id":"t3","ts":1234567890123456,"ok":" true","x":"1e400","n":"+5","big":"-12.9"}',
  '{"id":"t4","ts":"2026-01-01T10:00:00.123456Z","x":1.7976931348623157e308,"ok":0}',
  '{"id":"t5","ts":"2026-13-01T00:00:00Z","x":"Infinity","n":"1_000"}',
  '{"id":"t6","ts":"2026-02-30T10:00:00Z"}',
  '{"id":"t7","ts":"2026-01-01T24:00:00Z"}',
  '{"id":"t8","ts":"0000-01-01T00:00:00Z"}',
  '{"id":"t9","ts":"2024-02-29T23:59:59.999999999Z"}',
  '{"id":"t10","ts":"2026-01-01T10:00:00.Z"}',
  '{"id":"t11","ts":"1969-12-31T23:59:59.001Z"}',
  '{"id":"t12","ts":"2026-01-01T10:00:00ZZ"}',
  // Calendar edges of the direct ISO-8601 path, and fields out of the spec's order or unknown.
  '{"id":"t13","ts":"2023-02-29T00:00:00Z"}',
  '{"id":"t14","ts":"2000-02-29T12:00:00Z"}',
  '{"id":"t15","ts":"1900-02-29T12:00:00Z"}',
  '{"id":"t16","ts":"9999-12-31T23:59:59.999Z"}',
  '{"id":"t17","ts":"2026-04-31T00:00:00Z"}',
  '{"id":"t18","ts":"0001-01-01T00:00:00Z"}',
  '{"id":"t19","ts":"2026-01-01T10:00:00\\u005a"}',
  '{"n":3,"ts":"2026-03-01T00:00:00Z","id":"o1","x":2.5}',
  '{"id":"o2","unknown":{"id":"inner"},"n":4,"id2":"x"}',
  '{"id":"e1\\n\\t\\u0041\\u00ff","doc":"\\u00e9t\\u00e9","d":"\\u0031.5"}',
  '{"id":"m1","x":1e400,"big":123456789012345678901234567890,"n":1E2}',
  '{"id":"m2","other":[1,2,}',
  '{"id":"m3","n":01}',
  '{"id":"m4","doc":{"a":1.0,"b":[true,null,"x"]},"doc":{"z":{"y":1e20}},"other":{"deep":[[[]]]}}',
  '{"id":"m5","n":1,}',
  '{"id":"m6" "n":1}',
  // Numbers the parser types without their text, and the ones it must not.
  '{"id":"k1","n":-2147483648,"big":-9223372036854775808,"x":9007199254740993,"d":7}',
  '{"id":"k2","n":7,"big":7,"x":123456789012345678901234567890,"d":0.1}',
  '{"id":"k3","n":9223372036854775807,"big":9223372036854775808,"x":-7}',
  // Read from their text, not their bytes: not ASCII, leading space, invalid UTF-8, zero bytes.
  '{"id":"ü-é","n":3,"doc":{"name":"Zoë"}}',
  ' {"id":"space-first","n":4}',
  Buffer.concat([Buffer.from('{"id":"bad-'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","n":5}')]),
  Buffer.from('{\0"\0i\0d\0"\0:\0"\0x\0"\0}\0', 'latin1'),
  null,
];

function planFor(topic: string): MaterializationPlan {
  const spec = parseSpec({
    name: `p_${randomUUID().replace(/-/g, '').slice(0, 10)}`,
    domain: 'itparse',
    owner: 'alice',
    kind: 'source-aligned',
    outputTopic: { name: topic, partitions: 1 },
    schema: {
      fields: [
        { name: 'id', type: 'string', nullable: false },
        { name: 'n', type: 'int' },
        { name: 'big', type: 'long' },
        { name: 'x', type: 'double' },
        { name: 'd', type: 'decimal' },
        { name: 'ok', type: 'boolean' },
        { name: 'day', type: 'date' },
        { name: 'ts', type: 'timestamp' },
        { name: 'b', type: 'bytes' },
        { name: 'doc', type: 'json' },
      ],
      key: ['id'],
    },
  });
  return materializationPlanOf(spec, 1, {
    provider: 'flink',
    errorMode: 'log',
    commitIntervalMs: 1000,
    catalog: 'lake',
  });
}

describe('Materialization parsing: the one-pass parser gives what the per-field JSON functions gave', function () {
  this.timeout(300_000);
  let config: MeshloopConfig;
  let topic: string;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    topic = `itparse.records_${randomUUID().slice(0, 8)}`;
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'parser-test' });
    await createTopicWith(kafka, topic, [records.map((value) => ({ value }))]);
  });

  after(async () => {
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'parser-test' });
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  /**
   * Every record through the parsing view, each value as text (batch mode: reads to the end); or,
   * with `deadLetters`, what the dead-letter table's branch reads.
   */
  async function parsed(plan: MaterializationPlan, parserJar: string | undefined, deadLetters = false) {
    const gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, headers: config.flink.headers });
    const session = await gateway.openSession({ name: 'parser-test' });
    try {
      const setup = materializationSetupStatements(plan, {
        kafka: config.flink.kafka,
        icebergCatalogUri: config.flink.icebergCatalogUri,
        bounded: true,
        ...(parserJar ? { parserJar } : {}),
      });
      // No catalog needed: the view reads Kafka only.
      for (const statement of setup.slice(1)) await session.configure(statement);
      const columns = plan.fields.map((field) => `CAST(\`${field.name}\` AS STRING) AS \`${field.name}\``);
      const result = await session.execute(
        deadLetters
          ? 'SELECT kafka_topic, kafka_offset, payload, error FROM meshloop_dead_letters'
          : `SELECT kafka_offset, ${columns.join(', ')}, error FROM meshloop_parsed`,
        {
          executionConfig: {
            'execution.runtime-mode': 'batch',
            'table.local-time-zone': 'UTC',
            // As materializations run: rows handed between chained operators without copies.
            'pipeline.object-reuse': materializationJobConfig(plan)['pipeline.object-reuse']!,
          },
          timeoutMs: 240_000,
        },
      );
      return [...result.rows].sort((a, b) => Number(a.kafka_offset) - Number(b.kafka_offset));
    } finally {
      await session.close().catch(() => undefined);
    }
  }

  it('types every field and reports every error exactly as the per-field SQL did', async () => {
    const plan = planFor(topic);
    const jar = await parserJarOf(config).parserJar?.();
    assert.ok(jar, 'the local stack builds the parser jar');
    const [perField, onePass] = [await parsed(plan, undefined), await parsed(plan, jar)];
    assert.equal(perField.length, records.length);
    assert.deepEqual(onePass, perField);

    // And the shared answer is the one the docs promise (docs/tables.md, "Bad records").
    const byId = (offset: number) => onePass[offset]!;
    assert.equal(byId(0).error, '');
    assert.equal(byId(0).big, '9007199254740993');
    assert.equal(byId(0).doc, '{"k":[1,2]}');
    assert.match(String(byId(5).error), /id: missing, null or not a string/);
    assert.equal(byId(records.length - 1).error, 'tombstone: deletes are not applied to the table');
    assert.equal(byId(14).error, 'not a JSON object');
    assert.equal(byId(19).error, 'not a JSON object');
  });

  it('the dead letters’ branch reads exactly the records with an error, through either parser', async () => {
    const plan = planFor(topic);
    const jar = (await parserJarOf(config).parserJar?.())!;
    const all = await parsed(plan, jar);
    const [perField, onePass] = [await parsed(plan, undefined, true), await parsed(plan, jar, true)];
    const withError = all.filter((row) => row.error !== '');
    assert.ok(withError.length > 5 && withError.length < all.length, 'the records hold good and bad ones');
    assert.deepEqual(
      onePass.map((row) => [row.kafka_topic, row.kafka_offset, row.error]),
      withError.map((row) => [topic, row.kafka_offset, row.error]),
    );
    assert.deepEqual(onePass, perField);
    assert.equal(onePass.at(-1)!.payload, null, 'a tombstone has no payload');
  });

  it("refuses a third argument other than 'errors' when the statement is planned, saying what it takes", async () => {
    const plan = planFor(topic);
    const jar = (await parserJarOf(config).parserJar?.())!;
    const setup = materializationSetupStatements(plan, {
      kafka: config.flink.kafka,
      icebergCatalogUri: config.flink.icebergCatalogUri,
      bounded: true,
      parserJar: jar,
    });
    const deadLetters = setup.find((statement) => statement.includes('meshloop_dead_letters')) ?? '';
    assert.ok(deadLetters.includes("'errors')"), "the dead letters call the parser with 'errors'");
    const gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, headers: config.flink.headers });
    const session = await gateway.openSession({ name: 'parser-test' });
    try {
      for (const statement of setup.slice(1)) {
        if (statement !== deadLetters) await session.configure(statement);
      }
      // Refused when the view is made, or at the latest when a query plans it.
      await assert.rejects(async () => {
        await session.configure(deadLetters.replace("'errors')", "'all')"));
        await session.execute('SELECT kafka_offset FROM meshloop_dead_letters', {
          executionConfig: { 'execution.runtime-mode': 'batch' },
          timeoutMs: 60_000,
        });
      }, /takes 'errors' as its third argument .*not 'all'/);
    } finally {
      await session.close().catch(() => undefined);
    }
  });
});

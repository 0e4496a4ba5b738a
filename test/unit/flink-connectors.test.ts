import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { describeSettings, mask } from '../../src/config/describe';
import { avroReaderOf, resolveAvroReaders } from '../../src/creation/avro-sql';
import { inputStatements, jobStatementSet, rejectedInsert, sinkStatements } from '../../src/creation/job-sql';
import type { InputBinding } from '../../src/domain/creation';
import { scrubSecrets, secretValuesOf } from '../../src/domain/flink-types';
import { materializationSetupStatements } from '../../src/materialize/flink-sql';
import { loyaltyPointsSchema } from '../../src/seed/registry-generator';
import { validSpec } from '../helpers/specs';

const PASSWORD = 'pa"ss\\word-7f3c';
const REGISTRY_PASSWORD = 'registry-secret-91ab';

/** A Kafka table's options, from its WITH clause. */
function tableOptions(statement: string): Record<string, string> {
  const body = statement.slice(statement.lastIndexOf(') WITH (') + 8);
  const options: Record<string, string> = {};
  for (const match of body.matchAll(/'((?:[^']|'')*)' = '((?:[^']|'')*)'/g)) {
    options[match[1]!.replace(/''/g, "'")] = match[2]!.replace(/''/g, "'");
  }
  return options;
}

describe('Flink and a secured Kafka: client properties from the Kafka settings, session-only', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let pkcs1Key: string;
  const caPem = '-----BEGIN CERTIFICATE-----\nTHE CA\n-----END CERTIFICATE-----';
  const certPem = '-----BEGIN CERTIFICATE-----\nTHE CLIENT\n-----END CERTIFICATE-----';

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-flink-kafka-'));
    pkcs1Key = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
    fs.writeFileSync(path.join(dir, 'client.pem'), certPem);
    fs.writeFileSync(path.join(dir, 'client.key'), pkcs1Key);
    env = {
      MESHLOOP_KAFKA_BROKERS: 'kafka.example:9094',
      MESHLOOP_KAFKA_TLS_CA_FILE: path.join(dir, 'ca.pem'),
      MESHLOOP_KAFKA_TLS_CERT_FILE: path.join(dir, 'client.pem'),
      MESHLOOP_KAFKA_TLS_KEY_FILE: path.join(dir, 'client.key'),
      MESHLOOP_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      MESHLOOP_KAFKA_SASL_USERNAME: 'meshloop',
      MESHLOOP_KAFKA_SASL_PASSWORD: PASSWORD,
      MESHLOOP_SCHEMA_REGISTRY_URL: 'https://registry.example/apis/ccompat/v7',
      MESHLOOP_SCHEMA_REGISTRY_USER: 'meshloop',
      MESHLOOP_SCHEMA_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
    };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the local platform (plaintext, no SASL) gives no properties: only the bootstrap list', () => {
    const config = loadConfig({});
    assert.deepEqual(config.flink.kafka, { bootstrapServers: '127.0.0.1:9092', properties: {} });
    assert.deepEqual(config.flink.schemaRegistry, {
      url: 'http://127.0.0.1:8085/apis/ccompat/v7',
      options: {},
    });
    const [source] = inputStatements(binding(), { connectors: config.flink, groupId: 'g' });
    const kafkaOptions = Object.keys(tableOptions(source!)).filter((k) => k.startsWith('properties.'));
    assert.deepEqual(kafkaOptions.sort(), [
      'properties.bootstrap.servers',
      'properties.group.id',
      'properties.isolation.level',
    ]);
  });

  it('SASL_SSL with SCRAM: JAAS with the unshaded login module, the CA and client certificate as inline PEM, the key as PKCS#8', () => {
    const { properties } = loadConfig(env).flink.kafka;
    assert.equal(properties['security.protocol'], 'SASL_SSL');
    assert.equal(properties['sasl.mechanism'], 'SCRAM-SHA-512');
    assert.equal(
      properties['sasl.jaas.config'],
      'org.apache.kafka.common.security.scram.ScramLoginModule required username="meshloop" password="pa\\"ss\\\\word-7f3c";',
    );
    assert.equal(properties['ssl.truststore.type'], 'PEM');
    assert.equal(properties['ssl.truststore.certificates'], caPem);
    assert.equal(properties['ssl.keystore.type'], 'PEM');
    assert.equal(properties['ssl.keystore.certificate.chain'], certPem);
    const key = properties['ssl.keystore.key']!;
    assert.match(key, /^-----BEGIN PRIVATE KEY-----/, 'PKCS#8, the form Kafka reads');
    assert.equal(
      createPrivateKey(key).export({ type: 'pkcs1', format: 'pem' }).toString().trim(),
      pkcs1Key.trim(),
      'the same key',
    );
  });

  it("the registry's private CA reaches avro-confluent's registry client as an inline PEM truststore; an unreadable one names the setting", () => {
    const caFile = path.join(dir, 'ca.pem');
    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'not a certificate');
    const { options } = loadConfig({ ...env, MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: caFile }).flink
      .schemaRegistry;
    assert.equal(options['properties.schema.registry.ssl.truststore.type'], 'PEM');
    assert.equal(options['properties.schema.registry.ssl.truststore.certificates'], caPem);
    assert.ok(
      !secretValuesOf(loadConfig({ ...env, MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: caFile }).flink).includes(
        caPem,
      ),
    );
    assert.equal(
      loadConfig(env).flink.schemaRegistry.options['properties.schema.registry.ssl.truststore.type'],
      undefined,
    );
    assert.throws(
      () => loadConfig({ ...env, MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: notPem }),
      (error: ConfigError) => {
        assert.match(error.message, /MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: .*not\.pem holds no PEM block/);
        return true;
      },
    );
  });

  it('PLAIN without TLS is SASL_PLAINTEXT; TLS alone is SSL (system roots: no truststore)', () => {
    const plain = loadConfig({
      MESHLOOP_KAFKA_SASL_MECHANISM: 'plain',
      MESHLOOP_KAFKA_SASL_USERNAME: 'u',
      MESHLOOP_KAFKA_SASL_PASSWORD: 'p',
    }).flink.kafka.properties;
    assert.deepEqual(plain, {
      'security.protocol': 'SASL_PLAINTEXT',
      'sasl.mechanism': 'PLAIN',
      'sasl.jaas.config':
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";',
    });
    assert.deepEqual(loadConfig({ MESHLOOP_KAFKA_TLS: 'true' }).flink.kafka.properties, {
      'security.protocol': 'SSL',
    });
  });

  it('MESHLOOP_FLINK_KAFKA_PROPERTIES adds and overrides; OAUTHBEARER needs it, and a wrong value names the setting', () => {
    const oauth = {
      MESHLOOP_KAFKA_TLS: 'true',
      MESHLOOP_KAFKA_SASL_MECHANISM: 'oauthbearer',
      MESHLOOP_KAFKA_SASL_OAUTH_TOKEN: 'static-token',
    };
    assert.throws(
      () => loadConfig(oauth),
      (error: ConfigError) =>
        error instanceof ConfigError &&
        error.problems.some((p) => /^MESHLOOP_FLINK_KAFKA_PROPERTIES: required with .*oauthbearer/.test(p)),
    );
    const jaas =
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="c" clientSecret="oauth-secret-1";';
    const config = loadConfig({
      ...oauth,
      MESHLOOP_FLINK_KAFKA_PROPERTIES: JSON.stringify({
        'sasl.jaas.config': jaas,
        'sasl.login.callback.handler.class':
          'org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler',
        'sasl.oauthbearer.token.endpoint.url': 'https://idp.example/token',
        'security.protocol': 'SASL_SSL',
      }),
    });
    assert.equal(config.flink.kafka.properties['sasl.mechanism'], 'OAUTHBEARER');
    assert.equal(config.flink.kafka.properties['sasl.jaas.config'], jaas);
    assert.equal(
      config.flink.kafka.properties['sasl.oauthbearer.token.endpoint.url'],
      'https://idp.example/token',
    );
    assert.ok(secretValuesOf(config.flink).includes('oauth-secret-1'), 'the client secret is a secret');
    assert.throws(
      () => loadConfig({ MESHLOOP_FLINK_KAFKA_PROPERTIES: '["not", "an object"]' }),
      /MESHLOOP_FLINK_KAFKA_PROPERTIES: must be a JSON object of Kafka client properties/,
    );
    fs.writeFileSync(path.join(dir, 'not-pem.txt'), 'hello');
    assert.throws(
      () => loadConfig({ MESHLOOP_KAFKA_TLS_CA_FILE: path.join(dir, 'not-pem.txt') }),
      /MESHLOOP_KAFKA_TLS_CA_FILE: .*not-pem\.txt holds no PEM block/,
    );
  });

  it('every Kafka table Meshloop renders carries the properties: inputs (JSON and Avro), the sink, the rejected topic, the materialization source', () => {
    const config = loadConfig(env);
    const { properties } = config.flink.kafka;
    const json = inputStatements(binding(), { connectors: config.flink, groupId: 'g' })[0]!;
    const avro = inputStatements(binding({ format: 'avro' }), {
      connectors: config.flink,
      groupId: 'g',
      avroReaders: new Map([[TOPIC, reader()]]),
    })[0]!;
    const [sink, rejected] = sinkStatements(validSpec(), {
      connectors: config.flink,
      rejectedTopic: 'r',
      transactionalIdPrefix: 't',
    });
    const materialize = materializationSetupStatements(
      {
        productId: 'orders.daily_revenue',
        topic: 'orders.daily_revenue',
        fields: [{ name: 'id', type: 'string', nullable: false }],
        table: { catalog: 'lake', namespace: 'orders', name: 'daily_revenue' },
      } as never,
      { kafka: config.flink.kafka, icebergCatalogUri: 'http://c' },
    )[1]!;
    for (const [name, statement] of Object.entries({ json, avro, sink, rejected, materialize })) {
      const options = tableOptions(statement!);
      assert.equal(options['properties.bootstrap.servers'], 'kafka.example:9094', name);
      for (const [key, value] of Object.entries(properties)) {
        assert.equal(options[`properties.${key}`], value, `${name}: properties.${key}`);
      }
    }
    // The table's own settings win over the JSON setting's.
    const overridden = loadConfig({
      MESHLOOP_FLINK_KAFKA_PROPERTIES: '{"group.id":"theirs","client.dns.lookup":"use_all_dns_ips"}',
    });
    const options = tableOptions(
      inputStatements(binding(), { connectors: overridden.flink, groupId: 'ours' })[0]!,
    );
    assert.equal(options['properties.group.id'], 'ours');
    assert.equal(options['properties.client.dns.lookup'], 'use_all_dns_ips');
  });

  it('an Avro input: typed columns from the registered schema, the avro-confluent format with the registry and its basic auth', () => {
    const config = loadConfig(env);
    const [source, view] = inputStatements(binding({ format: 'avro' }), {
      connectors: config.flink,
      groupId: 'g',
      avroReaders: new Map([[TOPIC, reader()]]),
    });
    const options = tableOptions(source!);
    assert.equal(options['value.format'], 'avro-confluent');
    assert.equal(options['value.avro-confluent.url'], 'https://registry.example/apis/ccompat/v7');
    assert.equal(options['value.avro-confluent.basic-auth.credentials-source'], 'USER_INFO');
    assert.equal(options['value.avro-confluent.basic-auth.user-info'], `meshloop:${REGISTRY_PASSWORD}`);
    // The reader schema: the registered record (same name and namespace), only the fields read.
    const readerSchema = JSON.parse(options['value.avro-confluent.schema']!) as typeof loyaltyPointsSchema;
    assert.equal(readerSchema.name, 'PointsEvent');
    assert.equal(readerSchema.namespace, 'dev.meshloop.loyalty');
    assert.deepEqual(
      readerSchema.fields.map((f) => f.name),
      ['event_id', 'points', 'reason', 'channel', 'earned_at'],
    );
    // The physical columns exactly as Flink derives them from that schema (NOT NULL unless a union with null).
    assert.match(source!, /`event_id` STRING NOT NULL,/);
    assert.match(source!, /`points` INT NOT NULL,/);
    assert.match(source!, /`reason` STRING NOT NULL,/);
    assert.match(source!, /`channel` STRING,/);
    assert.match(source!, /`earned_at` TIMESTAMP\(3\) NOT NULL,/);
    assert.doesNotMatch(source!, /payload STRING/);
    // The spec's types are computed; the event time carries the watermark.
    assert.match(source!, /`meshloop_value_1` AS TRY_CAST\(`points` AS BIGINT\)/);
    assert.match(source!, /`meshloop_value_4` AS CAST\(`earned_at` AS TIMESTAMP_LTZ\(3\)\)/);
    assert.match(source!, /WATERMARK FOR `meshloop_value_4` AS `meshloop_value_4` - INTERVAL '5' SECOND/);
    assert.match(view!, /`meshloop_value_4` AS `earned_at`/);
    assert.match(view!, /WHERE .*`meshloop_value_4` IS NOT NULL/);
    // Records that decode but miss what the spec needs go to the rejected topic, without bytes.
    const rejected = rejectedInsert(binding({ format: 'avro' }), {
      keepPayload: true,
      avroReaders: new Map([[TOPIC, reader()]]),
    });
    assert.match(rejected, /earned_at: missing or not a timestamp \(the event time\)/);
    assert.match(rejected, /CAST\(NULL AS STRING\)\nFROM/);
    assert.doesNotMatch(rejected, /payload/);
    const job = jobStatementSet(
      validSpec({ inputs: [{ topic: TOPIC, as: 'points', format: 'avro' }] }),
      [binding({ format: 'avro' })],
      'SELECT 1',
      new Map([[TOPIC, reader()]]),
    );
    assert.match(job, /INSERT INTO `meshloop_rejected`/);
    assert.throws(
      () => inputStatements(binding({ format: 'avro' }), { connectors: config.flink, groupId: 'g' }),
      /no Avro reader resolved for topic/,
    );
  });

  it('an Avro reader refuses, naming the field, what Flink cannot read; a missing subject or another format is a problem', async () => {
    const registered = {
      schemaType: 'AVRO',
      schema: JSON.stringify({
        type: 'record',
        name: 'R',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'either', type: ['null', 'string', 'long'] },
          {
            name: 'address',
            type: { type: 'record', name: 'A', fields: [{ name: 'city', type: 'string' }] },
          },
          { name: 'again', type: ['null', 'A'] },
        ],
      }),
    };
    const result = avroReaderOf(
      {
        topic: 't',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'either', type: 'string' },
          { name: 'missing', type: 'long' },
          { name: 'address', type: 'json' },
        ],
      },
      registered,
    );
    assert.ok('problems' in result);
    assert.deepEqual(result.problems, [
      "topic t: the field 'either' is a union of several types, which Flink cannot read",
      "topic t: the field 'missing' is not in its registered Avro schema (fields: id, either, address, again)",
      "topic t: the field 'address' is ROW<`city` STRING NOT NULL> (a nested value): read its fields, e.g. as <field>.<inner>",
    ]);
    // A nested field by its dotted name; a named type defined by a field left out is inlined where used.
    const nested = avroReaderOf(
      {
        topic: 't',
        fields: [
          { name: 'address.city', type: 'string' },
          { name: 'again.city', type: 'string' },
        ],
      },
      { ...registered, schema: registered.schema },
    );
    assert.ok('reader' in nested);
    assert.deepEqual(nested.reader.fields, [
      { name: 'address.city', raw: '`address`.`city`', typed: '`address`.`city`' },
      { name: 'again.city', raw: '`again`.`city`', typed: '`again`.`city`' },
    ]);
    const onlyAgain = avroReaderOf(
      { topic: 't', fields: [{ name: 'again.city', type: 'string' }] },
      registered,
    );
    assert.ok('reader' in onlyAgain);
    const again = (JSON.parse(onlyAgain.reader.readerSchema) as { fields: Array<{ type: unknown }> })
      .fields[0]!.type as unknown[];
    assert.deepEqual(again[1], { type: 'record', name: 'A', fields: [{ name: 'city', type: 'string' }] });
    assert.deepEqual(onlyAgain.reader.columns, ['`again` ROW<`city` STRING NOT NULL>']);

    const inputs = [binding({ format: 'avro' }), { ...binding({ format: 'avro' }), topic: 'proto' }];
    const lookups: string[] = [];
    const { readers, problems } = await resolveAvroReaders(
      [...inputs, { ...binding(), topic: 'json-topic' }, { ...binding({ format: 'avro' }), topic: 'none' }],
      (topic) => {
        lookups.push(topic);
        if (topic === 'proto')
          return Promise.resolve({ schemaType: 'PROTOBUF', schema: 'syntax = "proto3";' });
        if (topic === 'none') return Promise.resolve(undefined);
        return Promise.resolve({ schemaType: 'AVRO', schema: JSON.stringify(loyaltyPointsSchema) });
      },
    );
    assert.deepEqual(lookups, [TOPIC, 'proto', 'none'], 'JSON inputs are not looked up');
    assert.deepEqual([...readers.keys()], [TOPIC]);
    assert.deepEqual(problems, [
      'inputs: topic proto: its registered value schema is PROTOBUF, not Avro: product jobs read Avro and JSON only',
      'inputs: topic none: format avro, but the Schema Registry has no schema under none-value (register it, or read the topic as JSON)',
    ]);
  });

  it('`meshloop config` masks the setting and shows only the names of the derived properties', () => {
    const settings = describeSettings({
      ...env,
      MESHLOOP_FLINK_KAFKA_PROPERTIES: '{"sasl.oauthbearer.token.endpoint.url":"https://idp.example/t"}',
    });
    const byKey = new Map(settings.map((s) => [s.key, s]));
    assert.equal(byKey.get('MESHLOOP_FLINK_KAFKA_PROPERTIES')?.value, mask);
    assert.equal(byKey.get('MESHLOOP_FLINK_KAFKA_PROPERTIES')?.secret, true);
    assert.match(
      byKey.get('flink.kafka.properties')?.value ?? '',
      /^security\.protocol, .*sasl\.jaas\.config/,
    );
    assert.equal(byKey.get('flink.kafka.bootstrapServers')?.value, 'kafka.example:9094');
    assert.equal(
      byKey.get('flink.schemaRegistry.options')?.value,
      'basic-auth.credentials-source, basic-auth.user-info',
    );
    const shown = JSON.stringify(settings);
    for (const secret of [PASSWORD, JSON.stringify(PASSWORD).slice(1, -1), REGISTRY_PASSWORD, 'THE CLIENT']) {
      assert.ok(!shown.includes(secret), `meshloop config shows ${secret}`);
    }
    assert.ok(!shown.includes('PRIVATE KEY'), 'meshloop config shows the key');
  });

  it('the secrets are known by value, and scrubbed from any text (as written, as a SQL literal, as JSON)', () => {
    const config = loadConfig(env);
    const secrets = secretValuesOf(config.flink);
    assert.ok(secrets.includes(PASSWORD), 'the SASL password');
    assert.ok(secrets.includes(REGISTRY_PASSWORD), 'the registry password');
    assert.ok(secrets.includes(config.flink.kafka.properties['ssl.keystore.key']!), 'the client key');
    assert.ok(!secrets.includes('SASL_SSL') && !secrets.includes(caPem), 'public values stay readable');
    const [source] = inputStatements(binding({ format: 'avro' }), {
      connectors: config.flink,
      groupId: 'g',
      avroReaders: new Map([[TOPIC, reader()]]),
    });
    const texts = [source!, JSON.stringify({ statement: source }), `password=${PASSWORD}`];
    for (const text of texts) {
      const scrubbed = scrubSecrets(text, secrets);
      for (const secret of [PASSWORD, REGISTRY_PASSWORD, 'ss\\\\word', 'BEGIN PRIVATE KEY']) {
        assert.ok(!scrubbed.includes(secret), `${secret} left in ${scrubbed.slice(0, 200)}`);
      }
    }
    assert.match(scrubSecrets(source!, secrets), /'properties\.sasl\.jaas\.config' = '\*\*\*\*'/);
  });
});

const TOPIC = 'loyalty.points';

function binding(overrides: Partial<InputBinding> = {}): InputBinding {
  return {
    alias: 'points',
    topic: TOPIC,
    fields: [
      { name: 'event_id', type: 'string' },
      { name: 'points', type: 'long' },
      { name: 'reason', type: 'string' },
      { name: 'channel', type: 'string' },
      { name: 'earned_at', type: 'timestamp' },
    ],
    eventTimeField: 'earned_at',
    ...overrides,
  };
}

function reader() {
  const result = avroReaderOf(binding({ format: 'avro' }), {
    schemaType: 'AVRO',
    schema: JSON.stringify(loyaltyPointsSchema),
  });
  if (!('reader' in result)) throw new Error(result.problems.join('; '));
  return result.reader;
}

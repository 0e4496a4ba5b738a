import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { create, createFileRegistry, createMutableRegistry } from '@bufbuild/protobuf';
import {
  AvroSerializer,
  JsonSerializer,
  MockClient,
  ProtobufSerializer,
  SerdeType,
} from '@confluentinc/schemaregistry';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_timestamp,
  timestampFromMs,
} from '@bufbuild/protobuf/wkt';
import { registryAddress, schemaRegistryClientConfig } from '../../src/adapters/schema-registry/client';
import { protobufFields, protobufToPlain, RegistryDecoder } from '../../src/profile/registry-decoder';
import { protobufIndexesSound, wireSchemaId } from '../../src/adapters/schema-registry/wire';
import { loadConfig } from '../../src/config';
import type { ProfiledMessage } from '../../src/profile';
import { applyRegisteredSchema, avroFields, jsonSchemaFields, profileMessages } from '../../src/profile';
import { ThreadedProfiler } from '../../src/profile/threaded';
import { loyaltyPointsSchema } from '../../src/seed/registry-generator';
import { supportTicketFile } from '../../src/seed/registry-seed';

let offset = 0;
const message = (value: Buffer | string | null): ProfiledMessage => ({
  partition: 0,
  offset: String(offset++),
  key: null,
  value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(value),
  timestamp: Date.UTC(2026, 0, 1) + offset,
});
const header = (id: number) =>
  Buffer.from([0, (id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]);
const decodedJson = (m: ProfiledMessage) => JSON.parse(m.value!.toString('utf8')) as Record<string, unknown>;

describe('Schema Registry records (Confluent wire format)', () => {
  describe('wire format detection', () => {
    it('reads the schema id after the magic byte, and nothing from JSON, short or empty records', () => {
      assert.equal(wireSchemaId(Buffer.concat([header(7), Buffer.from([2, 4])])), 7);
      assert.equal(wireSchemaId(Buffer.concat([header(0xfffffffe), Buffer.from([1])])), 0xfffffffe);
      assert.equal(wireSchemaId(Buffer.from('{"a":1}')), undefined);
      assert.equal(wireSchemaId(header(7)), undefined, 'a header without a payload');
      assert.equal(wireSchemaId(Buffer.alloc(0)), undefined);
      assert.equal(wireSchemaId(null), undefined);
      assert.equal(
        wireSchemaId(Buffer.from([1, 0, 0, 0, 7, 9])),
        undefined,
        'magic byte 1 is not the format',
      );
    });

    it('checks Protobuf message indexes before the client reads them', () => {
      assert.ok(
        protobufIndexesSound(Buffer.concat([header(1), Buffer.from([0, 8, 1])])),
        'count 0: the first',
      );
      assert.ok(protobufIndexesSound(Buffer.concat([header(1), Buffer.from([4, 2, 4, 8])])), 'two indexes');
      // A count of 2^31 (zig-zag varint) would make the client loop for minutes.
      const huge = Buffer.concat([header(1), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f])]);
      assert.equal(protobufIndexesSound(huge), false);
      assert.equal(protobufIndexesSound(Buffer.concat([header(1), Buffer.from([6, 2])])), false, 'truncated');
      assert.equal(
        protobufIndexesSound(Buffer.concat([header(1), Buffer.from([0x80])])),
        false,
        'cut varint',
      );
    });
  });

  describe('registered fields', () => {
    it('maps Avro types, logical types, unions and nested records', () => {
      const fields = avroFields(
        JSON.stringify({
          ...loyaltyPointsSchema,
          fields: [
            ...loyaltyPointsSchema.fields,
            {
              name: 'address',
              type: ['null', { type: 'record', name: 'A', fields: [{ name: 'city', type: 'string' }] }],
            },
            { name: 'tags', type: { type: 'array', items: 'string' } },
          ],
        }),
      );
      assert.deepEqual(
        fields.map((f) => `${f.name}:${f.type}/${f.registeredType}`),
        [
          'event_id:string/string',
          'customer_id:string/string',
          'points:long/int',
          'reason:string/enum',
          'balance:long/long',
          'channel:string/string',
          'earned_at:timestamp/timestamp-millis',
          'address.city:string/string',
          'tags:array/array',
        ],
      );
      assert.deepEqual(avroFields('not json'), []);
      assert.deepEqual(avroFields('"string"'), [], 'a bare primitive has no fields');
    });

    it('maps JSON Schema properties, formats and nested objects', () => {
      const fields = jsonSchemaFields(
        JSON.stringify({
          type: 'object',
          properties: {
            id: { type: 'integer' },
            amount: { type: ['number', 'null'] },
            at: { type: 'string', format: 'date-time' },
            shop: { type: 'object', properties: { name: { type: 'string' } } },
          },
        }),
      );
      assert.deepEqual(
        fields.map((f) => `${f.name}:${f.type}/${f.registeredType}`),
        [
          'id:long/integer',
          'amount:double/number',
          'at:timestamp/string (date-time)',
          'shop.name:string/string',
        ],
      );
    });

    it('a profile takes its types from the registered schema', () => {
      // Epoch-ms values would be inferred as a timestamp: the schema says long.
      const profile = profileMessages('t', [
        message(JSON.stringify({ n: Date.UTC(2026, 0, 1), s: 'a' })),
        message(JSON.stringify({ n: Date.UTC(2026, 0, 2), s: 'b' })),
      ]);
      assert.equal(profile.fields.find((f) => f.name === 'n')?.type, 'timestamp');
      const applied = applyRegisteredSchema(profile, {
        format: 'avro',
        schemaIds: [3, 1],
        subjects: ['t-value'],
        fields: [{ name: 'n', type: 'long', registeredType: 'long' }],
      });
      const n = applied.fields.find((f) => f.name === 'n')!;
      assert.equal(n.type, 'long');
      assert.equal(n.registeredType, 'long');
      assert.equal(n.timeUnit, undefined);
      assert.deepEqual(applied.format, { kind: 'avro', schemaIds: [1, 3], subjects: ['t-value'] });
      assert.equal(applied.fields.find((f) => f.name === 's')?.registeredType, undefined);
    });
  });

  describe('decoding through the registry (the official client over its in-memory MockClient)', () => {
    const topic = 'loyalty.points';

    async function fixtures() {
      const client = new MockClient();
      const config = { useLatestVersion: true };
      await client.register(`${topic}-value`, {
        schemaType: 'AVRO',
        schema: JSON.stringify(loyaltyPointsSchema),
      });
      const avro = await new AvroSerializer(client, SerdeType.VALUE, config).serialize(topic, {
        event_id: 'pts-1',
        customer_id: 'cus-1',
        points: 10,
        reason: 'REVIEW',
        balance: 2 ** 40,
        channel: null,
        earned_at: Date.UTC(2026, 0, 1),
      });
      const files = createFileRegistry(supportTicketFile(), (name) =>
        name === 'google/protobuf/timestamp.proto' ? file_google_protobuf_timestamp : undefined,
      );
      const ticket = files.getMessage('meshloop.support.Ticket')!;
      const protobuf = await new ProtobufSerializer(client, SerdeType.VALUE, {
        autoRegisterSchemas: true,
        registry: createMutableRegistry(ticket),
      }).serialize(
        'support.tickets',
        create(ticket, {
          ticketId: 'tck-1',
          customerId: 'cus-1',
          priority: 3,
          satisfaction: 4,
          openedAt: timestampFromMs(Date.UTC(2026, 0, 2)),
        }),
      );
      await client.register('orders.json-value', {
        schemaType: 'JSON',
        schema: JSON.stringify({ type: 'object', properties: { id: { type: 'integer' } } }),
      });
      const json = await new JsonSerializer(client, SerdeType.VALUE, config).serialize('orders.json', {
        id: 5,
      });
      return { client, avro, protobuf, json };
    }

    it('decodes Avro, Protobuf and JSON Schema records to JSON under the registered field names', async () => {
      const { client, avro, protobuf, json } = await fixtures();
      // Subjects come from the topic's name: the associations API (which Apicurio does not serve,
      // and where it now and then never answers) is never asked.
      let associationLookups = 0;
      const lookUpAssociations = client.getAssociationsByResourceName.bind(client);
      client.getAssociationsByResourceName = (...args) => {
        associationLookups++;
        return lookUpAssociations(...args);
      };
      const decoder = await RegistryDecoder.withClient(client);
      const [loyalty] = await decoder.decode(topic, [message(avro)]);
      assert.equal(loyalty!.decodeFailure, undefined);
      const points = decodedJson(loyalty!);
      assert.equal(points.reason, 'REVIEW');
      assert.equal(points.balance, 2 ** 40);
      assert.equal(points.customer_id, 'cus-1');

      const [ticket] = await decoder.decode('support.tickets', [message(protobuf)]);
      assert.deepEqual(decodedJson(ticket!), {
        ticket_id: 'tck-1',
        customer_id: 'cus-1',
        order_id: '',
        priority: 'HIGH',
        satisfaction: 4,
        escalated: false,
        opened_at: '2026-01-02T00:00:00.000Z',
      });
      const [order] = await decoder.decode('orders.json', [message(json)]);
      assert.deepEqual(decodedJson(order!), { id: 5 });
      assert.equal(associationLookups, 0);

      const registered = decoder.registered();
      assert.equal(registered.get(topic)?.format, 'avro');
      assert.equal(registered.get('support.tickets')?.format, 'protobuf');
      assert.deepEqual(
        registered.get('support.tickets')?.fields.map((f) => `${f.name}:${f.type}/${f.registeredType}`),
        [
          'ticket_id:string/string',
          'customer_id:string/string',
          'order_id:string/string',
          'priority:string/meshloop.support.Ticket.Priority',
          'satisfaction:long/int32',
          'escalated:boolean/bool',
          'opened_at:timestamp/google.protobuf.Timestamp',
        ],
      );
      assert.equal(registered.get('orders.json')?.format, 'json-schema');
    });

    it('counts unknown schema ids and undecodable bytes, passes JSON untouched, and never throws', async () => {
      const { client, avro, protobuf } = await fixtures();
      const decoder = await RegistryDecoder.withClient(client, { maxSchemaLookups: 3 });
      const truncated = avro.subarray(0, 7);
      const garbage = Buffer.concat([avro.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
      const badIndexes = Buffer.concat([
        protobuf.subarray(0, 5),
        Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]),
      ]);
      const unknown = Array.from({ length: 6 }, (_, i) =>
        message(Buffer.concat([header(1000 + i), Buffer.from([2])])),
      );
      const json = message('{"a":1}');
      const out = await decoder.decode(topic, [json, message(truncated), message(garbage), ...unknown]);
      assert.equal(out[0], json, 'JSON passes untouched');
      assert.deepEqual(
        out.slice(1).map((m) => m.decodeFailure),
        ['undecodable', 'undecodable', ...Array<string>(6).fill('unknownSchema')],
      );
      // Lookups are capped (3 here): a topic of garbage ids costs a bounded number of requests.
      const [capped] = await decoder.decode('support.tickets', [message(protobuf)]);
      assert.equal(capped!.decodeFailure, 'unknownSchema');
      const fresh = await RegistryDecoder.withClient(client);
      const [proto] = await fresh.decode('support.tickets', [message(badIndexes)]);
      assert.equal(proto!.decodeFailure, 'undecodable');

      // The profiler counts each by its reason; nothing is dropped.
      const profile = profileMessages(topic, out);
      assert.equal(profile.records, 9);
      assert.equal(profile.parsed, 1);
      assert.equal(profile.unparseable.byReason.undecodable, 2);
      assert.equal(profile.unparseable.byReason.unknownSchema, 6);
      // Through the profiling thread too.
      const threaded = new ThreadedProfiler({}, 2);
      await threaded.add(topic, out);
      const [fromThread] = await threaded.finish();
      assert.deepEqual(fromThread!.unparseable.byReason, profile.unparseable.byReason);
    });

    it('a registry that does not answer costs one request: its records count as unknownSchema', async () => {
      // A port that accepts nothing: connection refused at once.
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const config = loadConfig({ MESHLOOP_SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}` });
      const warnings: string[] = [];
      const log = {
        warn: (text: string) => warnings.push(text),
        info: () => undefined,
        error: () => undefined,
        debug: () => undefined,
        child: () => log,
      } as never;
      const decoder = await RegistryDecoder.create(config.schemaRegistry, { log });
      const began = Date.now();
      const records = Array.from({ length: 20 }, (_, i) =>
        message(Buffer.concat([header(i + 1), Buffer.from([2])])),
      );
      const out = await decoder.decode(topic, records);
      assert.ok(out.every((m) => m.decodeFailure === 'unknownSchema'));
      assert.equal(warnings.length, 1, 'said once');
      assert.ok(Date.now() - began < 15_000, `took ${Date.now() - began} ms`);
    });
  });

  describe('Protobuf messages as plain JSON', () => {
    it('reads oneofs, maps, repeated enums and nested messages under the .proto names', () => {
      const { OPTIONAL: one, REPEATED: many } = FieldDescriptorProto_Label;
      const { STRING, INT64, ENUM, MESSAGE } = FieldDescriptorProto_Type;
      const file = create(FileDescriptorProtoSchema, {
        name: 't.proto',
        package: 't',
        syntax: 'proto3',
        messageType: [
          {
            name: 'Event',
            field: [
              { name: 'event_id', number: 1, type: STRING, label: one, jsonName: 'eventId' },
              { name: 'big_count', number: 2, type: INT64, label: one, jsonName: 'bigCount' },
              { name: 'by_email', number: 3, type: STRING, label: one, jsonName: 'byEmail', oneofIndex: 0 },
              { name: 'by_phone', number: 4, type: STRING, label: one, jsonName: 'byPhone', oneofIndex: 0 },
              {
                name: 'labels',
                number: 5,
                type: MESSAGE,
                label: many,
                typeName: '.t.Event.LabelsEntry',
                jsonName: 'labels',
              },
              {
                name: 'colours',
                number: 6,
                type: ENUM,
                label: many,
                typeName: '.t.Colour',
                jsonName: 'colours',
              },
              {
                name: 'inner',
                number: 7,
                type: MESSAGE,
                label: one,
                typeName: '.t.Inner',
                jsonName: 'inner',
              },
            ],
            oneofDecl: [{ name: 'contact' }],
            nestedType: [
              {
                name: 'LabelsEntry',
                field: [
                  { name: 'key', number: 1, type: STRING, label: one, jsonName: 'key' },
                  { name: 'value', number: 2, type: STRING, label: one, jsonName: 'value' },
                ],
                options: { mapEntry: true },
              },
            ],
          },
          {
            name: 'Inner',
            field: [{ name: 'shop_name', number: 1, type: STRING, label: one, jsonName: 'shopName' }],
          },
        ],
        enumType: [
          {
            name: 'Colour',
            value: [
              { name: 'NONE', number: 0 },
              { name: 'RED', number: 1 },
            ],
          },
        ],
      });
      const desc = createFileRegistry(file, () => undefined).getMessage('t.Event')!;
      const event = create(desc, {
        eventId: 'e1',
        bigCount: 2n ** 62n,
        contact: { case: 'byPhone', value: '+49' },
        labels: { a: 'b' },
        colours: [1, 0],
        inner: { shopName: 'Berlin' },
      });
      assert.deepEqual(protobufToPlain(desc, event, 32), {
        event_id: 'e1',
        big_count: String(2n ** 62n),
        by_phone: '+49',
        labels: { a: 'b' },
        colours: ['RED', 'NONE'],
        inner: { shop_name: 'Berlin' },
      });
      assert.deepEqual(
        protobufFields(desc).map((f) => `${f.name}:${f.type}/${f.registeredType}`),
        [
          'event_id:string/string',
          'big_count:long/int64',
          'by_email:string/string',
          'by_phone:string/string',
          'labels:json/map',
          'colours:array/repeated',
          'inner.shop_name:string/string',
        ],
      );
    });
  });

  describe('configuration', () => {
    it('defaults to the local stack registry; basic auth needs both halves; not both auth modes', () => {
      const local = loadConfig({ MESHLOOP_SCHEMA_REGISTRY_PORT: '18085' }).schemaRegistry;
      assert.deepEqual(local, { url: 'http://127.0.0.1:18085/apis/ccompat/v7' });
      const remote = loadConfig({
        MESHLOOP_SCHEMA_REGISTRY_URL: 'https://psrc-x.confluent.cloud/',
        MESHLOOP_SCHEMA_REGISTRY_USER: 'key',
        MESHLOOP_SCHEMA_REGISTRY_PASSWORD: 'secret',
      }).schemaRegistry;
      assert.deepEqual(remote, {
        url: 'https://psrc-x.confluent.cloud',
        basicAuth: { user: 'key', password: 'secret' },
      });
      assert.throws(
        () => loadConfig({ MESHLOOP_SCHEMA_REGISTRY_USER: 'key' }),
        /MESHLOOP_SCHEMA_REGISTRY_PASSWORD/,
      );
      assert.throws(
        () =>
          loadConfig({
            MESHLOOP_SCHEMA_REGISTRY_USER: 'key',
            MESHLOOP_SCHEMA_REGISTRY_PASSWORD: 'secret',
            MESHLOOP_SCHEMA_REGISTRY_TOKEN: 't',
          }),
        /either a bearer token or a user and password/,
      );
      assert.throws(
        () => loadConfig({ MESHLOOP_SCHEMA_REGISTRY_URL: 'not a url' }),
        /MESHLOOP_SCHEMA_REGISTRY_URL/,
      );
      // Messages name the registry without credentials written into its URL.
      const withUserInfo = loadConfig({ MESHLOOP_SCHEMA_REGISTRY_URL: 'https://key:secret@sr.example/x' });
      assert.equal(registryAddress(withUserInfo.schemaRegistry), 'https://***@sr.example/x');
      assert.equal(registryAddress(local), 'http://127.0.0.1:18085/apis/ccompat/v7');
    });

    it('a private CA for an https registry: checked to exist, trusted by the client besides the built-in roots', () => {
      assert.throws(
        () => loadConfig({ MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: '/no/such/ca.pem' }),
        /MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: no such file/,
      );
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-registry-ca-'));
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, tls.rootCertificates[0]!);
      try {
        const config = loadConfig({
          MESHLOOP_SCHEMA_REGISTRY_URL: 'https://sr.example/apis/ccompat/v7',
          MESHLOOP_SCHEMA_REGISTRY_TLS_CA_FILE: caFile,
        });
        assert.equal(config.schemaRegistry.tlsCaFile, caFile);
        const agent = schemaRegistryClientConfig(config.schemaRegistry).createAxiosDefaults
          ?.httpsAgent as https.Agent;
        assert.ok(agent instanceof https.Agent);
        const ca = agent.options.ca as string[];
        assert.equal(ca.length, tls.rootCertificates.length + 1);
        // Without the setting, axios's default agent: Node's roots only.
        assert.equal(
          schemaRegistryClientConfig(loadConfig({}).schemaRegistry).createAxiosDefaults?.httpsAgent,
          undefined,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

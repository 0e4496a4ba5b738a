import assert from 'node:assert/strict';
import { MockClient } from '@confluentinc/schemaregistry';
import { formatOutputSchema } from '../../src/cli/product-commands';
import {
  apicurioNativeUrl,
  apicurioReasons,
  registryFailure,
} from '../../src/adapters/schema-registry/subjects';
import { outputJsonSchema, outputSchemaText, outputSubjectOf } from '../../src/creation/output-schema';
import { outputSchemaRefusal } from '../../src/domain/creation';
import { MeshloopError } from '../../src/domain/errors';
import { decide } from '../../src/domain/transitions';
import { Stage } from '../../src/domain/lifecycle';
import { proposedState } from '../../src/domain/product-state';
import { jsonSchemaFields } from '../../src/profile';
import { RegistryDecoder } from '../../src/profile/registry-decoder';
import { validSpec } from '../helpers/specs';

const registry = { url: 'http://127.0.0.1:8085/apis/ccompat/v7' };

describe('output schema: the JSON Schema of a product’s records', () => {
  it('types each field as Flink’s JSON format writes it; nullable fields allow null', () => {
    const spec = validSpec({
      schema: {
        fields: [
          { name: 'id', type: 'string', nullable: false, description: 'The order.' },
          { name: 'qty', type: 'int' },
          { name: 'total', type: 'long', nullable: false },
          { name: 'ratio', type: 'float' },
          { name: 'amount', type: 'double' },
          { name: 'price', type: 'decimal' },
          { name: 'paid', type: 'boolean' },
          { name: 'day', type: 'date' },
          { name: 'at', type: 'timestamp' },
          { name: 'blob', type: 'bytes' },
          { name: 'extra', type: 'json' },
        ],
        key: [],
      },
    });
    const schema = outputJsonSchema(spec) as { properties: Record<string, unknown> };
    assert.deepEqual(schema.properties, {
      id: { type: ['string'], description: 'The order.' },
      qty: { type: ['integer', 'null'] },
      total: { type: ['integer'] },
      ratio: { type: ['number', 'null'] },
      amount: { type: ['number', 'null'] },
      price: { type: ['number', 'null'] },
      paid: { type: ['boolean', 'null'] },
      day: { type: ['string', 'null'], format: 'date' },
      at: { type: ['string', 'null'], format: 'date-time' },
      blob: { type: ['string', 'null'], contentEncoding: 'base64' },
      extra: { type: ['string', 'null'], contentMediaType: 'application/json' },
    });
  });

  it('is a closed draft-07 object: required are the non-nullable and key fields', () => {
    const spec = validSpec({
      schema: {
        fields: [
          { name: 'day', type: 'date' },
          { name: 'channel', type: 'string', nullable: false },
          { name: 'revenue', type: 'decimal' },
        ],
        key: ['day'],
      },
    });
    const schema = outputJsonSchema(spec);
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(schema.title, 'orders.daily_revenue');
    assert.equal(schema.type, 'object');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['day', 'channel']);
    // An appended product's key may hold null (present, but null).
    assert.deepEqual((schema.properties as Record<string, unknown>).day, {
      type: ['string', 'null'],
      format: 'date',
    });
  });

  it('an upserted product’s key fields are never null (Flink’s primary key is NOT NULL)', () => {
    const spec = validSpec({ outputTopic: { cleanupPolicy: 'compact' } });
    const day = (outputJsonSchema(spec).properties as Record<string, { type: unknown }>).day;
    assert.deepEqual(day?.type, ['string']);
  });

  it('leaves out an empty description and an empty required list', () => {
    const spec = validSpec({ description: '', schema: { fields: [{ name: 'x', type: 'long' }], key: [] } });
    const schema = outputJsonSchema(spec);
    assert.equal('description' in schema, false);
    assert.equal('required' in schema, false);
  });

  it('is deterministic text under the topic’s subject, and reads back with the registered field types', () => {
    const spec = validSpec({ outputTopic: { name: 'sales.revenue_v1' } });
    assert.equal(outputSubjectOf(spec), 'sales.revenue_v1-value');
    assert.equal(
      outputSchemaText(spec),
      outputSchemaText(validSpec({ outputTopic: { name: 'sales.revenue_v1' } })),
    );
    assert.deepEqual(
      jsonSchemaFields(outputSchemaText(spec)).map((f) => [f.name, f.type, f.registeredType]),
      [
        ['day', 'timestamp', 'string (date)'],
        ['revenue', 'double', 'number'],
      ],
    );
  });
});

describe('output schema: the registry’s answers', () => {
  it('a refused revision says the subject, level, version and the registry’s reasons', () => {
    const refusal = outputSchemaRefusal({
      compatible: false,
      subject: 'orders.x-value',
      compatibility: 'BACKWARD',
      against: 3,
      reasons: ['Subschema type changed at /properties/id', 'A new required property was added at /required'],
    });
    assert.equal(refusal?.type, 'SchemaIncompatible');
    assert.match(
      refusal?.message ?? '',
      /^the Schema Registry refuses the output schema under orders\.x-value \(BACKWARD, against version 3\): Subschema type changed at \/properties\/id; A new required property was added at \/required\. /,
    );
    assert.equal(outputSchemaRefusal({ compatible: true, subject: 'orders.x-value' }), undefined);
  });

  it('a refusal sends the revision back for changes with it as the last error; a pass changes nothing', () => {
    const state = proposedState(validSpec(), '2026-01-01T00:00:00.000Z');
    const context = { governance: undefined, now: Date.UTC(2026, 0, 1), degradeCauses: true };
    const observed = { stage: Stage.proposed, revision: 1 };
    const refusal = { type: 'SchemaIncompatible', message: 'the Schema Registry refuses ...' };
    const refused = decide(state, { kind: 'schemaChecked', observed, refusal }, context);
    assert.equal(refused.next, Stage.changesRequested);
    assert.deepEqual(refused.changes.lastError, { ...refusal, at: '2026-01-01T00:00:00.000Z' });
    assert.equal(refused.record[0]?.decision.comment, refusal.message);
    assert.equal(decide(state, { kind: 'schemaChecked', observed }, context).next, undefined);
    // Stale: the product moved while the registry was asked.
    const stale = { stage: Stage.proposed, revision: 2 };
    assert.equal(decide(state, { kind: 'schemaChecked', observed: stale, refusal }, context).next, undefined);
  });

  it('Apicurio’s rule violation causes become the reasons', () => {
    assert.deepEqual(
      apicurioReasons({
        causes: [
          { description: 'Subschema type changed', context: '/properties/id' },
          { description: 'Object type property schemas narrowed' },
          { nothing: true },
        ],
      }),
      ['Subschema type changed at /properties/id', 'Object type property schemas narrowed'],
    );
    assert.deepEqual(apicurioReasons('not json'), []);
    assert.equal(apicurioNativeUrl('http://r:8085/apis/ccompat/v7'), 'http://r:8085/apis/registry/v3');
    assert.equal(apicurioNativeUrl('https://psrc-1.confluent.cloud'), undefined);
  });

  it('errors name the setting to fix and say whether trying again helps', () => {
    const down = registryFailure(new Error('connect ECONNREFUSED'), registry, 'registering x-value');
    assert.ok(down instanceof MeshloopError);
    assert.equal(down.type, 'UpstreamUnavailable');
    assert.equal(down.retryable, true);
    assert.match(
      down.message,
      /no answer from http:\/\/127\.0\.0\.1:8085\/apis\/ccompat\/v7 while registering x-value/,
    );
    assert.match(down.message, /MESHLOOP_SCHEMA_REGISTRY_URL/);

    const rest = (status: number, errorCode: number, message: string) =>
      Object.assign(new Error(`${message}; Error code: ${errorCode}`), { status, errorCode });
    const denied = registryFailure(rest(401, 401, 'Unauthorized'), registry, 'x') as MeshloopError;
    assert.equal(denied.retryable, false);
    assert.match(denied.message, /MESHLOOP_SCHEMA_REGISTRY_USER and MESHLOOP_SCHEMA_REGISTRY_PASSWORD/);
    const wrongPath = registryFailure(rest(404, -1, 'Unknown error'), registry, 'x') as MeshloopError;
    assert.equal(wrongPath.type, 'SchemaRegistryNotFound');
    assert.match(wrongPath.message, /MESHLOOP_SCHEMA_REGISTRY_URL is the API base/);
    const busy = registryFailure(rest(503, 50301, 'busy'), registry, 'x') as MeshloopError;
    assert.equal(busy.retryable, true);
    const invalid = registryFailure(rest(422, 42201, 'Invalid schema'), registry, 'x') as MeshloopError;
    assert.equal(invalid.retryable, false);
    assert.match(invalid.message, /\(HTTP 422\) while x: Invalid schema$/);
  });

  it('discovery does not take a product’s plain JSON topic for wire format because its subject exists', async () => {
    const client = new MockClient({ baseURLs: ['mock://'] });
    const spec = validSpec({ outputTopic: { name: 'orders.daily_revenue' } });
    await client.register(outputSubjectOf(spec), { schemaType: 'JSON', schema: outputSchemaText(spec) });
    const decoder = await RegistryDecoder.withClient(client);
    const json = Buffer.from(JSON.stringify({ day: '2026-01-01', revenue: 12.5 }));
    const messages = [{ partition: 0, offset: '0', key: null, value: json, timestamp: 0 }];
    const decoded = await decoder.decode('orders.daily_revenue', messages);
    assert.deepEqual(decoded, messages, 'plain JSON passes untouched');
    assert.equal(decoder.registered().size, 0, 'no registry format is claimed for the topic');
  });

  it('`meshloop show` prints the registered subject and version', () => {
    assert.deepEqual(
      formatOutputSchema({
        subject: 'orders.daily_revenue-value',
        id: 7,
        version: 2,
        compatibility: 'BACKWARD',
        revision: 3,
        registered: false,
      }),
      ['schema      orders.daily_revenue-value version 2 (schema id 7, JSON Schema, BACKWARD; revision 3)'],
    );
    assert.deepEqual(formatOutputSchema(undefined), []);
  });
});

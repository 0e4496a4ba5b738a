/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- the contract is read as any reader of its YAML gets it: untyped */
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import type { ContractSource, OdcsContract } from '../../src/contracts/odcs';
import { contractOf, contractYaml, ODCS_API_VERSION, slaDurationOf } from '../../src/contracts/odcs';
import { contractTooLarge, customConditionOf, specOfContract } from '../../src/contracts/odcs-import';
import { InvalidSpecError } from '../../src/domain/errors';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec } from '../../src/domain/spec';
import { contractSpecs } from '../helpers/contract-specs';

const servers = {
  kafkaBootstrap: 'broker-1:9092,broker-2:9092',
  icebergCatalogUrl: 'https://user:s3cret@catalog.example.com/api/catalog?token=abc',
  icebergCatalog: 'lake',
  icebergWarehouse: 's3://warehouse/meshloop',
};

function sourceOf(spec: ProductSpec): ContractSource {
  return {
    spec,
    productId: `${spec.domain}.${spec.name}`,
    stage: 'active',
    revision: 2,
    proposedAt: '2026-12-01T09:00:00.000Z',
    decisions: [
      { by: 'alice', action: 'propose', at: '2026-12-01T09:00:00.000Z', revision: 1, stage: 'proposed' },
      { by: 'bob', action: 'approve', at: '2026-12-01T09:30:00.000Z', revision: 1, stage: 'provisioning' },
      {
        by: 'bob',
        action: 'approve',
        at: '2026-12-02T10:00:00.000Z',
        revision: 2,
        stage: 'provisioning',
        via: 'cli',
      },
    ],
  };
}

/** The contract as a reader of its YAML gets it. */
const throughYaml = (contract: OdcsContract): unknown => parse(contractYaml(contract));

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof InvalidSpecError, String(error));
    return [...error.problems];
  }
  assert.fail('expected the contract to be refused');
}

describe('ODCS contracts (src/contracts)', () => {
  for (const [name, raw] of Object.entries(contractSpecs)) {
    it(`export then import gives the same spec back: ${name}`, () => {
      const spec = parseSpec(raw);
      const contract = contractOf(sourceOf(spec), servers);
      assert.deepEqual(specOfContract(throughYaml(contract)), spec);
    });
  }

  it("writes ODCS's own fields: types, keys, PII classification, quality, SLA, servers, team, approval", () => {
    const spec = parseSpec(contractSpecs.pii!);
    const contract = throughYaml(contractOf(sourceOf(spec), servers)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(contract.apiVersion, ODCS_API_VERSION);
    assert.equal(contract.kind, 'DataContract');
    assert.equal(contract.id, 'customers.customer_contacts');
    assert.equal(contract.status, 'active');
    assert.equal(contract.version, '2.0.0');
    assert.equal(contract.domain, 'customers');
    const [object] = contract.schema;
    assert.equal(object.physicalName, 'customers.customer_contacts');
    const email = object.properties.find((p: { name: string }) => p.name === 'email');
    assert.deepEqual(
      {
        logicalType: email.logicalType,
        physicalType: email.physicalType,
        classification: email.classification,
        tags: email.tags,
      },
      {
        logicalType: 'string',
        physicalType: 'string',
        classification: 'restricted',
        tags: ['pii', 'pii:email'],
      },
    );
    assert.deepEqual(email.customProperties[0], {
      property: 'meshloopMasking',
      value: 'hash',
      vendor: 'meshloop',
      description: 'how readers outside the domain see it',
    });
    const id = object.properties.find((p: { name: string }) => p.name === 'customer_id');
    assert.deepEqual([id.primaryKey, id.primaryKeyPosition, id.required], [true, 1, true]);
    assert.deepEqual(id.quality[0], {
      id: 'rule_1',
      name: 'notNull_customer_id',
      type: 'library',
      metric: 'nullValues',
      mustBe: 0,
      dimension: 'completeness',
    });
    // Servers: the real coordinates, no credentials (userinfo and query stripped).
    assert.deepEqual(contract.servers, [
      {
        server: 'kafka',
        type: 'kafka',
        description: 'The output topic customers.customer_contacts: plain JSON records, keyed by customer_id',
        host: 'broker-1:9092,broker-2:9092',
        format: 'json',
      },
      {
        server: 'iceberg',
        type: 'iceberg',
        description: 'The Iceberg table lake.customers.customer_contacts, kept current from the topic',
        catalog: 'lake',
        catalogUrl: 'https://catalog.example.com/api/catalog',
        namespace: 'customers',
        warehouse: 's3://warehouse/meshloop',
        customProperties: [
          { property: 'meshloopTable', value: 'lake.customers.customer_contacts', vendor: 'meshloop' },
        ],
      },
    ]);
    assert.doesNotMatch(contractYaml(contractOf(sourceOf(spec), servers)), /s3cret|token=abc/);
    // Team and approval: only the current revision's approvals.
    assert.equal(contract.team.name, 'crm-team');
    assert.deepEqual(
      contract.team.members.map((m: { username: string; role: string }) => `${m.role}:${m.username}`),
      ['owner:crm-team', 'approver:bob'],
    );
    const approval = contract.customProperties.find(
      (p: { property: string }) => p.property === 'meshloopApproval',
    );
    assert.deepEqual(approval.value, {
      approvedBy: ['bob'],
      approvedAt: '2026-12-02T10:00:00.000Z',
      revision: 2,
      approvals: [{ by: 'bob', at: '2026-12-02T10:00:00.000Z', via: 'cli' }],
    });
    assert.equal(contract.contractCreatedTs, '2026-12-01T09:00:00.000Z');
    // SLA properties as datacontract reads them.
    assert.deepEqual(
      contract.slaProperties.map((p: { property: string; value: unknown; unit?: string }) => [
        p.property,
        p.value,
        p.unit,
      ]),
      [
        ['freshness', 1, 'h'],
        ['availability', '99%', undefined],
        ['retention', 7, 'd'],
      ],
    );
  });

  it('writes timestamps quoted, so YAML 1.1 readers (PyYAML) keep them as text', () => {
    const text = contractYaml(contractOf(sourceOf(parseSpec(contractSpecs.join!)), servers));
    assert.match(text, /^contractCreatedTs: "2026-12-01T09:00:00.000Z"$/m);
  });

  it('says durations as datacontract reads them: d, h, m, else ISO-8601', () => {
    assert.deepEqual(slaDurationOf(2 * 86_400_000), { value: 2, unit: 'd' });
    assert.deepEqual(slaDurationOf(25 * 3_600_000), { value: 25, unit: 'h' });
    assert.deepEqual(slaDurationOf(15 * 60_000), { value: 15, unit: 'm' });
    assert.deepEqual(slaDurationOf(90_000), { value: 'PT90S' });
  });

  it('reads a contract written by someone else from ODCS fields alone', () => {
    const spec = specOfContract({
      apiVersion: 'v3.0.2',
      kind: 'DataContract',
      id: '53581432-6c55-4ba2-a65f-72344a91553a',
      name: 'shipments_late',
      domain: 'shipments',
      team: [{ username: 'dave', role: 'owner' }],
      schema: [
        {
          name: 'shipments_late',
          physicalName: 'shipments.late',
          properties: [
            {
              name: 'parcel_id',
              logicalType: 'string',
              physicalType: 'VARCHAR(36)',
              primaryKey: true,
              required: true,
              unique: true,
            },
            {
              name: 'carrier',
              logicalType: 'string',
              quality: [{ metric: 'invalidValues', arguments: { validValues: ['dhl', 'ups'] }, mustBe: 0 }],
            },
            { name: 'delay_min', logicalType: 'integer', physicalType: 'BIGINT' },
            { name: 'email', logicalType: 'string', tags: ['PII'] },
            { name: 'late_at', logicalType: 'timestamp' },
          ],
          quality: [
            {
              type: 'sql',
              name: 'late',
              query: 'SELECT COUNT(*) FROM ${table} WHERE (delay_min > 0) IS NOT TRUE',
              mustBe: 0,
            },
          ],
        },
      ],
      slaProperties: [
        { property: 'latency', value: 4, unit: 'h' },
        { property: 'availability', value: '99.5%' },
        { property: 'retention', value: 30, unit: 'days' },
      ],
    });
    assert.equal(spec.owner, 'dave');
    assert.equal(spec.outputTopic.name, 'shipments.late');
    assert.equal(spec.outputTopic.retentionMs, 30 * 86_400_000);
    assert.deepEqual(spec.schema.key, ['parcel_id']);
    assert.deepEqual(
      spec.schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable}:${f.pii}`),
      [
        'parcel_id:string:false:false',
        'carrier:string:true:false',
        'delay_min:long:true:false',
        'email:string:true:true',
        'late_at:timestamp:true:false',
      ],
    );
    assert.deepEqual(spec.quality, [
      { rule: 'unique', fields: ['parcel_id'] },
      { rule: 'allowedValues', field: 'carrier', values: ['dhl', 'ups'] },
      { rule: 'custom', name: 'late', sql: 'delay_min > 0' },
    ]);
    assert.deepEqual(spec.sla, { freshness: '4h', availability: 0.995 });
  });

  it('names every problem once, by its place in the contract, with what to do', () => {
    const problems = problemsOf(() =>
      specOfContract({
        apiVersion: 'v3.2.0',
        kind: 'DataContract',
        id: 'x',
        name: 'bad product',
        schema: [
          {
            name: 'bad',
            properties: [
              { name: 'a', logicalType: 'string' },
              { name: 'b', physicalType: 'GEOGRAPHY' },
              { name: 'a', logicalType: 'integer', quality: [{ metric: 'rowCount', mustBeGreaterThan: 10 }] },
            ],
          },
        ],
        slaProperties: [{ property: 'freshness', value: 'soon' }],
      }),
    );
    assert.deepEqual(problems, [
      'domain: missing; set it to the Meshloop domain that owns the product (one of mesh.yaml’s domains)',
      'team: no owner; set team.name to the owning team (or a member with role: owner)',
      'schema[0].properties[1]: no type Meshloop knows (physicalType "GEOGRAPHY", logicalType null); set physicalType to one of string, int, long, float, double, decimal, boolean, date, timestamp, bytes, json',
      'schema[0].properties[2].quality[0]: a quality rule Meshloop cannot check (type library, metric rowCount, no mustBe); use nullValues, duplicateValues or invalidValues (validValues) with mustBe: 0, or a sql rule "SELECT COUNT(*) FROM ${object} WHERE (<condition>) IS NOT TRUE" with mustBe: 0, or remove it',
      'slaProperties[0]: freshness "soon" is not a duration; give value as a number with unit d, h or m',
      'name: must not contain dots or spaces',
      "schema[0].properties[2].name: duplicate field 'a'",
    ]);
  });

  it("refuses what is not an ODCS v3 contract, and a spec's problems inside a custom property", () => {
    assert.deepEqual(
      problemsOf(() => specOfContract({ apiVersion: 'v2.2.2', kind: 'DataContract', id: 'x', schema: [] })),
      [
        'apiVersion: must be an ODCS v3 version, e.g. v3.2.0 (ODCS v2 contracts: upgrade them first)',
        'schema: must hold the product’s schema object',
      ],
    );
    const contract = contractOf(sourceOf(parseSpec(contractSpecs.join!)), servers) as Record<string, unknown>;
    const customs = (contract.customProperties as Array<{ property: string; value: unknown }>).map((p) =>
      p.property === 'meshloopInputs' ? { ...p, value: [{ topic: 'orders.orders', as: 'Bad Alias' }] } : p,
    );
    assert.deepEqual(
      problemsOf(() => specOfContract({ ...contract, customProperties: customs })),
      [
        'customProperties[1] (meshloopInputs): must be a SQL name: lowercase letters, digits and _, not starting with a digit (at [0].as of its value)',
      ],
    );
  });

  it('bounds the size of a contract', () => {
    assert.equal(contractTooLarge(1000), undefined);
    assert.match(contractTooLarge(2 * 1024 * 1024) ?? '', /at most 1048576 bytes/);
  });

  it('reads back the custom rule query it writes, and nothing else', () => {
    assert.equal(
      customConditionOf('SELECT COUNT(*) FROM ${object} WHERE (a > 1 AND b) IS NOT TRUE'),
      'a > 1 AND b',
    );
    assert.equal(customConditionOf('SELECT COUNT(*) FROM orders WHERE a > 1'), undefined);
  });

  it('proposes an imported contract as the person who imports it, the contract as evidence', () => {
    const contract = contractOf(sourceOf(parseSpec(contractSpecs.pii!)), servers);
    const spec = specOfContract(throughYaml(contract), { by: 'grace', source: 'contacts.yaml' });
    assert.deepEqual(spec.proposal?.proposedBy, { kind: 'person', name: 'grace' });
    assert.deepEqual(spec.proposal?.evidence.at(-1), {
      summary: 'imported from the ODCS contract customers.customer_contacts',
      source: 'contacts.yaml',
    });
  });
});

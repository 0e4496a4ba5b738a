import assert from 'node:assert/strict';
import { outputColumnProblems, typeFamilyOf } from '../../src/creation/guard';
import { inputBindingsOf, upstreamFromCatalog } from '../../src/creation/inputs';
import { parseCatalogDescriptor, toCatalogDescriptor } from '../../src/domain/catalog';
import { CatalogView } from '../../src/domain/catalog-view';
import type { Decision } from '../../src/domain/lifecycle';
import { parseSpec } from '../../src/domain/spec';

const spec = (fields: Array<{ name: string; type: string }>) =>
  parseSpec({
    name: 'p',
    domain: 'd',
    owner: 'o',
    kind: 'aggregate',
    inputs: [{ topic: 'd.t', schema: { fields: [{ name: 'a', type: 'string' }] } }],
    schema: { fields },
  });

describe('SQL guard: output columns against the spec', () => {
  it('reads the type family of what DESCRIBE prints', () => {
    assert.equal(typeFamilyOf('TIMESTAMP_LTZ(3) *ROWTIME*'), 'TIMESTAMP_LTZ');
    assert.equal(typeFamilyOf('TIMESTAMP(3) WITH LOCAL TIME ZONE'), 'TIMESTAMP_LTZ');
    assert.equal(typeFamilyOf('TIMESTAMP(3)'), 'TIMESTAMP');
    assert.equal(typeFamilyOf('VARCHAR(20) NOT NULL'), 'VARCHAR');
    assert.equal(typeFamilyOf('DECIMAL(10, 2)'), 'DECIMAL');
    assert.equal(typeFamilyOf('BIGINT'), 'BIGINT');
  });

  it('accepts widening Flink casts implicitly and refuses narrowing or a change of kind', () => {
    const target = spec([
      { name: 'n', type: 'long' },
      { name: 'x', type: 'double' },
      { name: 's', type: 'string' },
      { name: 't', type: 'timestamp' },
      { name: 'd', type: 'decimal' },
    ]);
    assert.deepEqual(
      outputColumnProblems(target, [
        { name: 'n', type: 'INT' },
        { name: 'x', type: 'DECIMAL(10, 2)' },
        { name: 's', type: 'VARCHAR(3)' },
        { name: 't', type: 'TIMESTAMP_LTZ(3) *ROWTIME*' },
        { name: 'd', type: 'BIGINT' },
      ]),
      [],
    );
    const problems = outputColumnProblems(target, [
      { name: 'n', type: 'DOUBLE' },
      { name: 'x', type: 'STRING' },
      { name: 's', type: 'INT' },
      { name: 't', type: 'BIGINT' },
      { name: 'd', type: 'DOUBLE' },
    ]);
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(
      problems[0]!,
      /'n' is DOUBLE but the spec says long \(BIGINT\): write CAST\(\.\.\. AS BIGINT\) AS n/,
    );
    assert.match(problems[3]!, /'t' is BIGINT .*TO_TIMESTAMP_LTZ\(<epoch millis>, 3\) AS t/);
  });

  it('says when a name differs only by case, and when a column is produced twice', () => {
    const problems = outputColumnProblems(spec([{ name: 'order_id', type: 'string' }]), [
      { name: 'ORDER_ID', type: 'STRING' },
      { name: 'ORDER_ID', type: 'STRING' },
    ]);
    assert.match(problems.join('\n'), /produced as 'ORDER_ID': names are case-sensitive, write AS order_id/);
    assert.match(problems.join('\n'), /'ORDER_ID' is produced twice/);
  });
});

describe('SQL guard: input bindings', () => {
  it('binds topic inputs by alias and product inputs through their catalog spec', () => {
    const upstream = parseSpec({
      name: 'orders_curated',
      domain: 'orders',
      owner: 'o',
      kind: 'source-aligned',
      inputs: [{ topic: 'orders.orders' }],
      outputTopic: { name: 'orders.curated.v1' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
    });
    const record = toCatalogDescriptor({
      spec: upstream,
      stage: 'active',
      decisions: [],
      resources: [],
      updatedAt: '2026-01-01T00:00:00Z',
    });
    const reader = parseSpec({
      name: 'r',
      domain: 'orders',
      owner: 'o',
      kind: 'aggregate',
      inputs: [
        { product: 'orders.orders_curated', as: 'curated' },
        {
          topic: 'web.clicks',
          schema: { fields: [{ name: 'at', type: 'timestamp' }], eventTimeField: 'at' },
        },
      ],
      schema: { fields: [{ name: 'order_id', type: 'string' }] },
    });
    // As the catalog topic holds it: JSON, parsed on the way in.
    const parsed = parseCatalogDescriptor(JSON.parse(JSON.stringify(record)));
    assert.ok(parsed.ok);
    const catalog = new CatalogView([parsed.descriptor]);
    const { bindings, problems } = inputBindingsOf(reader, (id) => catalog.specOf(id));
    assert.deepEqual(problems, []);
    assert.deepEqual(bindings, [
      {
        alias: 'curated',
        topic: 'orders.curated.v1',
        productId: 'orders.orders_curated',
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
      {
        alias: 'clicks',
        topic: 'web.clicks',
        fields: [{ name: 'at', type: 'timestamp' }],
        eventTimeField: 'at',
      },
    ]);
  });

  it('says when a product input is not in the catalog', () => {
    const reader = parseSpec({
      name: 'r',
      domain: 'orders',
      owner: 'o',
      kind: 'aggregate',
      inputs: [{ product: 'orders.missing' }],
      schema: { fields: [{ name: 'order_id', type: 'string' }] },
    });
    const { problems } = inputBindingsOf(reader, (id) => CatalogView.empty.specOf(id));
    assert.match(problems.join('\n'), /product 'orders.missing' is not in the catalog/);
  });

  it('resolves a catalog record only when it is active or deprecated with its current revision approved', () => {
    const upstream = parseSpec({
      name: 'contacts',
      domain: 'crm',
      owner: 'o',
      kind: 'source-aligned',
      inputs: [{ topic: 'crm.raw' }],
      schema: {
        fields: [
          { name: 'id', type: 'string' },
          { name: 'email', type: 'string', pii: true },
          { name: 'phone', type: 'string', pii: true },
        ],
      },
      classification: { pii: true, masking: [{ field: 'email', strategy: 'hash' }] },
    });
    const at = '2026-01-01T00:00:00Z';
    const approve = { by: 'a', action: 'approve' as const, at, revision: 1, stage: 'provisioning' as const };
    const record = (
      stage: 'active' | 'deprecated' | 'proposed' | 'retired',
      decisions: readonly Decision[] = [approve],
    ) => toCatalogDescriptor({ spec: upstream, stage, decisions, resources: [], updatedAt: at });
    assert.equal(upstreamFromCatalog(record('active')), record('active').spec);
    assert.equal(upstreamFromCatalog(record('deprecated')), record('deprecated').spec);
    assert.match(JSON.stringify(upstreamFromCatalog(record('proposed'))), /is proposed/);
    assert.match(JSON.stringify(upstreamFromCatalog(record('retired'))), /is retired/);
    assert.match(
      JSON.stringify(upstreamFromCatalog(record('active', []))),
      /no approval of its current spec/,
    );
    const amended = [
      approve,
      { ...approve, action: 'amend' as const, revision: 2, stage: 'proposed' as const },
    ];
    assert.match(JSON.stringify(upstreamFromCatalog(record('active', amended))), /revision 2/);

    const reader = parseSpec({
      name: 'r',
      domain: 'crm',
      owner: 'o',
      kind: 'aggregate',
      inputs: [
        { product: 'crm.contacts', as: 'c' },
        {
          topic: 'crm.raw',
          schema: {
            fields: [
              { name: 'email', type: 'string', pii: true },
              { name: 'x', type: 'string' },
            ],
          },
        },
      ],
      schema: { fields: [{ name: 'id', type: 'string' }] },
    });
    const { bindings, problems } = inputBindingsOf(reader, (id) =>
      id === 'crm.contacts' ? upstreamFromCatalog(record('active')) : undefined,
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      bindings.map((b) => b.fields.map((f) => `${f.name}:${f.personal ?? '-'}`)),
      [
        ['id:-', 'email:masked', 'phone:raw'],
        ['email:raw', 'x:-'],
      ],
    );
    const refused = inputBindingsOf(reader, () => upstreamFromCatalog(record('proposed')));
    assert.match(
      refused.problems.join('\n'),
      /inputs\[0\]: product 'crm\.contacts' is proposed: a product input reads only an active or deprecated product/,
    );
  });
});

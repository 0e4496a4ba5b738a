import assert from 'node:assert/strict';
import { toCatalogDescriptor, upstreamProductsOf } from '../../src/domain/catalog';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { dataProductStartOptions } from '../../workflows/definitions';
import { validSpec } from '../helpers/specs';

describe('catalog descriptor', () => {
  it('carries the product id, lineage, stage, decisions and resources', () => {
    const spec = validSpec({ inputs: [{ topic: 'orders.placed' }, { product: 'payments.captures' }] });
    const descriptor = toCatalogDescriptor({
      spec,
      stage: 'active',
      decisions: [
        {
          by: 'alice',
          action: 'approve',
          at: '2026-01-01T00:00:00.000Z',
          revision: 1,
          stage: 'provisioning',
        },
      ],
      resources: [
        { kind: 'kafkaTopic', name: 'orders.daily_revenue', created: true, at: '2026-01-01T00:00:01.000Z' },
      ],
      updatedAt: new Date('2026-01-01T00:00:02.000Z'),
    });
    assert.equal(descriptor.productId, 'orders.daily_revenue');
    assert.equal(descriptor.domain, 'orders');
    assert.equal(descriptor.owner, 'alice');
    assert.equal(descriptor.kind, 'aggregate');
    assert.equal(descriptor.stage, 'active');
    assert.equal(descriptor.outputTopic.name, 'orders.daily_revenue');
    assert.equal(descriptor.updatedAt, '2026-01-01T00:00:02.000Z');
    assert.deepEqual(
      descriptor.decisions.map((d) => d.by),
      ['alice'],
    );
    assert.deepEqual(
      descriptor.resources.map((r) => r.name),
      ['orders.daily_revenue'],
    );
    assert.deepEqual(upstreamProductsOf(descriptor), ['payments.captures']);
    assert.deepEqual(
      JSON.parse(JSON.stringify(descriptor)),
      descriptor,
      'plain JSON, as the catalog topic stores it',
    );
  });
});

describe('dataProductStartOptions', () => {
  it('builds the workflow id, input (the spec only) and search attributes from the spec', () => {
    const options = dataProductStartOptions(validSpec());
    assert.equal(options.workflowId, 'data-product:orders.daily_revenue');
    // Only the spec: who decides is read from mesh.yaml by the workflow, never taken from a starter.
    assert.deepEqual(Object.keys(options.args[0]), ['spec']);
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.stage), 'proposed');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.domain), 'orders');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.owner), 'alice');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.kind), 'aggregate');
  });
});

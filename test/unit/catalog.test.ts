import assert from 'node:assert/strict';
import { toCatalogDescriptor, upstreamProductsOf } from '../../src/domain/catalog';
import { parseMeshConfig } from '../../src/domain/mesh-config';
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
  it("builds the workflow id, input and search attributes from the spec and its domain's settings", () => {
    const mesh = parseMeshConfig({
      domains: {
        orders: {
          approvers: ['alice', 'bob'],
          approvalDeadline: '2d',
          reminderInterval: '6h',
          requiredApprovals: 2,
        },
      },
    });
    const options = dataProductStartOptions(validSpec(), mesh.domains.orders!, { knownDomains: ['orders'] });
    assert.equal(options.workflowId, 'data-product:orders.daily_revenue');
    const [input] = options.args;
    assert.deepEqual(input.approvers, ['alice', 'bob']);
    assert.equal(input.approvalDeadlineMs, 2 * 86_400_000);
    assert.equal(input.reminderIntervalMs, 6 * 3_600_000);
    assert.equal(input.requiredApprovals, 2);
    assert.deepEqual(input.knownDomains, ['orders']);
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.stage), 'proposed');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.domain), 'orders');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.owner), 'alice');
    assert.equal(options.typedSearchAttributes.get(meshloopSearchAttributes.kind), 'aggregate');
  });
});

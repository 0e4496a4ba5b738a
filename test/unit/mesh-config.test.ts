import assert from 'node:assert/strict';
import path from 'node:path';
import { InvalidSpecError, MeshloopError } from '../../src/domain/errors';
import { domainConfigOf, parseMeshConfig } from '../../src/domain/mesh-config';
import { loadMeshConfig } from '../../src/specs/load';

describe('mesh.yaml', () => {
  it('the example at the repository root names the demo domains and resolves defaults', async () => {
    const mesh = await loadMeshConfig(path.join(__dirname, '..', '..', 'mesh.yaml'));
    assert.deepEqual(Object.keys(mesh.domains).sort(), [
      'customers',
      'inventory',
      'loyalty',
      'orders',
      'payments',
      'shipments',
      'support',
      'web',
    ]);
    const payments = domainConfigOf(mesh, 'payments');
    assert.deepEqual(payments.approvers, ['carol']);
    assert.equal(payments.approvalDeadlineMs, 48 * 3_600_000);
    assert.equal(payments.reminderIntervalMs, 12 * 3_600_000);
    const orders = domainConfigOf(mesh, 'orders');
    assert.equal(orders.approvalDeadlineMs, 72 * 3_600_000, 'from defaults');
    assert.equal(orders.requiredApprovals, 1);
    assert.equal(domainConfigOf(mesh, 'customers').requiredApprovals, 2);
    assert.ok(orders.businessGoals.length > 0);
  });

  it('uses 72h and 24h when neither the domain nor the defaults say', () => {
    const mesh = parseMeshConfig({ domains: { web: { approvers: ['heidi'] } } });
    assert.equal(mesh.domains.web?.approvalDeadlineMs, 72 * 3_600_000);
    assert.equal(mesh.domains.web?.reminderIntervalMs, 24 * 3_600_000);
  });

  it('lists every problem with its path', () => {
    assert.throws(
      () =>
        parseMeshConfig({
          domains: {
            orders: { approvers: [], approvalDeadline: '3 weeks' },
            web: { approvers: ['heidi'], reminderInterval: 12, owner: 'x' },
          },
        }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidSpecError);
        assert.deepEqual([...error.problems].sort(), [
          "domains.orders.approvalDeadline: must be a duration like '30s', '15m', '72h' or '7d'",
          'domains.orders.approvers: must name at least one approver',
          'domains.web.owner: unknown field (a typo?)',
          'domains.web.reminderInterval: must be a string',
        ]);
        return true;
      },
    );
  });

  it('refuses more required approvals than approvers', () => {
    assert.throws(
      () => parseMeshConfig({ domains: { web: { approvers: ['heidi'], requiredApprovals: 2 } } }),
      /domains\.web\.requiredApprovals: needs 2 approvals but only 1 approvers are listed/,
    );
  });

  it('names the known domains when asked for an unknown one', () => {
    const mesh = parseMeshConfig({
      domains: { web: { approvers: ['heidi'] }, orders: { approvers: ['alice'] } },
    });
    assert.throws(
      () => domainConfigOf(mesh, 'marketing'),
      (error: unknown) =>
        error instanceof MeshloopError &&
        error.type === 'UnknownDomain' &&
        error.message.includes('known: orders, web'),
    );
  });
});

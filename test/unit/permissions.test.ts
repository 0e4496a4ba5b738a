import assert from 'node:assert/strict';
import { signingOff } from '../../src/domain/approval-signing';
import type { DomainGovernance } from '../../src/domain/governance';
import type { Stage } from '../../src/domain/lifecycle';
import {
  amendmentRefusal,
  amendRefusal,
  notReady,
  operatorActs,
  productOperatorRefusal,
  reviewRefusal,
  schemaEvolutionRefusal,
} from '../../src/domain/permissions';
import type { CarriedState } from '../../src/domain/product-state';
import { proposedState } from '../../src/domain/product-state';
import { rawSpec, validSpec } from '../helpers/specs';

const now = Date.parse('2026-01-01T00:00:00Z');
const ctx = { lifetime: 'run-1', now, hardened: true };

const governance: DomainGovernance = {
  domain: 'orders',
  known: true,
  approvers: ['Bob', 'carol'],
  operators: ['ops'],
  requiredApprovals: 2,
  approvalDeadlineMs: 60_000,
  reminderIntervalMs: 10_000,
  jobWatchIntervalMs: 1_000,
  knownDomains: ['orders'],
  approvalSigning: signingOff,
  slackUsers: {},
};

function stateIn(stage: Stage, changes: Partial<CarriedState> = {}): CarriedState {
  return { ...proposedState(validSpec(), '2026-01-01T00:00:00.000Z'), stage, ...changes };
}

describe('permissions: who may do what to a product, now', () => {
  it('refuses everything until mesh.yaml was read', () => {
    const state = stateIn('awaitingApproval');
    assert.equal(reviewRefusal(state, undefined, { action: 'approve', by: 'bob' }, ctx), notReady);
    assert.equal(amendRefusal(state, undefined, { by: 'alice', spec: rawSpec() }, ctx), notReady);
    assert.equal(
      productOperatorRefusal(state, undefined, { by: 'ops' }, operatorActs.deprecate, ctx),
      notReady,
    );
  });

  it('lets an approver (any case) approve while awaiting approval, once', () => {
    const state = stateIn('awaitingApproval');
    assert.equal(reviewRefusal(state, governance, { action: 'approve', by: ' bob ' }, ctx), undefined);
    assert.equal(
      reviewRefusal(state, governance, { action: 'approve', by: 'mallory' }, ctx)?.type,
      'NotAnApprover',
    );
    const again = reviewRefusal(
      { ...state, approvals: ['Bob'] },
      governance,
      { action: 'approve', by: 'bob' },
      ctx,
    );
    assert.equal(again?.type, 'DuplicateApproval');
    assert.match(again?.message ?? '', /1 more approval/);
  });

  it('says a late approval of an approved revision is a duplicate, other wrong stages are wrong', () => {
    const approved = stateIn('provisioning', {
      decisions: [{ by: 'bob', action: 'approve', at: 't', revision: 1, stage: 'provisioning' }],
    });
    assert.equal(
      reviewRefusal(approved, governance, { action: 'approve', by: 'Bob' }, ctx)?.type,
      'DuplicateApproval',
    );
    assert.equal(
      reviewRefusal(approved, governance, { action: 'approve', by: 'carol' }, ctx)?.type,
      'WrongStage',
    );
    assert.equal(
      reviewRefusal(approved, governance, { action: 'reject', by: 'carol' }, ctx)?.type,
      'WrongStage',
    );
  });

  it('asks a reviewer to wait while the critic reviews a fresh proposal (clients try again)', () => {
    for (const action of ['approve', 'reject', 'requestChanges'] as const) {
      const refusal = reviewRefusal(stateIn('proposed'), governance, { action, by: 'bob' }, ctx);
      assert.equal(refusal?.type, 'UnderReview');
      assert.match(refusal?.message ?? '', /critic's review/);
    }
    // A stranger still learns nothing more than that they may not.
    assert.equal(
      reviewRefusal(stateIn('proposed'), governance, { action: 'approve', by: 'mallory' }, ctx)?.type,
      'NotAnApprover',
    );
  });

  it('takes change requests on running products, with an amended spec only there', () => {
    for (const stage of ['awaitingApproval', 'changesRequested', 'active', 'degraded'] as const)
      assert.equal(
        reviewRefusal(stateIn(stage), governance, { action: 'requestChanges', by: 'bob' }, ctx),
        undefined,
      );
    const state = stateIn('awaitingApproval');
    const withSpec = { by: 'bob', amendedSpec: rawSpec({ description: 'Revenue, amended.' }) };
    assert.equal(reviewRefusal(state, governance, { action: 'requestChanges', ...withSpec }, ctx), undefined);
    assert.equal(
      reviewRefusal(state, governance, { action: 'approve', ...withSpec }, ctx)?.type,
      'InvalidRequest',
    );
  });

  it('lets the owner, the proposer or an approver amend when changes are requested', () => {
    const state = stateIn('changesRequested');
    const spec = rawSpec({ description: 'Revenue, amended.' });
    assert.equal(amendRefusal(state, governance, { by: 'alice', spec }, ctx), undefined);
    assert.equal(amendRefusal(state, governance, { by: 'carol', spec }, ctx), undefined);
    assert.equal(amendRefusal(state, governance, { by: 'mallory', spec }, ctx)?.type, 'NotAllowed');
    assert.equal(amendRefusal(stateIn('active'), governance, { by: 'alice', spec }, ctx)?.type, 'WrongStage');
  });

  it('refuses an amendment that is invalid, renames the product or breaks a policy', () => {
    const state = stateIn('changesRequested');
    assert.equal(amendmentRefusal(state, governance, { name: 1 })?.type, 'InvalidSpec');
    assert.match(
      amendmentRefusal(state, governance, rawSpec({ name: 'other' }))?.message ?? '',
      /product id/,
    );
    assert.equal(
      amendmentRefusal(state, governance, rawSpec({ domain: 'web', name: 'daily_revenue' }))?.type,
      'InvalidSpec',
    );
  });

  it('takes only the schema changes a product table can (added nullable fields)', () => {
    const state = stateIn('changesRequested', {
      materialization: {
        provider: 'flink',
        table: 'orders.daily_revenue',
        writeMode: 'upsert',
        revision: 1,
        schema: {
          fields: validSpec().schema.fields.map(({ name, type, nullable }) => ({ name, type, nullable })),
          key: ['day'],
        },
        jobName: 'materialize',
        jobId: 'j',
        state: 'RUNNING',
        badRecords: 0,
        acknowledgedBadRecords: 0,
        checkedAt: 't',
      },
    });
    const added = validSpec({
      schema: {
        fields: [
          { name: 'day', type: 'date' },
          { name: 'revenue', type: 'decimal' },
          { name: 'orders', type: 'long' },
        ],
        key: ['day'],
      },
    });
    assert.equal(schemaEvolutionRefusal(state, added), undefined);
    const dropped = validSpec({ schema: { fields: [{ name: 'day', type: 'date' }], key: ['day'] } });
    assert.equal(schemaEvolutionRefusal(state, dropped)?.type, 'SchemaIncompatible');
    assert.equal(schemaEvolutionRefusal(stateIn('changesRequested'), dropped), undefined);
  });

  it('lets operators act in the stages each act applies in', () => {
    const ops = { by: 'ops' };
    assert.equal(
      productOperatorRefusal(stateIn('failed'), governance, ops, operatorActs.retryProvisioning, ctx),
      undefined,
    );
    assert.equal(
      productOperatorRefusal(stateIn('active'), governance, ops, operatorActs.retryProvisioning, ctx)?.type,
      'WrongStage',
    );
    assert.equal(
      productOperatorRefusal(stateIn('degraded'), governance, ops, operatorActs.redeploy, ctx),
      undefined,
    );
    assert.equal(
      productOperatorRefusal(stateIn('active'), governance, ops, operatorActs.deprecate, ctx),
      undefined,
    );
    assert.equal(
      productOperatorRefusal(stateIn('deprecated'), governance, ops, operatorActs.retire, ctx),
      undefined,
    );
    assert.equal(
      productOperatorRefusal(stateIn('proposed'), governance, ops, operatorActs.retire, ctx)?.type,
      'WrongStage',
    );
    assert.equal(
      productOperatorRefusal(stateIn('active'), governance, { by: 'bob' }, operatorActs.retire, ctx)?.type,
      'NotAnOperator',
    );
  });
});

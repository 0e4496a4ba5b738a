import assert from 'node:assert/strict';
import type { Stage } from '../../src/domain/lifecycle';
import {
  canTransition,
  isApprover,
  isAwaitingDecision,
  isRetirable,
  isTerminal,
  stageMeaning,
  stages,
} from '../../src/domain/lifecycle';

describe('lifecycle stages', () => {
  it('has the twelve stages of the architecture, each with a meaning', () => {
    assert.deepEqual([...stages].sort(), [
      'active',
      'awaitingApproval',
      'changesRequested',
      'degraded',
      'deprecated',
      'dismissed',
      'expired',
      'failed',
      'proposed',
      'provisioning',
      'rejected',
      'retired',
    ]);
    for (const stage of stages) assert.ok(stageMeaning[stage].length > 10, stage);
  });

  it('allows the paths of the lifecycle diagram', () => {
    const allowed: [Stage, Stage][] = [
      ['proposed', 'awaitingApproval'],
      ['proposed', 'changesRequested'],
      ['awaitingApproval', 'provisioning'],
      ['awaitingApproval', 'rejected'],
      ['awaitingApproval', 'changesRequested'],
      ['awaitingApproval', 'expired'],
      ['changesRequested', 'awaitingApproval'],
      ['changesRequested', 'expired'],
      ['provisioning', 'active'],
      ['provisioning', 'failed'],
      ['failed', 'provisioning'],
      ['active', 'deprecated'],
      ['active', 'retired'],
      ['active', 'degraded'],
      ['degraded', 'active'],
      ['degraded', 'retired'],
      ['deprecated', 'retired'],
      // Creation: amendments are checked again, redeploys and slotless jobs.
      ['changesRequested', 'proposed'],
      ['provisioning', 'degraded'],
      ['active', 'provisioning'],
      ['degraded', 'provisioning'],
      ['active', 'changesRequested'],
    ];
    for (const [from, to] of allowed) assert.ok(canTransition(from, to), `${from} → ${to}`);
  });

  it('refuses shortcuts and ways out of final stages', () => {
    const refused: [Stage, Stage][] = [
      ['proposed', 'provisioning'],
      ['proposed', 'active'],
      ['awaitingApproval', 'active'],
      ['changesRequested', 'provisioning'],
      ['provisioning', 'awaitingApproval'],
      ['active', 'proposed'],
      ['degraded', 'awaitingApproval'],
      ['deprecated', 'provisioning'],
      ['active', 'awaitingApproval'],
      ['rejected', 'awaitingApproval'],
      ['expired', 'awaitingApproval'],
      ['retired', 'active'],
      ['active', 'active'],
      ['awaitingApproval', 'dismissed'],
      ['dismissed', 'awaitingApproval'],
    ];
    for (const [from, to] of refused) assert.equal(canTransition(from, to), false, `${from} → ${to}`);
  });

  it('knows final, waiting and retirable stages', () => {
    assert.deepEqual(stages.filter(isTerminal).sort(), ['dismissed', 'expired', 'rejected', 'retired']);
    assert.deepEqual(stages.filter(isAwaitingDecision).sort(), ['awaitingApproval', 'changesRequested']);
    assert.deepEqual(stages.filter(isRetirable).sort(), ['active', 'degraded', 'deprecated', 'failed']);
  });
});

describe('approver authorisation', () => {
  const orders = { approvers: ['alice', 'Bob'] };

  it("accepts the domain's approvers, ignoring case and surrounding spaces", () => {
    assert.equal(isApprover(orders, 'alice'), true);
    assert.equal(isApprover(orders, ' ALICE '), true);
    assert.equal(isApprover(orders.approvers, 'bob'), true);
  });

  it('refuses anyone else, and an empty name', () => {
    assert.equal(isApprover(orders, 'mallory'), false);
    assert.equal(isApprover(orders, 'ali'), false);
    assert.equal(isApprover(orders, ''), false);
    assert.equal(isApprover([], 'alice'), false);
  });
});

import assert from 'node:assert/strict';
import type { ApprovalProof, ApprovalSigning } from '../../src/domain/approval-signing';
import { signingOff } from '../../src/domain/approval-signing';
import { carriedStateRefusal, withoutLapsedApprovals } from '../../src/domain/carried-check';
import type { DomainGovernance } from '../../src/domain/governance';
import type { Stage } from '../../src/domain/lifecycle';
import { boundAct } from '../../src/domain/permissions';
import type { CarriedState } from '../../src/domain/product-state';
import { proposedState } from '../../src/domain/product-state';
import { productJobNameOf } from '../../src/domain/creation';
import { productIdOf } from '../../src/domain/spec';
import type { SigningKey } from '../../src/signing/keys';
import { newSigningKey, signAct } from '../../src/signing/keys';
import { validSpec } from '../helpers/specs';

const alice = newSigningKey({ id: 'k1', approver: 'alice' }).key;
const ops = newSigningKey({ id: 'k2', operator: 'ops' }).key;
const required: ApprovalSigning = { mode: 'required', keys: [alice.trusted, ops.trusted] };
const lifetime = 'first-run';

function governance(changes: Partial<DomainGovernance> = {}): DomainGovernance {
  return {
    domain: 'orders',
    known: true,
    approvers: ['alice', 'bob'],
    operators: ['ops'],
    requiredApprovals: 1,
    approvalDeadlineMs: 60_000,
    reminderIntervalMs: 10_000,
    jobWatchIntervalMs: 1_000,
    knownDomains: ['orders'],
    approvalSigning: signingOff,
    slackUsers: {},
    ...changes,
  };
}

function carried(stage: Stage, approvals: string[], changes: Partial<CarriedState> = {}): CarriedState {
  return { ...proposedState(validSpec(), '2026-01-01T00:00:00.000Z'), stage, approvals, ...changes };
}

function proofBy(key: SigningKey, state: CarriedState, by: string, life = lifetime): ApprovalProof {
  const signature = signAct(
    key,
    boundAct(state, { lifetime: life }, { kind: 'approval', action: 'approve', by }),
  );
  return {
    by,
    keyId: signature.keyId,
    at: signature.at,
    nonce: signature.nonce!,
    signature: signature.signature,
  };
}

describe('carried state is verified at every run start', () => {
  it('approvals must be by approvers of the domain now, distinct, and enough for the stage', () => {
    assert.equal(carriedStateRefusal(carried('active', ['alice']), governance(), lifetime), undefined);
    assert.equal(carriedStateRefusal(carried('awaitingApproval', []), governance(), lifetime), undefined);
    const byStranger = carriedStateRefusal(carried('provisioning', ['carol']), governance(), lifetime);
    assert.equal(byStranger?.type, 'UnverifiedCarriedState');
    assert.doesNotMatch(byStranger?.message ?? '', /carol|alice|bob/);
    const tooFew = carriedStateRefusal(
      carried('active', ['alice']),
      governance({ requiredApprovals: 2 }),
      lifetime,
    );
    assert.match(tooFew?.message ?? '', /requires 2/);
    const twice = carriedStateRefusal(
      carried('active', ['alice', 'Alice']),
      governance({ requiredApprovals: 2 }),
      lifetime,
    );
    assert.match(twice?.message ?? '', /listed twice/);
    // Still waiting: an approval by someone since removed from mesh.yaml stops counting (dropped).
    const waiting = carried('awaitingApproval', ['carol', 'alice']);
    assert.deepEqual(withoutLapsedApprovals(waiting, governance()).approvals, ['alice']);
    const approved = carried('provisioning', ['carol', 'alice']);
    assert.equal(
      withoutLapsedApprovals(approved, governance()),
      approved,
      'an approved stage is judged as claimed',
    );
    for (const stage of ['provisioning', 'degraded', 'failed', 'deprecated'] as const)
      assert.ok(carriedStateRefusal(carried(stage, []), governance(), lifetime), stage);
  });

  it('with signing required, each approval needs its kept signature over this spec, revision and lifetime', () => {
    const g = governance({ approvalSigning: required });
    const state = carried('active', ['alice']);
    assert.match(carriedStateRefusal(state, g, lifetime)?.message ?? '', /carries no signature/);
    const good = { ...state, approvalProofs: [proofBy(alice, state, 'alice')] };
    assert.equal(carriedStateRefusal(good, g, lifetime), undefined);
    const variants: [string, CarriedState][] = [
      ['another lifetime', { ...state, approvalProofs: [proofBy(alice, state, 'alice', 'other-run')] }],
      ['another spec', { ...good, spec: validSpec({ description: 'Swapped after approval.' }) }],
      ['another revision', { ...good, revision: 2 }],
      ['an operator key', { ...state, approvalProofs: [proofBy(ops, state, 'alice')] }],
      [
        'a tampered nonce',
        { ...state, approvalProofs: [{ ...proofBy(alice, state, 'alice'), nonce: '0'.repeat(32) }] },
      ],
    ];
    for (const [name, variant] of variants) {
      const refusal = carriedStateRefusal(variant, g, lifetime);
      assert.match(refusal?.message ?? '', /signature does not verify/, name);
      assert.doesNotMatch(refusal?.message ?? '', /\b(alice|ops)\b/, name);
    }
    // A key removed from mesh.yaml no longer vouches for what it signed.
    const withoutKey = governance({ approvalSigning: { mode: 'required', keys: [ops.trusted] } });
    assert.match(carriedStateRefusal(good, withoutKey, lifetime)?.message ?? '', /signature does not verify/);
  });

  it("a job or materialization that is not the product's own is refused (it would be stopped)", () => {
    const productId = productIdOf(validSpec());
    const job = {
      name: productJobNameOf(productId, 1),
      id: 'j',
      revision: 1,
      sql: 'SELECT 1',
      state: 'RUNNING',
      rejectedRecords: 0,
      checkedAt: 't',
    } as CarriedState['job'];
    assert.equal(carriedStateRefusal(carried('rejected', [], { job }), governance(), lifetime), undefined);
    const foreign = { ...job!, name: productJobNameOf('orders.victim', 1) };
    assert.match(
      carriedStateRefusal(carried('rejected', [], { job: foreign }), governance(), lifetime)?.message ?? '',
      /is not one of/,
    );
    const later = { ...job!, revision: 3, name: productJobNameOf(productId, 3) };
    assert.ok(carriedStateRefusal(carried('rejected', [], { job: later }), governance(), lifetime));
  });
});

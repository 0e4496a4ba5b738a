import assert from 'node:assert/strict';
import type { ApprovalSigning } from '../../src/domain/approval-signing';
import {
  approvalAuthentication,
  approvalSigningBytes,
  checkApprovalSignature,
  signingOff,
} from '../../src/domain/approval-signing';
import { governanceOf } from '../../src/domain/governance';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { approverMessageSchema, parseMessage, reviewRequestSchema } from '../../src/domain/messages';
import { newSigningKey, signApproval } from '../../src/signing/keys';

describe('approval signing', () => {
  const alice = newSigningKey({ id: 'alice-1', approver: 'alice' }).key;
  const slack = newSigningKey({ id: 'slack-app', slackApp: true }).key;
  const signing: ApprovalSigning = { mode: 'required', keys: [alice.trusted, slack.trusted] };
  const fields = { productId: 'orders.daily', revision: 3, action: 'approve', approver: 'alice' };
  const now = Date.parse('2026-12-01T00:00:00Z');
  const at = new Date(now - 60_000);

  it('verifies (with the pure-JS verifier) what Node signed, and nothing else', () => {
    assert.deepEqual(checkApprovalSignature(signing, fields, signApproval(alice, fields, at), now), {
      ok: true,
      key: alice.trusted,
    });
    const signature = signApproval(alice, fields, at);
    for (const changed of [
      { ...fields, productId: 'orders.other' },
      { ...fields, revision: 4 },
      { ...fields, action: 'reject' },
    ]) {
      const check = checkApprovalSignature(signing, changed, signature, now);
      assert.equal(check.ok, false, JSON.stringify(changed));
    }
    const tampered = { ...signature, at: new Date(now).toISOString() };
    assert.equal(checkApprovalSignature(signing, fields, tampered, now).ok, false);
  });

  it('refuses unsigned, malformed, stale and unknown-key approvals with a reason; passes all when off', () => {
    const refusals = [
      checkApprovalSignature(signing, fields, undefined, now),
      checkApprovalSignature(signing, fields, { keyId: 'alice-1', at: 'x', signature: 'zz' }, now),
      checkApprovalSignature(signing, fields, signApproval(alice, fields, new Date(now - 11 * 60_000)), now),
      checkApprovalSignature(signing, fields, { ...signApproval(alice, fields, at), keyId: 'bob-1' }, now),
    ];
    assert.deepEqual(
      refusals.map((r) => (r.ok ? 'ok' : r.type)),
      ['SignatureRequired', 'InvalidSignature', 'InvalidSignature', 'InvalidSignature'],
    );
    assert.deepEqual(checkApprovalSignature(signingOff, fields, undefined, now), { ok: true });
  });

  it('an approver key signs for its approver only; the Slack key for anyone, recorded as slack', () => {
    const forBob = { ...fields, approver: 'bob' };
    assert.equal(checkApprovalSignature(signing, forBob, signApproval(alice, forBob, at), now).ok, false);
    const bySlack = signApproval(slack, forBob, at);
    assert.equal(checkApprovalSignature(signing, forBob, bySlack, now).ok, true);
    assert.deepEqual(approvalAuthentication(signing, { via: 'cli', signature: bySlack }, 'ui'), {
      via: 'slack',
      keyId: 'slack-app',
    });
    assert.deepEqual(approvalAuthentication(signingOff, { via: 'nonsense' }, 'ui'), { via: 'ui' });
  });

  it('signs the approver name as the workflow compares it (trimmed, lower case)', () => {
    assert.deepEqual(
      approvalSigningBytes({ ...fields, approver: ' Alice ', at: 'T' }),
      approvalSigningBytes({ ...fields, approver: 'alice', at: 'T' }),
    );
  });

  it('mesh.yaml: signing off by default; keys validated; duplicate ids refused', () => {
    const base = { domains: { orders: { approvers: ['alice'] } } };
    assert.deepEqual(parseMeshConfig(base).approvalSigning, { mode: 'off', keys: [] });
    const mesh = parseMeshConfig({
      ...base,
      approvals: { signing: 'required', keys: [alice.trusted, slack.trusted] },
      slack: { users: { U012AB3CD: 'alice' } },
    });
    assert.equal(mesh.approvalSigning.mode, 'required');
    assert.deepEqual(mesh.slackUsers, { U012AB3CD: 'alice' });
    assert.throws(
      () => parseMeshConfig({ ...base, approvals: { keys: [alice.trusted, alice.trusted] } }),
      /listed twice/,
    );
    assert.throws(
      () => parseMeshConfig({ ...base, approvals: { keys: [{ id: 'k', publicKey: 'abc', approver: 'a' }] } }),
      /publicKey/,
    );
    assert.throws(
      () => parseMeshConfig({ ...base, approvals: { keys: [{ ...alice.trusted, slackApp: true }] } }),
      /not both/,
    );
  });

  it("governance carries the signing settings, the channel and only the domain approvers' Slack users", () => {
    const mesh = parseMeshConfig({
      approvals: { signing: 'required', keys: [alice.trusted] },
      slack: { users: { U0ALICE: 'Alice', U0HEIDI: 'heidi' } },
      domains: {
        orders: { approvers: ['alice'], slackChannel: 'C0ORDERS' },
        web: { approvers: ['heidi'] },
      },
    });
    const orders = governanceOf(mesh, 'orders');
    assert.deepEqual(orders.approvalSigning, { mode: 'required', keys: [alice.trusted] });
    assert.equal(orders.slackChannel, 'C0ORDERS');
    assert.deepEqual(orders.slackUsers, { U0ALICE: 'Alice' });
    const web = governanceOf(mesh, 'web');
    assert.equal(web.slackChannel, undefined);
    assert.deepEqual(web.slackUsers, { U0HEIDI: 'heidi' });
    assert.deepEqual(governanceOf(mesh, 'constructor').slackUsers, {});
    assert.equal(governanceOf(mesh, 'constructor').approvalSigning.mode, 'required');
  });

  it('message schemas accept via and signature, and refuse a malformed proof', () => {
    const signature = signApproval(alice, fields, at);
    const review = { action: 'approve', by: 'alice', via: 'cli', signature };
    assert.deepEqual(parseMessage(reviewRequestSchema, review), { ok: true, value: review });
    assert.ok(parseMessage(approverMessageSchema, { by: 'alice', via: 'slack', signature }).ok);
    assert.ok(!parseMessage(approverMessageSchema, { by: 'alice', via: 'email' }).ok);
    assert.ok(!parseMessage(reviewRequestSchema, { ...review, signature: { ...signature, extra: 1 } }).ok);
    assert.ok(
      !parseMessage(reviewRequestSchema, { ...review, signature: { ...signature, signature: 'zz' } }).ok,
    );
  });
});

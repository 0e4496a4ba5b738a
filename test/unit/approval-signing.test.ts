import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import type { ApprovalSigning, BoundAct } from '../../src/domain/approval-signing';
import {
  approvalAuthentication,
  approvalSigningBytes,
  checkSignature,
  signingBytes,
  signingOff,
  specHashOf,
} from '../../src/domain/approval-signing';
import { governanceOf } from '../../src/domain/governance';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { approverMessageSchema, parseMessage, reviewRequestSchema } from '../../src/domain/messages';
import { newSigningKey, signAct } from '../../src/signing/keys';

describe('approval signing', () => {
  const alice = newSigningKey({ id: 'alice-1', approver: 'alice' }).key;
  const slack = newSigningKey({ id: 'slack-app', slackApp: true }).key;
  const olga = newSigningKey({ id: 'olga-ops', operator: 'olga' }).key;
  const signing: ApprovalSigning = { mode: 'required', keys: [alice.trusted, slack.trusted, olga.trusted] };
  const fields: BoundAct = {
    kind: 'approval',
    productId: 'orders.daily',
    lifetime: 'run-1',
    revision: 3,
    specHash: specHashOf({ name: 'daily' }),
    action: 'approve',
    by: 'alice',
    detail: '',
  };
  const now = Date.parse('2026-12-01T00:00:00Z');
  const at = new Date(now - 60_000);
  const fresh = { nowMs: now };

  it('verifies (with the pure-JS verifier) what Node signed, and nothing else', () => {
    const signature = signAct(alice, fields, at);
    assert.deepEqual(checkSignature(signing, fields, signature, fresh), {
      ok: true,
      key: alice.trusted,
      nonce: signature.nonce,
    });
    for (const changed of [
      { ...fields, productId: 'orders.other' },
      { ...fields, revision: 4 },
      { ...fields, action: 'reject' },
      { ...fields, lifetime: 'run-2' },
      { ...fields, specHash: specHashOf({ name: 'other' }) },
      { ...fields, detail: 'force' },
      { ...fields, kind: 'act' as const, by: 'alice' },
    ]) {
      const check = checkSignature(signing, changed, signature, fresh);
      assert.equal(check.ok, false, JSON.stringify(changed));
    }
    assert.equal(
      checkSignature(signing, fields, { ...signature, at: new Date(now).toISOString() }, fresh).ok,
      false,
    );
    assert.equal(checkSignature(signing, fields, { ...signature, nonce: '0'.repeat(32) }, fresh).ok, false);
    const used = checkSignature(signing, fields, signature, {
      ...fresh,
      isUsed: (n) => n === signature.nonce,
    });
    assert.equal(used.ok, false);
    assert.match(used.ok ? '' : used.reason, /used already/);
  });

  it('spec hashes are canonical: key order does not matter, content does', () => {
    assert.equal(
      specHashOf({ a: 1, b: [1, { c: 'x', d: undefined }] }),
      specHashOf({ b: [1, { c: 'x' }], a: 1 }),
    );
    assert.notEqual(specHashOf({ a: 1 }), specHashOf({ a: 2 }));
    assert.match(specHashOf({}), /^[0-9a-f]{64}$/);
  });

  it('refuses unsigned, malformed, stale, unknown-key and v1 signatures with a reason; passes all when off', () => {
    const v1 = { keyId: 'alice-1', at: at.toISOString(), signature: 'ab'.repeat(64) };
    const refusals = [
      checkSignature(signing, fields, undefined, fresh),
      checkSignature(signing, fields, { keyId: 'alice-1', at: 'x', signature: 'zz' }, fresh),
      checkSignature(signing, fields, signAct(alice, fields, new Date(now - 11 * 60_000)), fresh),
      checkSignature(signing, fields, { ...signAct(alice, fields, at), keyId: 'bob-1' }, fresh),
      checkSignature(signing, fields, v1, fresh),
    ];
    assert.deepEqual(
      refusals.map((r) => (r.ok ? 'ok' : r.type)),
      ['SignatureRequired', 'InvalidSignature', 'InvalidSignature', 'InvalidSignature', 'InvalidSignature'],
    );
    assert.match(refusals[4]!.ok ? '' : refusals[4]!.reason, /old format \(v1\)/);
    assert.deepEqual(checkSignature(signingOff, fields, undefined, fresh), { ok: true });
  });

  it('v1 signatures verify only where a recorded run accepted them (acceptV1), and only for reviews', () => {
    const v1Fields = { productId: fields.productId, revision: 3, action: 'approve', approver: 'alice' };
    const signedAt = at.toISOString();
    const v1 = {
      keyId: 'alice-1',
      at: signedAt,
      signature: sign(null, approvalSigningBytes({ ...v1Fields, at: signedAt }), alice.privateKey).toString(
        'hex',
      ),
    };
    assert.equal(checkSignature(signing, fields, v1, { ...fresh, acceptV1: true }).ok, true);
    assert.equal(checkSignature(signing, fields, v1, fresh).ok, false);
    assert.equal(
      checkSignature(signing, { ...fields, kind: 'act', action: 'retire' }, v1, { ...fresh, acceptV1: true })
        .ok,
      false,
    );
  });

  it('an approver key signs reviews for its approver only; the Slack key for anyone; an operator key acts only', () => {
    const forBob = { ...fields, by: 'bob' };
    assert.equal(checkSignature(signing, forBob, signAct(alice, forBob, at), fresh).ok, false);
    const bySlack = signAct(slack, forBob, at);
    assert.equal(checkSignature(signing, forBob, bySlack, fresh).ok, true);
    const retire = { ...fields, kind: 'act' as const, action: 'retire', by: 'olga' };
    assert.equal(checkSignature(signing, retire, signAct(olga, retire, at), fresh).ok, true);
    const approveAsOlga = { ...fields, by: 'olga' };
    assert.equal(checkSignature(signing, approveAsOlga, signAct(olga, approveAsOlga, at), fresh).ok, false);
    const retireAsAlice = { ...retire, by: 'alice' };
    const byApproverKey = checkSignature(signing, retireAsAlice, signAct(alice, retireAsAlice, at), fresh);
    assert.equal(byApproverKey.ok, false);
    assert.doesNotMatch(byApproverKey.ok ? '' : byApproverKey.reason, /alice|olga|bob/i);
    const amend = { ...fields, kind: 'act' as const, action: 'amend', detail: specHashOf({ x: 1 }) };
    assert.equal(checkSignature(signing, amend, signAct(alice, amend, at), fresh).ok, true);
    assert.deepEqual(approvalAuthentication(signing, { via: 'cli', signature: bySlack }, 'ui'), {
      via: 'slack',
      keyId: 'slack-app',
    });
    assert.deepEqual(approvalAuthentication(signingOff, { via: 'nonsense' }, 'ui'), { via: 'ui' });
  });

  it('signs the name as the workflow compares it (trimmed, lower case)', () => {
    const signed = { ...fields, nonce: 'n', at: 'T' };
    assert.deepEqual(signingBytes({ ...signed, by: ' Alice ' }), signingBytes({ ...signed, by: 'alice' }));
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
    const signature = signAct(alice, fields, at);
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

import assert from 'node:assert/strict';
import type { ApprovalSigning } from '../../src/domain/approval-signing';
import { newSigningKey, signApproval } from '../../src/signing/keys';
import { approveSignal, reviewUpdate } from '../../workflows/definitions';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  refusal,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

describe('approval signing required (real Temporal server)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;
  const alice = newSigningKey({ id: 'alice-laptop', approver: 'alice' }).key;
  const slackApp = newSigningKey({ id: 'slack-app', slackApp: true }).key;
  const stranger = newSigningKey({ id: 'alice-laptop', approver: 'alice' }).key; // same id, other key
  const unknown = newSigningKey({ id: 'mallory', approver: 'alice' }).key;
  const signing: ApprovalSigning = { mode: 'required', keys: [alice.trusted, slackApp.trusted] };

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('an unsigned signal (as typed into the Temporal UI) is recorded as refused and changes nothing', async () => {
    const fakes = fakesWith({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice', comment: 'trust me' });
      const status = await waitForStatus(handle, (s) => s.ignored.length === 1);
      assert.equal(status.stage, 'awaitingApproval');
      assert.deepEqual(status.approvals, []);
      assert.match(status.ignored[0]?.reason ?? '', /requires signed approvals/);
      assert.equal(status.ignored[0]?.by, 'alice');
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
    });
  });

  it('refuses an unsigned update, a signature by an unknown key, one by an impostor key and one for another revision', async () => {
    const fakes = fakesWith({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      const fields = {
        productId: waiting.productId,
        revision: waiting.revision,
        action: 'approve',
        approver: 'alice',
      };
      const review = (signature?: ReturnType<typeof signApproval>) =>
        handle.executeUpdate(reviewUpdate, {
          args: [{ action: 'approve', by: 'alice', via: 'cli', signature }],
        });

      assert.equal((await refusal(review())).type, 'SignatureRequired');
      const byUnknown = await refusal(review(signApproval(unknown, fields)));
      assert.equal(byUnknown.type, 'InvalidSignature');
      assert.match(byUnknown.message, /'mallory' is not trusted/);
      const byImpostor = await refusal(review(signApproval(stranger, fields)));
      assert.equal(byImpostor.type, 'InvalidSignature');
      assert.match(byImpostor.message, /does not match/);
      const otherRevision = await refusal(review(signApproval(alice, { ...fields, revision: 2 })));
      assert.equal(otherRevision.type, 'InvalidSignature');
      const otherAction = await refusal(review(signApproval(alice, { ...fields, action: 'reject' })));
      assert.equal(otherAction.type, 'InvalidSignature');
      const stale = await refusal(review(signApproval(alice, fields, new Date(Date.now() - 3_600_000))));
      assert.match(stale.message, /not within/);
      // Alice's key cannot vouch for Bob.
      const forBob = await refusal(
        handle.executeUpdate(reviewUpdate, {
          args: [
            { action: 'approve', by: 'bob', signature: signApproval(alice, { ...fields, approver: 'bob' }) },
          ],
        }),
      );
      assert.match(forBob.message, /belongs to alice/);

      const status = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(status.approvals, []);
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
    });
  });

  it('a valid signature approves, and history records how it was authenticated', async () => {
    const fakes = fakesWith({ approvalSigning: signing, requiredApprovals: 2 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      const fields = { productId: waiting.productId, revision: 1, action: 'approve' };
      const first = await handle.executeUpdate(reviewUpdate, {
        args: [
          {
            action: 'approve',
            by: 'Alice',
            via: 'cli',
            signature: signApproval(alice, { ...fields, approver: 'alice' }),
          },
        ],
      });
      assert.deepEqual(first.approvals, ['Alice']);
      // The Slack app's key signs for whoever Slack verified; the record says slack whatever the claim.
      await handle.signal(approveSignal, {
        by: 'bob',
        via: 'ui',
        signature: signApproval(slackApp, { ...fields, approver: 'bob' }),
      });
      const active = await waitForStatus(handle, stageIs('active'));
      const approvals = active.decisions.filter((d) => d.action === 'approve');
      assert.deepEqual(
        approvals.map((d) => [d.by, d.via, d.keyId]),
        [
          ['Alice', 'cli', 'alice-laptop'],
          ['bob', 'slack', 'slack-app'],
        ],
      );
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1);
      await recordHistory(handle, 'signed-approvals');
    });
  });

  it('with signing off, signatures are not needed and the claimed channel is recorded', async () => {
    const fakes = fakesWith();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));
      const approval = active.decisions.find((d) => d.action === 'approve');
      assert.equal(approval?.via, 'ui');
      assert.equal(approval?.keyId, undefined);
    });
  });
});

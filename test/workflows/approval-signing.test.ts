import assert from 'node:assert/strict';
import { executeWhenReady } from '../../src/adapters/temporal/updates';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { ApprovalSignature, ApprovalSigning, BoundAct } from '../../src/domain/approval-signing';
import { specHashOf } from '../../src/domain/approval-signing';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import type { SigningKey } from '../../src/signing/keys';
import { newSigningKey, signAct, signForProduct } from '../../src/signing/keys';
import { temporalConnectOptions } from '../../src/config';
import type { ProductStatus, ReviewAction } from '../../workflows/definitions';
import {
  amendSpecUpdate,
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  redeployUpdate,
  retireUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import type { FakeActivities } from '../helpers/workflows';
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
import { productMetricsSinks } from '../../src/metrics/worker';

/** No refusal may name a person: not who asked, not the mesh's approvers or operators, not a key's holder. */
const PEOPLE = /\b(alice|bob|carol|mallory|ops|olga)\b/i;

describe('approval signing required (real Temporal server)', function () {
  this.timeout(90_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;
  const alice = newSigningKey({ id: 'k1', approver: 'alice' }).key;
  const bob = newSigningKey({ id: 'k2', approver: 'bob' }).key;
  const slackApp = newSigningKey({ id: 'slack-app', slackApp: true }).key;
  const ops = newSigningKey({ id: 'k3', operator: 'ops' }).key;
  const mallory = newSigningKey({ id: 'k4', operator: 'mallory' }).key;
  const stranger = newSigningKey({ id: 'k1', approver: 'alice' }).key; // same id, other key
  const unknown = newSigningKey({ id: 'k9', approver: 'alice' }).key;
  const signing: ApprovalSigning = {
    mode: 'required',
    keys: [alice.trusted, bob.trusted, slackApp.trusted, ops.trusted, mallory.trusted],
  };
  const review = (key: SigningKey, status: ProductStatus, action: string, by: string, detail?: string) =>
    signForProduct(key, status, { kind: 'approval', action, by, ...(detail ? { detail } : {}) });
  const act = (key: SigningKey, status: ProductStatus, action: string, by: string, detail?: string) =>
    signForProduct(key, status, { kind: 'act', action, by, ...(detail ? { detail } : {}) });

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

  it('refuses unsigned, unknown-key, impostor, other revision/action/spec/lifetime, v1, stale and used-twice signatures, naming no one', async () => {
    const fakes = fakesWith({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.equal(waiting.lifetime, handle.firstExecutionRunId, 'the lifetime is the first run id');
      const bound: BoundAct = {
        kind: 'approval',
        productId: waiting.productId,
        lifetime: handle.firstExecutionRunId,
        revision: waiting.revision,
        specHash: specHashOf(waiting.spec),
        action: 'approve',
        by: 'alice',
        detail: '',
      };
      const send = (signature?: ApprovalSignature, by = 'alice', action: ReviewAction = 'approve') =>
        refusal(handle.executeUpdate(reviewUpdate, { args: [{ action, by, via: 'cli', signature }] }));
      const refusals = {
        unsigned: await send(),
        unknownKey: await send(signAct(unknown, bound)),
        impostor: await send(signAct(stranger, bound)),
        otherRevision: await send(signAct(alice, { ...bound, revision: 2 })),
        otherAction: await send(signAct(alice, { ...bound, action: 'reject' })),
        otherSpec: await send(
          signAct(alice, { ...bound, specHash: specHashOf({ ...waiting.spec, sql: 'x' }) }),
        ),
        otherLifetime: await send(signAct(alice, { ...bound, lifetime: randomUUID() })),
        asAnAct: await send(signAct(alice, { ...bound, kind: 'act' })),
        v1: await send({ keyId: 'k1', at: new Date().toISOString(), signature: 'ab'.repeat(64) }),
        stale: await send(signAct(alice, bound, new Date(Date.now() - 3_600_000))),
        // Alice's key cannot vouch for Bob, nor an operator key for an approver.
        forBob: await send(signAct(alice, { ...bound, by: 'bob' }), 'bob'),
        byOperatorKey: await send(signAct(ops, { ...bound, by: 'ops' }), 'ops'),
      };
      assert.equal(refusals.unsigned.type, 'SignatureRequired');
      for (const [name, r] of Object.entries(refusals).filter(
        ([n]) => n !== 'unsigned' && n !== 'byOperatorKey',
      ))
        assert.equal(r.type, 'InvalidSignature', name);
      assert.equal(refusals.byOperatorKey.type, 'NotAnApprover');
      assert.match(refusals.unknownKey.message, /not one this mesh trusts/);
      assert.match(refusals.otherSpec.message, /does not match this product, its lifetime, revision, spec/);
      assert.match(refusals.v1.message, /old format \(v1\)/);
      assert.match(refusals.stale.message, /not within/);
      assert.match(refusals.forBob.message, /may not sign this review for this sender/);
      for (const [name, r] of Object.entries(refusals)) assert.doesNotMatch(r.message, PEOPLE, name);

      // A valid request for changes is taken once; the same signature again is refused (usable once).
      const changes = review(alice, waiting, 'requestChanges', 'alice');
      const once = await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'requestChanges', by: 'alice', signature: changes }],
      });
      assert.equal(once.stage, 'changesRequested');
      const twice = await send(changes, 'alice', 'requestChanges');
      assert.equal(twice.type, 'InvalidSignature');
      assert.match(twice.message, /used already/);

      const status = await handle.query(getStatusQuery);
      assert.deepEqual(status.approvals, []);
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
    });
  });

  it('a valid signature approves, history records how it was authenticated, and the proof survives continue-as-new', async () => {
    // An active product's history grows by its job watch: a short one makes the next run come soon.
    const fakes = fakesWith({
      approvalSigning: signing,
      requiredApprovals: 2,
      reminderIntervalMs: 300,
      jobWatchIntervalMs: 500,
    });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct(), { maxHistoryEvents: 40 }));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      // Reminders make the history continue as new often: an update may meet a run still checking.
      const first = await executeWhenReady(() =>
        handle.executeUpdate(reviewUpdate, {
          args: [
            {
              action: 'approve',
              by: 'Alice',
              via: 'cli',
              signature: review(alice, waiting, 'approve', 'alice'),
            },
          ],
        }),
      );
      assert.deepEqual(first.approvals, ['Alice']);
      // Reminders grow the history: the next run verifies Alice's carried signature and keeps it.
      const continued = await waitForStatus(handle, (s) => s.continuedAsNew >= 1);
      assert.equal(continued.stage, 'awaitingApproval');
      assert.deepEqual(continued.approvals, ['Alice']);
      assert.equal(continued.lifetime, handle.firstExecutionRunId);
      // The Slack app's key signs for whoever Slack verified; the record says slack whatever the claim.
      await handle.signal(approveSignal, {
        by: 'bob',
        via: 'ui',
        signature: review(slackApp, continued, 'approve', 'bob'),
      });
      const active = await waitForStatus(handle, stageIs('active'));
      const approvals = active.decisions.filter((d) => d.action === 'approve');
      assert.deepEqual(
        approvals.map((d) => [d.by, d.via, d.keyId]),
        [
          ['Alice', 'cli', 'k1'],
          ['bob', 'slack', 'slack-app'],
        ],
      );
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1);
      // Still active after further runs: both carried approvals verify each time.
      const later = await waitForStatus(handle, (s) => s.continuedAsNew > active.continuedAsNew, 30_000);
      assert.equal(later.stage, 'active');
      await recordHistory(handle, 'signed-approvals-v2');
    });
  });

  it("a signature from the product's earlier life does not approve it again, whatever its spec", async () => {
    const fakes = fakesWith({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const spec = uniqueProduct();
      const earlier = await start(productInput(spec));
      const waiting = await waitForStatus(earlier, stageIs('awaitingApproval'));
      const signature = review(alice, waiting, 'approve', 'alice'); // signed, never sent
      await earlier.terminate('an attacker ends the run');

      for (const next of [spec, { ...spec, description: 'Another spec under the same id.' }]) {
        const again = await start(productInput(next));
        await waitForStatus(again, stageIs('awaitingApproval'));
        const refused = await refusal(
          again.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice', signature }] }),
        );
        assert.equal(refused.type, 'InvalidSignature');
        await again.signal(approveSignal, { by: 'alice', signature });
        const status = await waitForStatus(again, (s) => s.ignored.length === 1);
        assert.equal(status.stage, 'awaitingApproval');
        assert.deepEqual(status.approvals, []);
        await again.terminate('next variant');
      }
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
    });
  });

  it('operator acts need an operator key signature for the act, usable once; refusals name no one', async () => {
    const fakes = fakesWith({ approvalSigning: signing, operators: ['ops'] });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'approve', by: 'alice', signature: review(alice, waiting, 'approve', 'alice') }],
      });
      const active = await waitForStatus(handle, stageIs('active'));
      const redeploy = (by: string, signature?: ApprovalSignature) =>
        refusal(
          handle.executeUpdate(redeployUpdate, { args: [{ by, ...(signature ? { signature } : {}) }] }),
        );
      const refusals = {
        unsigned: await redeploy('ops'),
        byApproverKey: await redeploy('ops', signAct(alice, { ...boundOf(active, handle), by: 'ops' })),
        byAnotherOperatorsKey: await redeploy('ops', act(mallory, active, 'redeploy', 'mallory')),
        nonOperatorWithOwnKey: await redeploy('mallory', act(mallory, active, 'redeploy', 'mallory')),
        approverAsOperator: await redeploy('alice', act(alice, active, 'redeploy', 'alice')),
        otherAct: await redeploy('ops', act(ops, active, 'deprecate', 'ops')),
        unsignedRetire: await refusal(handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] })),
        // A plain retirement's signature does not force one.
        forcedWithPlainSignature: await refusal(
          handle.executeUpdate(retireUpdate, {
            args: [{ by: 'ops', force: true, signature: act(ops, active, 'retire', 'ops') }],
          }),
        ),
        unsignedDeprecate: await refusal(handle.executeUpdate(deprecateUpdate, { args: [{ by: 'ops' }] })),
      };
      assert.equal(refusals.unsigned.type, 'SignatureRequired');
      assert.match(refusals.unsigned.message, /requires signed operator acts/);
      assert.equal(refusals.byApproverKey.type, 'InvalidSignature');
      assert.equal(refusals.byAnotherOperatorsKey.type, 'InvalidSignature');
      assert.equal(refusals.nonOperatorWithOwnKey.type, 'NotAnOperator');
      assert.equal(refusals.approverAsOperator.type, 'NotAnOperator');
      assert.equal(refusals.otherAct.type, 'InvalidSignature');
      assert.equal(refusals.unsignedRetire.type, 'SignatureRequired');
      assert.equal(refusals.forcedWithPlainSignature.type, 'InvalidSignature');
      assert.equal(refusals.unsignedDeprecate.type, 'SignatureRequired');
      for (const [name, r] of Object.entries(refusals)) assert.doesNotMatch(r.message, PEOPLE, name);
      assert.equal((await handle.query(getStatusQuery)).stage, 'active');

      const signature = act(ops, active, 'redeploy', 'ops');
      const redeployed = await handle.executeUpdate(redeployUpdate, { args: [{ by: 'ops', signature }] });
      assert.equal(redeployed.stage, 'provisioning');
      const again = await waitForStatus(handle, stageIs('active'));
      const reused = await redeploy('ops', signature);
      assert.equal(reused.type, 'InvalidSignature');
      assert.match(reused.message, /used already/);
      const deprecated = await handle.executeUpdate(deprecateUpdate, {
        args: [{ by: 'ops', signature: act(ops, again, 'deprecate', 'ops') }],
      });
      assert.equal(deprecated.stage, 'deprecated');
      const retired = await handle.executeUpdate(retireUpdate, {
        args: [{ by: 'ops', force: true, signature: act(ops, deprecated, 'retire', 'ops', 'force') }],
      });
      assert.equal(retired.stage, 'retired');
    });
  });

  it('an amendment needs the amender’s own key over the amended spec', async () => {
    const fakes = fakesWith({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const spec = uniqueProduct();
      const handle = await start(productInput(spec));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.executeUpdate(reviewUpdate, {
        args: [
          { action: 'requestChanges', by: 'bob', signature: review(bob, waiting, 'requestChanges', 'bob') },
        ],
      });
      const changes = await waitForStatus(handle, stageIs('changesRequested'));
      const amended = { ...spec, description: 'Amended as asked.' };
      const amend = (signature?: ApprovalSignature) =>
        handle.executeUpdate(amendSpecUpdate, {
          args: [{ by: 'alice', spec: amended, ...(signature ? { signature } : {}) }],
        });
      const unsigned = await refusal(amend());
      assert.equal(unsigned.type, 'SignatureRequired');
      const otherSpec = await refusal(amend(act(alice, changes, 'amend', 'alice', specHashOf(spec))));
      assert.equal(otherSpec.type, 'InvalidSignature');
      const byOther = await refusal(amend(act(bob, changes, 'amend', 'alice', specHashOf(amended))));
      assert.equal(byOther.type, 'InvalidSignature');
      for (const r of [unsigned, otherSpec, byOther]) assert.doesNotMatch(r.message, PEOPLE);
      const done = await amend(act(alice, changes, 'amend', 'alice', specHashOf(amended)));
      assert.equal(done.revision, 2);
      assert.equal(done.spec.description, 'Amended as asked.');
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

  describe('carried state from a foreign run (an attacker continues their own workflow as the product)', () => {
    let forgerBundle: WorkflowBundleWithSourceMap;

    before(async function () {
      this.timeout(5 * 60_000);
      forgerBundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../helpers/forger-workflow'),
        logger: {
          trace() {},
          debug() {},
          info() {},
          log() {},
          warn() {},
          error: (m: string) => process.stderr.write(`${m}\n`),
        },
      });
    });

    /**
     * Run the forger on its own task queue: started under the product's id, it is sent the carried
     * state `carried(spec, lifetime)` and continues as new as `dataProductWorkflow` on the product
     * worker's queue. Answers how the product run ended, or its status once `settled`.
     */
    async function forge(
      fakes: FakeActivities,
      carried: (spec: Record<string, unknown>, lifetime: string) => unknown,
      settled: (status: ProductStatus) => boolean = () => false,
    ): Promise<{ failure?: ApplicationFailure; status?: ProductStatus }> {
      const connection = await NativeConnection.connect(
        temporalConnectOptions(context.config.temporal.connection),
      );
      const forgerQueue = `forger-${randomUUID()}`;
      const worker = await Worker.create({
        sinks: productMetricsSinks(undefined),
        connection,
        namespace: context.config.temporal.namespace,
        taskQueue: forgerQueue,
        workflowBundle: forgerBundle,
      });
      try {
        return await worker.runUntil(
          withWorker(context, fakes, async ({ taskQueue }) => {
            const spec = uniqueProduct();
            const workflowId = `data-product:${productIdOf(parseSpec(spec))}`;
            const forger = await context.client.workflow.start('forgerWorkflow', {
              taskQueue: forgerQueue,
              workflowId,
              args: [{ taskQueue, spec }],
            });
            await forger.signal('carry', carried(spec, forger.firstExecutionRunId));
            const product = context.client.workflow.getHandle(workflowId);
            try {
              return await outcomeOf(product, settled);
            } finally {
              await product.terminate('test finished').catch(() => undefined);
            }
          }),
        );
      } finally {
        await connection.close();
      }
    }

    /** A carried state for `spec` in `stage`, approved by `approvals` (with `proofs`). */
    function carriedState(
      spec: Record<string, unknown>,
      stage: string,
      approvals: string[],
      extra: Record<string, unknown> = {},
    ) {
      const at = new Date().toISOString();
      return {
        stage,
        spec: parseSpec(spec),
        revision: 1,
        approvals,
        decisions: approvals.map((by) => ({ by, action: 'approve', at, revision: 1, stage })),
        ignored: [],
        policyViolations: [],
        resources: [],
        remindersSent: 0,
        continuedAsNew: 0,
        proposedAt: at,
        updatedAt: at,
        ...extra,
      };
    }

    function approvalOf(key: SigningKey, spec: unknown, lifetime: string, by: string) {
      const parsed = parseSpec(spec);
      const signature = signAct(key, {
        kind: 'approval',
        productId: productIdOf(parsed),
        lifetime,
        revision: 1,
        specHash: specHashOf(parsed),
        action: 'approve',
        by,
        detail: '',
      });
      return {
        by,
        keyId: signature.keyId,
        at: signature.at,
        nonce: signature.nonce!,
        signature: signature.signature,
      };
    }

    /** The run failed before any side effect: it read mesh.yaml, nothing else. */
    function refusedBeforeAnything(
      outcome: { failure?: ApplicationFailure },
      fakes: FakeActivities,
      why: RegExp,
    ) {
      assert.ok(outcome.failure, 'the forged run must fail');
      assert.equal(outcome.failure.type, 'UnverifiedCarriedState');
      assert.match(outcome.failure.message, why);
      assert.doesNotMatch(outcome.failure.message, PEOPLE);
      assert.deepEqual([...new Set(fakes.calls.map((c) => c.name))], ['readMeshGovernance']);
    }

    it('a claimed approval by someone who is not an approver (signing off)', async () => {
      const fakes = fakesWith();
      const outcome = await forge(fakes, (spec) => carriedState(spec, 'provisioning', ['carol']));
      refusedBeforeAnything(outcome, fakes, /not an approver of domain orders/);
    });

    it('too few approvals for a stage only approval reaches (signing off)', async () => {
      const fakes = fakesWith({ requiredApprovals: 2 });
      const outcome = await forge(fakes, (spec) => carriedState(spec, 'active', ['alice']));
      refusedBeforeAnything(outcome, fakes, /active with 1 approval\(s\).*requires 2/);
    });

    it('a real approver without a signature (signing required)', async () => {
      const fakes = fakesWith({ approvalSigning: signing });
      const outcome = await forge(fakes, (spec) => carriedState(spec, 'provisioning', ['alice']));
      refusedBeforeAnything(outcome, fakes, /carries no signature/);
    });

    it("a valid signature over another spec, over another lifetime, by another approver's key, or by an untrusted key", async () => {
      const variants: [string, (spec: Record<string, unknown>, lifetime: string) => unknown][] = [
        [
          'another spec',
          (spec, lifetime) =>
            approvalOf(alice, { ...spec, description: 'What alice saw.' }, lifetime, 'alice'),
        ],
        ['another lifetime', (spec) => approvalOf(alice, spec, randomUUID(), 'alice')],
        ["bob's key", (spec, lifetime) => approvalOf(bob, spec, lifetime, 'alice')],
        ['an untrusted key', (spec, lifetime) => approvalOf(unknown, spec, lifetime, 'alice')],
      ];
      for (const [name, proof] of variants) {
        const fakes = fakesWith({ approvalSigning: signing });
        const outcome = await forge(fakes, (spec, lifetime) =>
          carriedState(spec, 'provisioning', ['alice'], { approvalProofs: [proof(spec, lifetime)] }),
        );
        refusedBeforeAnything(outcome, fakes, /signature does not verify/);
        assert.ok(outcome.failure, name);
      }
    });

    it("a job that is another product's (it would be stopped)", async () => {
      const fakes = fakesWith();
      const job = {
        name: 'meshloop-orders-victim-r1',
        id: 'x',
        revision: 1,
        sql: 'SELECT 1',
        state: 'RUNNING',
        rejectedRecords: 0,
        checkedAt: new Date().toISOString(),
      };
      const outcome = await forge(fakes, (spec) => carriedState(spec, 'rejected', [], { job }));
      refusedBeforeAnything(outcome, fakes, /its job .* is not one of/);
    });

    it('a carried state that verifies goes on (the check is not a blanket refusal)', async () => {
      const fakes = fakesWith({ approvalSigning: signing });
      const outcome = await forge(
        fakes,
        (spec, lifetime) =>
          carriedState(spec, 'provisioning', ['alice'], {
            approvalProofs: [approvalOf(alice, spec, lifetime, 'alice')],
          }),
        stageIs('active'),
      );
      assert.equal(outcome.failure, undefined, outcome.failure?.message);
      assert.equal(outcome.status?.stage, 'active');
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1);
    });
  });
});

/**
 * How the run that `handle` follows ended (its failure), or its status once `settled` holds. Polls
 * (nothing left running afterwards: a pending call would outlive the suite's connection).
 */
async function outcomeOf(
  handle: WorkflowHandle,
  settled: (status: ProductStatus) => boolean,
): Promise<{ failure?: ApplicationFailure; status?: ProductStatus }> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const description = await handle.describe();
    if (description.type === 'dataProductWorkflow' && description.status.name === 'FAILED') {
      const error: unknown = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError, String(error));
      assert.ok(error.cause instanceof ApplicationFailure);
      return { failure: error.cause };
    }
    if (description.type === 'dataProductWorkflow' && description.status.name === 'RUNNING') {
      const status = await handle.query(getStatusQuery).catch(() => undefined);
      if (status && settled(status)) return { status };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail('the forged run neither failed nor settled within 30 s');
}

function boundOf(status: ProductStatus, handle: { firstExecutionRunId: string }): BoundAct {
  return {
    kind: 'act',
    productId: status.productId,
    lifetime: handle.firstExecutionRunId,
    revision: status.revision,
    specHash: specHashOf(status.spec),
    action: 'redeploy',
    by: 'ops',
    detail: '',
  };
}

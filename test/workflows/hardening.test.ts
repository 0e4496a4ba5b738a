import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MAX_SPEC_BYTES } from '../../src/domain/spec';
import type { dataProductWorkflow } from '../../workflows/data-product';
import type { ProductStatus } from '../../workflows/definitions';
import {
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  refusal,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/** Signals and updates carry whatever JSON someone pastes; the typed definitions do not stop that. */
const anyJson = (value: unknown) => value as never;

describe('dataProductWorkflow treats every input as untrusted (real Temporal server)', function () {
  this.timeout(90_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('poison signals are recorded as ignored with the reason; the product still answers and takes a real approval', async () => {
    const fakes = fakesWith();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const poison: unknown[] = [
        { by: { toString: 'alice' } },
        { by: 'alice', comment: { toString: 'x' } },
        { by: ['alice'] },
        { by: 42 },
        { by: 'alice', force: 'false' },
        { by: 'x'.repeat(100_000) },
        'alice',
        ['alice'],
        17,
        null,
        {},
        { by: '   ' },
        { by: 'alice', comment: 'y'.repeat(50_000) },
      ];
      for (const message of poison) await handle.signal(approveSignal, anyJson(message));
      const flooded = await waitForStatus(handle, (s) => s.ignored.length === poison.length);
      assert.equal(flooded.stage, 'awaitingApproval', 'no poison approved anything');
      assert.deepEqual(flooded.approvals, []);
      const reasons = flooded.ignored.map((m) => m.reason);
      assert.match(reasons[0] ?? '', /malformed approve signal: by: must be a string/);
      assert.match(reasons[1] ?? '', /comment: must be a string/);
      assert.match(reasons[2] ?? '', /by: must be a string/, '["alice"] is not alice');
      assert.match(reasons[3] ?? '', /by: must be a string/, '42 is malformed, not "required"');
      assert.match(reasons[4] ?? '', /force: unknown field/);
      assert.match(reasons[5] ?? '', /by: must be at most 100 characters/);
      assert.match(reasons[12] ?? '', /comment: must be at most 2000 characters/);
      assert.equal(flooded.ignored[1]?.by, 'alice', 'a well-formed by is kept for the audit trail');
      assert.match(
        flooded.ignored[5]?.by ?? '',
        /^x+ … \(99900 more characters\)$/,
        'an oversized by is cut',
      );
      assert.equal(flooded.ignored[6]?.by, '(malformed)');
      for (const entry of flooded.ignored) assert.ok(entry.by.length <= 100 && entry.reason.length <= 500);

      // Updates with the same payloads are refused by their validator, the product untouched.
      const badRetire = await refusal(
        handle.executeUpdate(retireUpdate, { args: [anyJson({ by: 'ops', comment: { toString: 'x' } })] }),
      );
      assert.equal(badRetire.type, 'InvalidRequest');
      const stringForce = await refusal(
        handle.executeUpdate(retireUpdate, { args: [anyJson({ by: 'ops', force: 'false' })] }),
      );
      assert.match(stringForce.message, /force: must be true or false/);
      const badReview = await refusal(handle.executeUpdate(reviewUpdate, { args: [anyJson(['approve'])] }));
      assert.equal(badReview.type, 'InvalidRequest');

      await handle.signal(approveSignal, { by: 'alice', comment: 'the real one' });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.decisions.find((d) => d.action === 'approve')?.by, 'alice');

      // No workflow task ever failed: the poison never reached a throwing handler.
      const history = await handle.fetchHistory();
      const failedTasks = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
      assert.equal(failedTasks.length, 0);
    });
  });

  it('a flood of large signals leaves the state bounded', async () => {
    const fakes = fakesWith();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const big = 'm'.repeat(90);
      await Promise.all(
        Array.from({ length: 80 }, (_, i) =>
          handle.signal(approveSignal, { by: `${big}${i}`.slice(-100), comment: 'c'.repeat(2000) }),
        ),
      );
      const status = await waitForStatus(
        handle,
        (s) => (s.olderIgnored?.count ?? 0) + s.ignored.length === 80,
      );
      assert.equal(status.ignored.length, 50, 'the newest 50 are kept whole');
      assert.equal(status.olderIgnored?.count, 30);
      assert.equal(status.olderIgnored?.byAction.approve, 30);
      assert.ok(JSON.stringify(status).length < 100_000, 'the whole status stays small');
    });
  });

  it('a hand-started workflow with forged carried state fails at once, before any side effect', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ outputTopic: { name: '__consumer_offsets_x' } });
    await withWorker(context, fakes, async ({ taskQueue }) => {
      const workflowId = `data-product:orders.${String(spec.name)}`;
      const at = new Date().toISOString();
      const forged = await context.client.workflow.start<typeof dataProductWorkflow>('dataProductWorkflow', {
        taskQueue,
        workflowId,
        args: [
          {
            spec,
            carried: {
              stage: 'provisioning',
              spec: spec as never,
              revision: 1,
              approvals: ['carol'],
              decisions: [{ by: 'carol', action: 'approve', at, revision: 1, stage: 'provisioning' }],
              ignored: [],
              policyViolations: [],
              resources: [],
              remindersSent: 0,
              continuedAsNew: 0,
              proposedAt: at,
              updatedAt: at,
            },
          },
        ],
      });
      const failure = await forged.result().then(
        () => assert.fail('the forged workflow completed'),
        (error: unknown) => error,
      );
      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ApplicationFailure);
      assert.equal(failure.cause.type, 'InvalidStartInput');
      assert.match(
        failure.cause.message,
        /carried state is accepted only from the workflow continuing as new/,
      );
      assert.deepEqual(fakes.calls, [], 'no topic, no catalog entry, not even a mesh read');

      // Someone else's id: the workflow id must be data-product:<its spec's product id>.
      const misnamed = await context.client.workflow.start<typeof dataProductWorkflow>(
        'dataProductWorkflow',
        {
          taskQueue,
          workflowId: `data-product:orders.victim_${randomUUID().slice(0, 8)}`,
          args: [{ spec: uniqueProduct() }],
        },
      );
      const wrongId = await misnamed.result().then(
        () => assert.fail('the misnamed workflow completed'),
        (error: unknown) => error,
      );
      assert.ok(wrongId instanceof WorkflowFailedError && wrongId.cause instanceof ApplicationFailure);
      assert.match(wrongId.cause.message, /the workflow id must be data-product:orders\.p_/);
    });
  });

  it('a spec near the size cap continues as new with the spec carried once; one over the cap fails at once', async () => {
    const fakes = fakesWith({ reminderIntervalMs: 300 });
    const fields = [{ name: 'day', type: 'date' }];
    for (let i = 0; i < 125; i += 1)
      fields.push({ name: `f${i}`, type: 'string', description: 'd'.repeat(1990) } as never);
    const spec = uniqueProduct({ schema: { fields, key: ['day'] } });
    const specBytes = Buffer.byteLength(JSON.stringify(spec));
    assert.ok(specBytes > 240_000 && specBytes <= MAX_SPEC_BYTES, `spec of ${specBytes} bytes`);
    await withWorker(context, fakes, async ({ start, taskQueue }) => {
      const handle = await start(productInput(spec, { maxHistoryEvents: 30 }));
      const firstRunId = handle.firstExecutionRunId;
      await waitForStatus(handle, (s) => s.continuedAsNew >= 1);
      const history = await context.client.workflow.getHandle(handle.workflowId, firstRunId).fetchHistory();
      const continued = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
      const data = continued?.input?.payloads?.[0]?.data;
      assert.ok(data, 'the continue-as-new input');
      const input = JSON.parse(Buffer.from(data).toString('utf8')) as {
        spec: unknown;
        carried: Record<string, unknown>;
      };
      assert.equal('spec' in input.carried, false, 'the carried state holds no second copy of the spec');
      assert.ok(
        data.length < specBytes * 1.5,
        `the next run's input is ${data.length} bytes for a ${specBytes}-byte spec`,
      );
      const status: ProductStatus = await handle.query(getStatusQuery);
      assert.equal(status.stage, 'awaitingApproval');
      assert.equal(status.spec.schema.fields.length, 126);
      await handle.terminate('test done');

      for (const over of [
        uniqueProduct({ description: 'x'.repeat(1_770_000) }),
        uniqueProduct({
          schema: {
            fields: [...fields, ...fields.slice(1).map((f) => ({ ...f, name: `${f.name}_b` }))],
            key: ['day'],
          },
        }),
        uniqueProduct({ description: '€'.repeat(100_000) }),
      ]) {
        const refused = await context.client.workflow.start<typeof dataProductWorkflow>(
          'dataProductWorkflow',
          {
            taskQueue,
            workflowId: `data-product:orders.${String(over.name)}`,
            args: [{ spec: over }],
          },
        );
        const failure = await refused.result().then(
          () => assert.fail('an over-cap spec ran'),
          (error: unknown) => error,
        );
        assert.ok(failure instanceof WorkflowFailedError && failure.cause instanceof ApplicationFailure);
        assert.match(failure.cause.message, /a spec may be at most 262144 bytes/);
      }
    });
  });

  it('approvers come from mesh.yaml at decision time: removing one revokes a pending approval', async () => {
    const fakes = fakesWith({ approvers: ['alice', 'bob'] });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(
        // A starter's own approvers are not trusted (older starters passed them): ignored.
        { ...productInput(uniqueProduct()), approvers: ['mallory'] } as never,
      );
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(waiting.approvers, ['alice', 'bob']);

      const mallory = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'mallory' }] }),
      );
      assert.equal(mallory.type, 'NotAnApprover');

      fakes.mesh.approvers = ['bob']; // alice removed from mesh.yaml while the product waits
      await handle.signal(approveSignal, { by: 'alice' });
      const ignored = await waitForStatus(handle, (s) => s.ignored.length === 1);
      assert.match(ignored.ignored[0]?.reason ?? '', /the sender is not an approver of domain orders$/);
      // The update's validator still knows the old list; its handler reads mesh.yaml again and refuses.
      const viaUpdate = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] }),
      );
      assert.equal(viaUpdate.type, 'NotAnApprover');
      assert.equal((await handle.query(getStatusQuery)).stage, 'awaitingApproval');

      await handle.signal(approveSignal, { by: 'bob' });
      await waitForStatus(handle, stageIs('active'));
    });
  });

  it('an approval by someone since removed from mesh.yaml no longer counts toward the quorum', async () => {
    const fakes = fakesWith({ approvers: ['alice', 'bob', 'carol'], requiredApprovals: 2 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, (s) => s.approvals.length === 1);
      fakes.mesh.approvers = ['bob', 'carol'];
      await handle.signal(approveSignal, { by: 'bob' });
      const afterBob = await waitForStatus(handle, (s) => s.approvals.length === 2);
      assert.equal(afterBob.stage, 'awaitingApproval', "alice's approval was revoked with her name");
      await handle.signal(approveSignal, { by: 'carol' });
      await waitForStatus(handle, stageIs('active'));
    });
  });

  it('only operators named in mesh.yaml may retry, deprecate or retire', async () => {
    const fakes = fakesWith({ operators: ['ops'] });
    fakes.topicFailures.push(
      ApplicationFailure.create({ type: 'Boom', message: 'boom', nonRetryable: true }),
    );
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('failed'));

      const approverRetry = await refusal(
        handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: 'alice' }] }),
      );
      assert.equal(approverRetry.type, 'NotAnOperator');
      assert.match(approverRetry.message, /the sender is not an operator of domain orders/);
      assert.doesNotMatch(approverRetry.message, /\b(alice|ops)\b/);
      await handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: 'OPS' }] });
      await waitForStatus(handle, stageIs('active'));

      for (const update of [deprecateUpdate, retireUpdate]) {
        const refused = await refusal(handle.executeUpdate(update, { args: [{ by: 'mallory' }] }));
        assert.equal(refused.type, 'NotAnOperator');
      }
      fakes.mesh.operators = ['ops2']; // ops removed: its next act is refused at decision time
      const revoked = await refusal(
        handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] }),
      );
      assert.equal(revoked.type, 'NotAnOperator');
      assert.equal((await handle.query(getStatusQuery)).stage, 'active');
      assert.equal((await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops2' }] })).stage, 'retired');
    });
  });

  it('a failed catalog publish is retried until it lands; descriptors carry a rising version', async () => {
    const fakes = fakesWith();
    // More failures than the old best-effort publish (3 attempts, then never again) would survive.
    for (let i = 0; i < 3; i++) {
      fakes.publishFailures.push(ApplicationFailure.create({ type: 'KafkaError', message: 'broker away' }));
    }
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));
      assert.equal(
        await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] }).then((s) => s.stage),
        'retired',
      );
      await handle.result();
      const published = fakes
        .callsOf('publishCatalogDescriptor')
        .map((c) => [c.descriptor.stage, c.descriptor.version]);
      assert.deepEqual(
        published.map(([stage]) => stage),
        // Retired twice: once retired, once more when its job stopped with a savepoint.
        [
          'awaitingApproval',
          'awaitingApproval',
          'awaitingApproval',
          'awaitingApproval',
          'active',
          'retired',
          'retired',
        ],
      );
      const versions = published.slice(3).map(([, version]) => Number(version));
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        'versions rise',
      );
      assert.ok(new Set(versions).size === versions.length, `distinct versions ${versions.join(',')}`);
    });
  });
});

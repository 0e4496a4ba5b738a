import assert from 'node:assert/strict';
import { executeWhenReady } from '../../src/adapters/temporal/updates';
import { ApplicationFailure } from '@temporalio/common';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { waitUntil } from '../../src/stack/probe';
import {
  amendSpecUpdate,
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  rejectSignal,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import {
  FakeActivities,
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

describe('dataProductWorkflow (real Temporal server, fake activities)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000); // a cold first run downloads the platform
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('an approver approves by signal: the topic is created, the catalog updated, the product active', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct({
      outputTopic: { partitions: 4, retentionMs: 3_600_000, cleanupPolicy: 'compact' },
    });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(waiting.policyViolations, []);
      assert.ok(waiting.deadline, 'a deadline while waiting');

      await handle.signal(approveSignal, { by: 'alice', comment: 'ship it' });
      const active = await waitForStatus(handle, stageIs('active'));

      const productId = `orders.${spec.name}`;
      assert.equal(active.productId, productId);
      assert.deepEqual(
        active.decisions.map((d) => [d.action, d.by, d.stage]),
        [
          ['propose', spec.owner, 'proposed'],
          ['policyCheck', 'meshloop', 'proposed'],
          ['critique', 'meshloop', 'awaitingApproval'],
          ['approve', 'alice', 'provisioning'],
          ['provision', 'meshloop', 'active'],
        ],
      );
      assert.equal(active.decisions[3]?.comment, 'ship it');
      assert.ok(!Number.isNaN(Date.parse(active.decisions[3]?.at ?? '')), 'decisions carry a time');
      assert.deepEqual(fakes.callsOf('createKafkaTopic'), [
        {
          productId,
          topic: { name: productId, partitions: 4, retentionMs: 3_600_000, cleanupPolicy: 'compact' },
        },
      ]);
      const jobName = `meshloop-create:${productId}:r1`;
      assert.deepEqual(
        active.resources.map((r) => [r.kind, r.name, r.created]),
        [
          ['kafkaTopic', productId, true],
          ['flinkJob', jobName, true],
          ['icebergTable', `lake.${productId}`, true],
          ['flinkJob', `meshloop-materialize:${productId}:r1`, true],
        ],
      );
      assert.match(active.decisions[4]?.comment ?? '', /started from the beginning of its inputs/);
      // The SQL guard ran before the approvers were asked, and again before deployment.
      assert.equal(fakes.callsOf('checkProductSql').length, 2);
      assert.deepEqual(
        fakes.callsOf('deployProductJob').map((call) => [call.productId, call.revision, call.savepoint]),
        [[productId, 1, undefined]],
      );
      assert.equal(active.job?.name, jobName);
      assert.equal(active.job?.state, 'RUNNING');
      assert.deepEqual(
        active.lineage?.map((l) => l.column),
        spec.schema.fields.map((f) => f.name),
      );
      assert.deepEqual(fakes.publishedStages(), ['awaitingApproval', 'active']);
      const descriptor = fakes.callsOf('publishCatalogDescriptor')[1]?.descriptor;
      assert.equal(descriptor?.productId, productId);
      assert.deepEqual(
        descriptor?.resources.map((r) => r.name),
        [productId, jobName, `lake.${productId}`, `meshloop-materialize:${productId}:r1`],
      );
      assert.equal(descriptor?.table?.table, `lake.${productId}`, 'the catalog carries the table');
      assert.equal(descriptor?.job?.id, 'job-1');
      assert.ok(descriptor?.lineage && descriptor.lineage.length > 0, 'the catalog carries the lineage');
      assert.equal(active.lastError, undefined);
      await recordHistory(handle, 'approve-by-signal');
    });
  });

  it('the review update approves and answers with the new status', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const status = await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'Bob' }] });
      assert.equal(status.stage, 'provisioning');
      assert.deepEqual(status.approvals, ['Bob']);
      await waitForStatus(handle, stageIs('active'));
    });
  });

  it('an approver rejects: the workflow ends rejected and the catalog says so', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const status = await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'reject', by: 'alice', comment: 'duplicates orders.revenue' }],
      });
      assert.equal(status.stage, 'rejected');
      const result = await handle.result();
      assert.equal(result.stage, 'rejected');
      assert.deepEqual(result.decisions.at(-1), {
        ...result.decisions.at(-1),
        action: 'reject',
        by: 'alice',
      });
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
      assert.deepEqual(fakes.publishedStages(), ['awaitingApproval', 'rejected']);
      await recordHistory(handle, 'reject-by-update');
    });
  });

  it('a reject signal from the Temporal UI ends the product', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(rejectSignal, { by: 'bob' });
      assert.equal((await handle.result()).stage, 'rejected');
    });
  });

  it('request changes with an amended spec, then approve: the amended settings are provisioned', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const amendedSpec = { ...spec, outputTopic: { partitions: 12 } };
      const afterChanges = await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'requestChanges', by: 'alice', comment: 'needs 12 partitions', amendedSpec }],
      });
      assert.equal(
        afterChanges.stage,
        'proposed',
        'the amendment is checked again before the approvers see it',
      );
      assert.equal(afterChanges.revision, 2);
      assert.equal(afterChanges.spec.outputTopic.partitions, 12);
      const rechecked = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(
        rechecked.decisions.slice(3).map((d) => [d.action, d.by, d.stage, d.revision]),
        [
          ['requestChanges', 'alice', 'changesRequested', 1],
          ['amend', 'alice', 'proposed', 2],
          ['policyCheck', 'meshloop', 'proposed', 2],
          ['critique', 'meshloop', 'awaitingApproval', 2],
        ],
      );
      assert.deepEqual(
        fakes.callsOf('checkProductSql').map((call) => call.revision),
        [1, 2],
      );

      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'bob' }] });
      await waitForStatus(handle, stageIs('active'));
      assert.equal(fakes.callsOf('createKafkaTopic')[0]?.topic.partitions, 12);
      await recordHistory(handle, 'request-changes-then-approve');
    });
  });

  it('request changes without a spec waits for the owner to amend', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      const asked = await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'requestChanges', by: 'alice', comment: 'describe the currency' }],
      });
      assert.equal(asked.stage, 'changesRequested');

      const stranger = await refusal(
        handle.executeUpdate(amendSpecUpdate, {
          args: [{ by: 'mallory', spec: { ...spec, description: 'x' } }],
        }),
      );
      assert.equal(stranger.type, 'NotAllowed');

      const amended = await handle.executeUpdate(amendSpecUpdate, {
        args: [
          {
            by: spec.owner,
            spec: { ...spec, description: 'Revenue per channel per day, in EUR.' },
          },
        ],
      });
      assert.equal(amended.stage, 'proposed');
      assert.equal(amended.spec.description, 'Revenue per channel per day, in EUR.');
      await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(amended.approvals, []);
    });
  });

  it('refuses an unauthorised approver: the update with a reason, the signal recorded and ignored', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const before = await waitForStatus(handle, stageIs('awaitingApproval'));

      const refused = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'mallory' }] }),
      );
      assert.equal(refused.type, 'NotAnApprover');
      // Names no one: neither the sender nor the domain's approvers.
      assert.match(refused.message, /the sender is not an approver of domain orders/);
      assert.doesNotMatch(refused.message, /mallory|alice|bob/);

      await handle.signal(approveSignal, { by: 'mallory', comment: 'trust me' });
      const after = await waitForStatus(handle, (s) => s.ignored.length === 1);
      assert.equal(after.stage, 'awaitingApproval');
      assert.deepEqual(after.decisions, before.decisions, 'an ignored signal decides nothing');
      assert.deepEqual(
        after.ignored.map((m) => [m.by, m.action]),
        [['mallory', 'approve']],
      );
      assert.match(after.ignored[0]?.reason ?? '', /not an approver/);
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
      await recordHistory(handle, 'unauthorised-approver');
    });
  });

  it('refuses an invalid amendment and a wrong stage synchronously, with the reason', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));

      const invalid = await refusal(
        handle.executeUpdate(reviewUpdate, {
          args: [
            {
              action: 'requestChanges',
              by: 'alice',
              amendedSpec: { ...spec, outputTopic: { partitions: 0 } },
            },
          ],
        }),
      );
      assert.equal(invalid.type, 'InvalidSpec');
      assert.match(invalid.message, /outputTopic\.partitions: must be ≥ 1/);

      const renamed = await refusal(
        handle.executeUpdate(reviewUpdate, {
          args: [{ action: 'requestChanges', by: 'alice', amendedSpec: { ...spec, name: 'other_name' } }],
        }),
      );
      assert.match(renamed.message, /cannot change the product id/);

      const breaksPolicy = await refusal(
        handle.executeUpdate(reviewUpdate, {
          args: [{ action: 'requestChanges', by: 'alice', amendedSpec: { ...spec, description: '' } }],
        }),
      );
      assert.equal(breaksPolicy.type, 'PolicyDenied');

      const early = await refusal(handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] }));
      assert.equal(early.type, 'WrongStage');
      assert.match(early.message, /cannot retire a product that is awaitingApproval/);

      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      await waitForStatus(handle, stageIs('active'));
      const late = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'reject', by: 'bob' }] }),
      );
      assert.equal(late.type, 'WrongStage');
      assert.match(late.message, /cannot reject a product that is active/);

      const status = await handle.query(getStatusQuery);
      assert.equal(status.revision, 1, 'refused amendments changed nothing');
      assert.equal(status.ignored.length, 0, 'refused updates are not even recorded in history as decisions');
    });
  });

  it('a duplicate approval changes nothing', async () => {
    // Two approvals needed, so a second one from the same person could wrongly complete the quorum.
    const fakes = fakesWith({ requiredApprovals: 2 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));

      await handle.signal(approveSignal, { by: 'alice' });
      await handle.signal(approveSignal, { by: 'ALICE' });
      const status = await waitForStatus(handle, (s) => s.ignored.length === 1);
      assert.equal(status.stage, 'awaitingApproval');
      assert.deepEqual(status.approvals, ['alice']);
      assert.equal(status.decisions.filter((d) => d.action === 'approve').length, 1);
      assert.match(status.ignored[0]?.reason ?? '', /already approved revision 1/);

      const duplicate = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] }),
      );
      assert.equal(duplicate.type, 'DuplicateApproval');

      await handle.signal(approveSignal, { by: 'bob' });
      await waitForStatus(handle, stageIs('active'));
      await handle.signal(approveSignal, { by: 'bob' });
      const after = await waitForStatus(handle, (s) => s.ignored.length === 2);
      assert.equal(after.stage, 'active');
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1, 'provisioned once');
      await recordHistory(handle, 'duplicate-approval');
    });
  });

  it('reminds the approvers who have not approved, on the interval, while waiting', async () => {
    const fakes = fakesWith({ requiredApprovals: 2, reminderIntervalMs: 400, approvalDeadlineMs: 60_000 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'bob' });
      const reminded = await waitForStatus(handle, (s) => s.remindersSent >= 3);
      const reminders = fakes.callsOf('sendApprovalReminder');
      assert.ok(reminders.length >= 3);
      const last = reminders.at(-1)!;
      assert.deepEqual(last.approvers, ['alice'], 'bob already approved');
      assert.equal(last.deadline, reminded.deadline);
      assert.equal(last.productId, reminded.productId);

      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.deadline, undefined, 'no deadline once decided');
    });
  });

  it('expires when nobody decides before the deadline', async () => {
    const fakes = fakesWith({ approvalDeadlineMs: 1_500, reminderIntervalMs: 500 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const result = await handle.result();
      assert.equal(result.stage, 'expired');
      assert.deepEqual(result.decisions.at(-1)?.action, 'expire');
      assert.ok(result.remindersSent >= 1, 'reminded before expiring');
      assert.deepEqual(fakes.publishedStages(), ['awaitingApproval', 'expired']);
      assert.equal(fakes.callsOf('createKafkaTopic').length, 0);
      await recordHistory(handle, 'expiry');
    });
  });

  it('a policy violation sends the product back for changes before anyone is asked', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct({
      schema: {
        fields: [
          { name: 'email', type: 'string' },
          { name: 'day', type: 'date' },
        ],
      },
      outputTopic: { name: 'payments.stolen_name' },
    });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      const status = await waitForStatus(handle, stageIs('changesRequested'));
      assert.equal(status.lastError?.type, 'PolicyDenied');
      assert.deepEqual(status.policyViolations, [
        "outputTopic.name: 'payments.stolen_name' must start with the domain, 'orders.<name>'",
        "schema.fields[0]: 'email' looks like personal data; mark it pii: true (and say how it is masked)",
      ]);
      const approveNow = await refusal(
        handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] }),
      );
      assert.equal(approveNow.type, 'WrongStage');

      const fixed = await handle.executeUpdate(amendSpecUpdate, {
        args: [
          {
            by: 'alice',
            spec: {
              ...spec,
              outputTopic: {},
              schema: {
                fields: [
                  { name: 'email', type: 'string', pii: true },
                  { name: 'day', type: 'date' },
                ],
              },
              classification: {
                pii: true,
                level: 'confidential',
                masking: [{ field: 'email', strategy: 'hash' }],
              },
            },
          },
        ],
      });
      assert.equal(fixed.stage, 'proposed');
      const rechecked = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(rechecked.policyViolations, []);
      assert.equal(rechecked.lastError, undefined);
    });
  });

  it('a provisioning failure moves the product to failed with the reason; an operator retry makes it active', async () => {
    const fakes = new FakeActivities();
    fakes.topicFailures.push(
      ApplicationFailure.create({
        type: 'TopicConfigMismatch',
        message: 'topic exists with other settings: partitions 1, spec wants 3',
        nonRetryable: true,
      }),
    );
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const failed = await waitForStatus(handle, stageIs('failed'));
      assert.equal(failed.lastError?.type, 'TopicConfigMismatch');
      assert.match(failed.lastError?.message ?? '', /partitions 1, spec wants 3/);
      assert.deepEqual(failed.decisions.at(-1), {
        ...failed.decisions.at(-1),
        action: 'fail',
        stage: 'failed',
        comment: 'TopicConfigMismatch: topic exists with other settings: partitions 1, spec wants 3',
      });
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1, 'a non-retryable failure is not retried');
      await waitUntil(async () => Promise.resolve(fakes.publishedStages().includes('failed')), {
        timeoutMs: 10_000,
      });
      assert.deepEqual(fakes.publishedStages(), ['awaitingApproval', 'failed']);

      const nobody = await refusal(handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: ' ' }] }));
      assert.equal(nobody.type, 'InvalidRequest');
      const retried = await handle.executeUpdate(retryProvisioningUpdate, {
        args: [{ by: 'ops', comment: 'topic deleted' }],
      });
      assert.equal(retried.stage, 'provisioning');
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.lastError, undefined);
      assert.deepEqual(
        active.decisions.slice(-2).map((d) => [d.action, d.by]),
        [
          ['retryProvisioning', 'ops'],
          ['provision', 'meshloop'],
        ],
      );
      assert.equal(fakes.callsOf('createKafkaTopic').length, 2);
      const notFailed = await refusal(
        handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: 'ops' }] }),
      );
      assert.equal(notFailed.type, 'WrongStage');
      await recordHistory(handle, 'provisioning-failure-then-retry');
    });
  });

  it('refuses retirement while active products read it; force retires it and keeps the data', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));

      fakes.dependants = ['orders.weekly_revenue', 'web.conversion'];
      const refused = await refusal(handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] }));
      assert.equal(refused.type, 'RetirementRefused');
      assert.match(refused.message, /still read .*: orders\.weekly_revenue, web\.conversion/);
      assert.deepEqual(fakes.callsOf('findActiveDependants'), [{ productId: active.productId }]);
      assert.equal((await handle.query(getStatusQuery)).stage, 'active');

      const deprecated = await handle.executeUpdate(deprecateUpdate, {
        args: [{ by: 'ops', comment: 'use v2' }],
      });
      assert.equal(deprecated.stage, 'deprecated');

      const retired = await handle.executeUpdate(retireUpdate, {
        args: [{ by: 'ops', comment: 'consumers warned', force: true }],
      });
      assert.equal(retired.stage, 'retired');
      const result = await handle.result();
      assert.equal(result.stage, 'retired');
      assert.equal(
        result.decisions.find((d) => d.action === 'retire' && d.by === 'ops')?.comment,
        'consumers warned (forced)',
      );
      assert.deepEqual(
        result.resources.map((r) => r.kind),
        ['kafkaTopic', 'flinkJob', 'icebergTable', 'flinkJob'],
        'the topic and the table are kept',
      );
      assert.deepEqual(
        fakes.callsOf('stopMaterialization').map((call) => call.revision),
        [1],
        'the materialization stopped once too',
      );
      // The job stopped with a savepoint once (deprecation or retirement, whichever ran first).
      assert.deepEqual(
        fakes.callsOf('stopProductJob').map((call) => call.revision),
        [1],
      );
      assert.equal(result.job?.savepoint, `file:///savepoints/${active.productId}-r1`);
      assert.match(
        result.decisions.find((d) => d.by === 'meshloop' && /stopped/.test(d.comment ?? ''))?.comment ?? '',
        /stopped with savepoint/,
      );
      assert.deepEqual(fakes.publishedStages(), ['awaitingApproval', 'active', 'deprecated', 'retired']);
      assert.equal(fakes.callsOf('findActiveDependants').length, 1, 'force skips the check');
      await recordHistory(handle, 'retire-refused-then-forced');
    });
  });

  it('retires when nothing reads it', async () => {
    const fakes = new FakeActivities();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));
      const retired = await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      assert.equal(retired.stage, 'retired');
      assert.equal((await handle.result()).stage, 'retired');
    });
  });

  it('continues as new when history grows, keeping its state and every pending message', async () => {
    const fakes = fakesWith({ requiredApprovals: 2, reminderIntervalMs: 300 });
    const spec = uniqueProduct();
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec, { maxHistoryEvents: 40 }));
      const firstRunId = handle.firstExecutionRunId;
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice', comment: 'first of two' });
      // Reminders grow the history until the workflow continues as new.
      await waitForStatus(handle, (s) => s.continuedAsNew >= 1);

      // A burst of messages spans further continue-as-new boundaries: none may be lost.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => handle.signal(approveSignal, { by: `mallory${i}` })),
      );
      const flooded = await waitForStatus(handle, (s) => s.ignored.length === 20);
      assert.deepEqual(
        flooded.ignored.map((m) => m.by).sort(),
        Array.from({ length: 20 }, (_, i) => `mallory${i}`).sort(),
      );
      assert.deepEqual(flooded.approvals, ['alice'], "alice's approval survived");

      await handle.signal(approveSignal, { by: 'bob' });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.ok(active.continuedAsNew >= 1);
      assert.equal(active.decisions.find((d) => d.action === 'approve')?.comment, 'first of two');
      assert.equal(active.proposedAt, flooded.proposedAt);
      assert.equal(fakes.callsOf('createKafkaTopic').length, 1);
      const firstRun = context.client.workflow.getHandle(handle.workflowId, firstRunId);
      assert.equal((await firstRun.describe()).status.name, 'CONTINUED_AS_NEW');
      await recordHistory(firstRun, 'continue-as-new-first-run');
      // Close it so the recorded last run is a whole history that starts from carried state.
      assert.equal(
        (await executeWhenReady(() => handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] }))).stage,
        'retired',
      );
      const retired = await handle.result();
      assert.equal(retired.decisions.find((d) => d.action === 'approve')?.by, 'alice');
      await recordHistory(handle, 'continue-as-new-last-run');
    });
  });

  it('is findable by stage, domain, owner and kind in Temporal visibility', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct({ kind: 'consumer-aligned' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));

      const query = `MeshloopStage = 'active' AND MeshloopOwner = '${spec.owner}'`;
      let found: { id: string; domain?: string; kind?: string }[] = [];
      const outcome = await waitUntil(
        async () => {
          found = [];
          for await (const execution of context.client.workflow.list({ query })) {
            found.push({
              id: execution.workflowId,
              domain: execution.typedSearchAttributes.get(meshloopSearchAttributes.domain),
              kind: execution.typedSearchAttributes.get(meshloopSearchAttributes.kind),
            });
          }
          return found.length === 1;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      assert.equal(outcome, 'ready', `visibility found ${JSON.stringify(found)}`);
      assert.deepEqual(found, [{ id: handle.workflowId, domain: 'orders', kind: 'consumer-aligned' }]);
    });
  });
});

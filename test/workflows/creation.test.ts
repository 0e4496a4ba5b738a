import assert from 'node:assert/strict';
import {
  amendSpecUpdate,
  approveSignal,
  redeployUpdate,
  retireUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
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

/**
 * The creation stages of a product's workflow with fake activities: the SQL guard before approval,
 * deployment, the watch timer (degraded and back), redeploy, and stopping with a savepoint. The
 * activities themselves run against Flink in test/integration.
 */

describe('dataProductWorkflow creation stages (real Temporal server, fake activities)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('SQL the guard refuses sends the proposal back with the reasons; fixed SQL reaches the approvers', async () => {
    const fakes = fakesWith();
    fakes.sqlProblems = ["Flink refused the SQL: Object 'payments' not found"];
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM payments' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      const refused = await waitForStatus(handle, stageIs('changesRequested'));
      assert.deepEqual(refused.sqlProblems, ["Flink refused the SQL: Object 'payments' not found"]);
      assert.equal(refused.lastError?.type, 'SqlRefused');
      assert.match(refused.decisions.at(-1)?.comment ?? '', /the SQL guard refused the SQL: .*payments/);
      assert.equal(fakes.callsOf('sendApprovalReminder').length, 0);

      fakes.sqlProblems = [];
      await handle.executeUpdate(amendSpecUpdate, {
        args: [{ by: spec.owner, spec: { ...spec, sql: 'SELECT day, revenue FROM placed' } }],
      });
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.deepEqual(waiting.sqlProblems, []);
      assert.equal(waiting.revision, 2);
      assert.deepEqual(
        fakes.callsOf('checkProductSql').map((call) => [call.revision, call.spec.sql]),
        [
          [1, 'SELECT day, revenue FROM payments'],
          [2, 'SELECT day, revenue FROM placed'],
        ],
      );
    });
  });

  it('a failing job degrades the product with Flink’s reason; an operator’s redeploy restarts it from its last checkpoint', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));

      fakes.jobStatus = {
        state: 'FAILED',
        failure: 'org.apache.kafka.common.errors.TimeoutException: Topic orders.x not present in metadata',
        rejectedRecords: 3,
        // The topic was deleted: the job's own fault, no automatic recovery.
        outputTopicExists: false,
      };
      fakes.lastCheckpoint = 'file:///checkpoints/chk-7';
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(degraded.lastError?.type, 'JobUnhealthy');
      assert.match(degraded.lastError?.message ?? '', /is FAILED: .*Topic orders\.x not present/);
      assert.equal(degraded.decisions.at(-1)?.action, 'degrade');
      assert.equal(degraded.job?.rejectedRecords, 3);

      const outsider = await refusal(handle.executeUpdate(redeployUpdate, { args: [{ by: 'alice' }] }));
      assert.equal(outsider.type, 'NotAnOperator');

      fakes.stopsWithSavepoint = false;
      fakes.jobStatus = { state: 'RUNNING' };
      const redeploying = await handle.executeUpdate(redeployUpdate, {
        args: [{ by: 'ops', comment: 'topic recreated' }],
      });
      assert.equal(redeploying.stage, 'provisioning');
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.lastError, undefined);
      const deploys = fakes.callsOf('deployProductJob');
      assert.equal(deploys.length, 2);
      assert.equal(
        deploys[1]?.savepoint,
        undefined,
        'a failed job has no savepoint: Flink’s checkpoint serves',
      );
      assert.match(active.decisions.at(-1)?.comment ?? '', /last checkpoint of revision 1/);
      await recordHistory(handle, 'job-degraded-then-redeployed');
    });
  });

  it('a job without a task slot leaves provisioning degraded with that reason, and recovers when it runs', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    fakes.jobStatus = { state: 'CREATED', waitingForSlot: true };
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct({ sql: 'SELECT day, revenue FROM placed' })));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.match(degraded.lastError?.message ?? '', /waits for a task slot/);
      fakes.jobStatus = { state: 'RUNNING' };
      const recovered = await waitForStatus(handle, stageIs('active'));
      assert.equal(recovered.decisions.at(-1)?.action, 'recover');
    });
  });

  it('a job that fails at once fails provisioning with Flink’s root exception', async () => {
    const fakes = fakesWith();
    fakes.jobStatus = { state: 'FAILED', failure: 'java.lang.ArithmeticException: / by zero' };
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct({ sql: 'SELECT day, revenue FROM placed' })));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const failed = await waitForStatus(handle, stageIs('failed'));
      assert.equal(failed.lastError?.type, 'JobFailed');
      assert.match(failed.lastError?.message ?? '', /ArithmeticException: \/ by zero/);
    });
  });

  it('an amended spec approved again: the old job stops with a savepoint; same SQL resumes from it, new SQL starts from scratch', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));

      // Revision 2: only the description changes, so the state fits.
      await handle.executeUpdate(reviewUpdate, {
        args: [
          {
            action: 'requestChanges',
            by: 'bob',
            comment: 'say the currency',
            amendedSpec: { ...spec, description: 'Revenue per day, EUR.' },
          },
        ],
      });
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      const second = await waitForStatus(handle, (s) => s.stage === 'active' && s.job?.revision === 2);
      assert.match(second.decisions.at(-1)?.comment ?? '', /started from the savepoint of revision 1/);

      // Revision 3: the SQL changes, so the job starts from scratch.
      await handle.executeUpdate(reviewUpdate, {
        args: [
          {
            action: 'requestChanges',
            by: 'bob',
            amendedSpec: { ...spec, sql: 'SELECT day, revenue * 2 AS revenue FROM placed' },
          },
        ],
      });
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      const third = await waitForStatus(handle, (s) => s.stage === 'active' && s.job?.revision === 3);
      assert.match(third.decisions.at(-1)?.comment ?? '', /started from scratch: the SQL changed/);

      assert.deepEqual(
        fakes.callsOf('stopProductJob').map((call) => call.revision),
        [1, 2],
      );
      assert.deepEqual(
        fakes.callsOf('deployProductJob').map((call) => [call.revision, call.savepoint, call.fromScratch]),
        [
          [1, undefined, undefined],
          [2, `file:///savepoints/${second.productId}-r1`, undefined],
          [3, undefined, true],
        ],
      );

      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      const result = await handle.result();
      assert.equal(result.stage, 'retired');
      assert.equal(result.job?.savepoint, `file:///savepoints/${second.productId}-r3`);
      await recordHistory(handle, 'amended-running-product');
    });
  });
});

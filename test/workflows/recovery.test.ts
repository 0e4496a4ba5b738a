import assert from 'node:assert/strict';
import { approveSignal } from '../../workflows/definitions';
import type { FakeActivities } from '../helpers/workflows';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/**
 * Recovery without a person, with fake activities on a real Temporal server: the watch tells a
 * platform fault (a restarted JobManager that forgot the jobs, a lost TaskManager) from the job's
 * own (its SQL), redeploys after the platform's from the newest retained checkpoint with a backoff,
 * and records each attempt as a decision. The classifier and the backoff are unit-tested
 * (test/unit/job-faults.test.ts); the real thing runs in test/integration/chaos.test.ts.
 */

describe('dataProductWorkflow recovers from platform faults by itself (real Temporal server, fake activities)', function () {
  this.timeout(90_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  async function activeProduct(
    fakes: FakeActivities,
    start: Parameters<Parameters<typeof withWorker>[2]>[0]['start'],
  ) {
    const handle = await start(productInput(uniqueProduct({ sql: 'SELECT day, revenue FROM placed' })));
    await waitForStatus(handle, stageIs('awaitingApproval'));
    await handle.signal(approveSignal, { by: 'alice' });
    await waitForStatus(handle, stageIs('active'));
    return handle;
  }

  it('a restarted JobManager forgot the job and its materialization: both redeployed from their checkpoints on disk, recorded, active again', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await activeProduct(fakes, start);
      const deploysBefore = fakes.callsOf('deployProductJob').length;
      fakes.retainedCheckpoints.set('job-1', 'file:///flink/checkpoints/job-1/chk-42');
      fakes.retainedCheckpoints.set('materialize-1', 'file:///flink/checkpoints/materialize-1/chk-17');

      // The JobManager restarted: it knows neither job.
      fakes.jobStatus = { state: 'NOT_FOUND', jobId: undefined };
      fakes.tableStatus = { state: 'NOT_FOUND', jobId: undefined };
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.match(degraded.lastError?.message ?? '', /no longer exists in Flink/);
      assert.match(degraded.lastError?.message ?? '', /redeploys it from its last retained checkpoint/);
      // Flink answers again (the watch looked): the redeployed jobs run.
      fakes.jobStatus = { state: 'RUNNING' };
      fakes.tableStatus = { state: 'RUNNING' };

      const active = await waitForStatus(handle, stageIs('active'), 30_000);
      const deploys = fakes.callsOf('deployProductJob').slice(deploysBefore);
      assert.equal(deploys.length, 1, 'one redeploy, no operator');
      assert.equal(deploys[0]?.savepoint, 'file:///flink/checkpoints/job-1/chk-42');
      const restarts = fakes.callsOf('startMaterialization');
      assert.equal(restarts.at(-1)?.savepoint, 'file:///flink/checkpoints/materialize-1/chk-17');
      const recovery = active.decisions.at(-1);
      assert.equal(recovery?.action, 'recover');
      assert.equal(recovery?.by, 'meshloop');
      assert.equal(recovery?.stage, 'active');
      // What failed, what was done, from which checkpoint.
      assert.match(
        recovery?.comment ?? '',
        /^automatic recovery 1 of 8: the Flink job .* no longer exists in Flink/,
      );
      assert.match(
        recovery?.comment ?? '',
        /redeployed Flink job .* from checkpoint file:\/\/\/flink\/checkpoints\/job-1\/chk-42/,
      );
      assert.match(
        recovery?.comment ?? '',
        /restarted materialization .* from checkpoint file:\/\/\/flink\/checkpoints\/materialize-1\/chk-17/,
      );
      assert.equal(active.lastError, undefined);
      assert.deepEqual(
        fakes.callsOf('latestRetainedCheckpoint').map((call) => call.jobIds),
        [['job-1'], ['materialize-1']],
      );
      await recordHistory(handle, 'platform-fault-recovered');
    });
  });

  it('a lost TaskManager after Flink gave up: the first redeploy fails too and is recorded; the next one, after a longer wait, recovers', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await activeProduct(fakes, start);
      fakes.retainedCheckpoints.set('job-1', 'file:///flink/checkpoints/job-1/chk-9');
      const lost = {
        state: 'FAILED' as const,
        failure:
          'org.apache.flink.runtime.jobmaster.JobMasterException: TaskManager with id 127.0.0.1:36001-a is no longer reachable.',
        outputTopicExists: true,
      };
      fakes.jobStatus = lost;
      // The TaskManager comes back after the first redeploy: the second one runs.
      fakes.onDeploy = (deployment) => {
        if (deployment >= 3) fakes.jobStatus = { state: 'RUNNING' };
      };
      await waitForStatus(handle, stageIs('degraded'));
      const failedAttempt = await waitForStatus(
        handle,
        (s) => s.decisions.some((d) => /^automatic recovery 1 of 8/.test(d.comment ?? '')),
        30_000,
      );
      const first = failedAttempt.decisions.find((d) => /^automatic recovery 1 of 8/.test(d.comment ?? ''));
      assert.equal(first?.action, 'degrade');
      assert.equal(first?.stage, 'degraded');
      assert.match(first?.comment ?? '', /TaskManager with id .* is no longer reachable/);
      assert.match(first?.comment ?? '', /the job is not running: .*; next attempt in 10 s$/);
      const active = await waitForStatus(handle, stageIs('active'), 40_000);
      assert.match(
        active.decisions.at(-1)?.comment ?? '',
        /^automatic recovery 2 of 8: .*redeployed Flink job/,
      );
      // The second attempt resumed from the first job's checkpoint (the redeployed job kept none).
      const savepoints = fakes
        .callsOf('deployProductJob')
        .slice(1)
        .map((call) => call.savepoint);
      assert.deepEqual(savepoints, [
        'file:///flink/checkpoints/job-1/chk-9',
        'file:///flink/checkpoints/job-1/chk-9',
      ]);
    });
  });

  it("the job's own fault (its SQL) stays degraded with the reason: nothing is redeployed", async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await activeProduct(fakes, start);
      fakes.jobStatus = {
        state: 'FAILED',
        failure: 'java.lang.NumberFormatException: For input string: "12,50"',
        outputTopicExists: true,
      };
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.match(degraded.lastError?.message ?? '', /NumberFormatException/);
      // Longer than the first recovery's backoff: still degraded, nothing redeployed.
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      const still = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(fakes.callsOf('deployProductJob').length, 1);
      assert.equal(fakes.callsOf('latestRetainedCheckpoint').length, 0);
      assert.ok(!still.decisions.some((d) => /automatic recovery/.test(d.comment ?? '')));
    });
  });
});

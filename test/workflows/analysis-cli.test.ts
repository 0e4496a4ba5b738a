import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { CycleOutcome } from '../../src/domain/analysis';
import { createAnalysisScheduleActivities } from '../../activities/analysis';
import type { AnalysisScheduleRow } from '../../src/cli/analysis-commands';
import {
  checkAnalysable,
  formatAnalysisSchedules,
  listAnalysisSchedules,
  runAnalysisNow,
} from '../../src/cli/analysis-commands';
import { CliError } from '../../src/cli/product-commands';
import { analysisScheduleIdOf } from '../../src/domain/analysis';
import { productIdOf, parseSpec } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { productTableStatus } from '../../src/query/product-query';
import { waitUntil } from '../../src/stack/probe';
import type { WorkflowTestContext } from '../helpers/workflows';
import {
  FakeActivities,
  openWorkflowTestContext,
  productInput,
  stageIs,
  uniqueProduct,
  waitForStatus,
} from '../helpers/workflows';
import { temporalConnectOptions } from '../../src/config';
import { productMetricsSinks } from '../../src/metrics/worker';

/**
 * `meshloop analyse` and `analyse --status` against the real Temporal server: the cycle's DuckDB
 * steps are scripted (as in analysis.test.ts), the workflow, schedules and CLI calls are real.
 */
describe('meshloop analyse on the real Temporal server', function () {
  this.timeout(60_000);
  let context: WorkflowTestContext & { close: () => Promise<void> };
  const log = createLogger('analysis-cli-test', 'warn');

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });
  after(async () => {
    await context?.close();
  });

  const breachOf = (input: { productId: string; cycleKey: string }): CycleOutcome => ({
    productId: input.productId,
    cycleKey: input.cycleKey,
    snapshotId: '42',
    at: new Date().toISOString(),
    outcome: 'breach',
    rows: 1000,
    breaches: [{ rule: 'notNull:status', failing: 7, examples: ['o-1'], summary: '7 rows without status' }],
    findings: ['status: new value "lost"'],
  });

  async function withAnalysisWorker<T>(body: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `analysis-cli-test-${randomUUID()}`;
    const native = await NativeConnection.connect(temporalConnectOptions(context.config.temporal.connection));
    const worker = await Worker.create({
      sinks: productMetricsSinks(undefined),
      connection: native,
      namespace: context.config.temporal.namespace,
      taskQueue,
      workflowBundle: context.bundle,
      activities: {
        ...new FakeActivities().activities(),
        ...createAnalysisScheduleActivities({ client: context.client, taskQueue, log }),
        runAnalysisCycle: (input: { productId: string; cycleKey: string }) =>
          Promise.resolve(breachOf(input)),
        proposeFromAnalysis: () => Promise.resolve({ starts: [], knownDomains: [] }),
        recordAnalysisProposalOutcomes: () => Promise.resolve(),
      },
    });
    try {
      return await worker.runUntil(body(taskQueue));
    } finally {
      await native.close();
    }
  }

  it('runs one cycle now and returns its checks, with a progress line', async () => {
    const productId = `orders.p_${randomUUID().slice(0, 8)}`;
    const progress: string[] = [];
    const { workflowId, result } = await withAnalysisWorker((taskQueue) =>
      runAnalysisNow(context.client, { productId, taskQueue, progress: (m) => progress.push(m) }),
    );
    assert.match(workflowId, new RegExp(`^analysis:${productId.replace('.', '\\.')}-now-\\d{4}-`));
    assert.equal(result.summary.productId, productId);
    assert.equal(result.summary.outcome, 'breach');
    assert.deepEqual(
      result.summary.breaches.map((b) => [b.rule, b.failing]),
      [['notNull:status', 7]],
    );
    assert.deepEqual(result.started, []);
    assert.match(
      progress[0] ?? '',
      new RegExp(`analysis cycle ${workflowId.replace(/[.]/g, '\\.')} started`),
    );
  });

  it('lists the analysis schedules with interval, pause note, next run and the last run’s outcome', async () => {
    const productId = `orders.p_${randomUUID().slice(0, 8)}`;
    const schedules = createAnalysisScheduleActivities({ client: context.client, taskQueue: 'unused', log });
    await withAnalysisWorker(async (taskQueue) => {
      const scheduled = createAnalysisScheduleActivities({ client: context.client, taskQueue, log });
      await scheduled.ensureTemporalAnalysisSchedule({ productId, every: '30m' });
      try {
        await context.client.schedule.getHandle(analysisScheduleIdOf(productId)).trigger();
        let row: AnalysisScheduleRow | undefined;
        const found = await waitUntil(
          async () => {
            row = (await listAnalysisSchedules(context.client)).find((r) => r.productId === productId);
            return row?.lastRun?.outcome !== undefined;
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        assert.equal(found, 'ready', `last run not seen: ${JSON.stringify(row)}`);
        assert.equal(row!.scheduleId, `analysis:${productId}`);
        assert.equal(row!.everyMs, 1_800_000);
        assert.equal(row!.paused, false);
        assert.ok(row!.nextRunAt && Date.parse(row!.nextRunAt) > Date.now() - 60_000, row!.nextRunAt);
        assert.deepEqual(
          { ...row!.lastRun, workflowId: undefined, startedAt: undefined },
          {
            workflowId: undefined,
            startedAt: undefined,
            status: 'COMPLETED',
            outcome: 'breach',
            breaches: 1,
            started: 0,
          },
        );
        assert.match(
          row!.lastRun!.workflowId,
          new RegExp(`^analysis:${productId.replace('.', '\\.')}-cycle`),
        );

        await schedules.pauseTemporalAnalysisSchedule({ productId, note: 'degraded: notNull:status' });
        const paused = (await listAnalysisSchedules(context.client)).find((r) => r.productId === productId);
        assert.equal(paused?.paused, true);
        assert.equal(paused?.note, 'degraded: notNull:status');
        const line = formatAnalysisSchedules([paused]).split('\n')[1] ?? '';
        assert.match(
          line,
          new RegExp(
            `^${productId.replace('.', '\\.')} +30m +paused \\(degraded: notNull:status\\) +- +breach \\(1 rule\\) at `,
          ),
        );
      } finally {
        await schedules.deleteTemporalAnalysisSchedule({ productId });
      }
    });
    const gone = await listAnalysisSchedules(context.client);
    assert.ok(!gone.some((r) => r.productId === productId), 'a deleted schedule is not listed');
  });

  it('refuses an unknown product and a product without a table, each with a clear reason', async () => {
    const tableStatus = (id: string) => productTableStatus(context.config, id);
    await assert.rejects(
      checkAnalysable('orders.never_proposed_here', { client: context.client, tableStatus }),
      (error: Error) =>
        error instanceof CliError &&
        /^no such product: orders\.never_proposed_here$/.test(error.message) &&
        error.hint === '`meshloop list` shows the products' &&
        error.exitCode === 1,
    );
    const input = productInput(uniqueProduct());
    const productId = productIdOf(parseSpec(input.spec));
    await withAnalysisWorker(async (taskQueue) => {
      const handle = await context.client.workflow.start('dataProductWorkflow', {
        taskQueue,
        workflowId: `data-product:${productId}`,
        args: [input],
      });
      try {
        await waitForStatus(handle, stageIs('awaitingApproval'));
        await assert.rejects(
          checkAnalysable(productId, { client: context.client, tableStatus }),
          (error: Error) => {
            assert.ok(error instanceof CliError, String(error));
            assert.match(
              error.message,
              new RegExp(
                `^${productId.replace('.', '\\.')} has no Iceberg table yet \\(stage awaitingApproval\\)`,
              ),
            );
            return true;
          },
        );
      } finally {
        await handle.terminate('test finished').catch(() => undefined);
      }
    });
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { AnalysisCycleActivities } from '../../activities/analysis-cycle';
import type { AnalysisProposals, CycleOutcome } from '../../src/domain/analysis';
import { createAnalysisScheduleActivities } from '../../activities/analysis';
import type { ProposalOutcome } from '../../src/domain/proposals';
import { analyseProduct } from '../../src/analysis/analyst';
import { analysisScheduleIdOf, parseAnalysisCycleSummary } from '../../src/domain/analysis';
import { parseSpec, productIdOf, workflowIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { waitUntil } from '../../src/stack/probe';
import type { analysisWorkflow } from '../../workflows/analysis';
import { testPlatform } from '../helpers/platform';
import { FakeActivities, productInput, stageIs, uniqueProduct, waitForStatus } from '../helpers/workflows';
import { temporalConnectOptions } from '../../src/config';
import { productMetricsSinks } from '../../src/metrics/worker';

/** The DuckDB steps, scripted: the cycle's outcome and the analyst's proposals are the test's. */
class FakeCycle implements AnalysisCycleActivities {
  readonly recorded: ProposalOutcome[][] = [];
  readonly stored = new Map<string, CycleOutcome>();
  constructor(
    readonly outcome: (input: { productId: string; cycleKey: string }) => CycleOutcome,
    readonly proposals: AnalysisProposals,
  ) {}
  runAnalysisCycle(input: { productId: string; cycleKey: string }) {
    const outcome = this.outcome(input);
    this.stored.set(input.cycleKey, outcome);
    return Promise.resolve(outcome);
  }
  readStoredAnalysisCycle(input: { productId: string; cycleKey: string }) {
    return Promise.resolve(this.stored.get(input.cycleKey) ?? null);
  }
  proposeFromAnalysis() {
    return Promise.resolve(this.proposals);
  }
  recordAnalysisProposalOutcomes(input: { cycleKey: string; outcomes: ProposalOutcome[] }) {
    this.recorded.push(input.outcomes);
    return Promise.resolve();
  }
}

const quiet = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe('analysis schedules and analysisWorkflow (real Temporal server, fake DuckDB steps)', function () {
  this.timeout(60_000);
  let connection: Connection;
  let client: Client;
  let config: Awaited<ReturnType<typeof testPlatform>>;
  let bundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  const log = createLogger('analysis-test', 'warn');

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quiet });
  });
  after(async () => {
    await connection?.close();
  });

  async function withAnalysisWorker<T>(
    cycle: FakeCycle,
    body: (taskQueue: string) => Promise<T>,
  ): Promise<T> {
    const taskQueue = `analysis-test-${randomUUID()}`;
    const native = await NativeConnection.connect(temporalConnectOptions(config.temporal.connection));
    const worker = await Worker.create({
      sinks: productMetricsSinks(undefined),
      connection: native,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: bundle,
      activities: {
        ...new FakeActivities().activities(),
        ...createAnalysisScheduleActivities({ client, taskQueue, log }),
        runAnalysisCycle: cycle.runAnalysisCycle.bind(cycle),
        proposeFromAnalysis: cycle.proposeFromAnalysis.bind(cycle),
        recordAnalysisProposalOutcomes: cycle.recordAnalysisProposalOutcomes.bind(cycle),
        readStoredAnalysisCycle: cycle.readStoredAnalysisCycle.bind(cycle),
      },
    });
    try {
      return await worker.runUntil(body(taskQueue));
    } finally {
      await native.close();
    }
  }

  it('creates one schedule per product idempotently, pauses, resumes and deletes it', async () => {
    const productId = `orders.p_${randomUUID().slice(0, 8)}`;
    const schedules = createAnalysisScheduleActivities({ client, taskQueue: 'unused', log });
    const first = await schedules.ensureTemporalAnalysisSchedule({ productId, every: '30m' });
    assert.deepEqual(first, { scheduleId: `analysis:${productId}`, created: true, everyMs: 1_800_000 });
    const again = await schedules.ensureTemporalAnalysisSchedule({ productId, every: '2h' });
    assert.equal(again.created, false);
    const described = await schedules.describeTemporalAnalysisSchedule({ productId });
    assert.ok(
      described.exists && !described.paused && described.everyMs === 7_200_000,
      JSON.stringify(described),
    );
    assert.equal(
      await schedules.pauseTemporalAnalysisSchedule({ productId, note: 'degraded: notNull:customer_id' }),
      true,
    );
    const paused = await schedules.describeTemporalAnalysisSchedule({ productId });
    assert.ok(
      paused.exists && paused.paused && paused.note === 'degraded: notNull:customer_id',
      JSON.stringify(paused),
    );
    assert.equal(await schedules.resumeTemporalAnalysisSchedule({ productId, note: 'active again' }), true);
    const resumed = await schedules.describeTemporalAnalysisSchedule({ productId });
    assert.ok(resumed.exists && !resumed.paused, JSON.stringify(resumed));
    assert.equal(await schedules.deleteTemporalAnalysisSchedule({ productId }), true);
    assert.equal(await schedules.deleteTemporalAnalysisSchedule({ productId }), false);
    assert.deepEqual(await schedules.describeTemporalAnalysisSchedule({ productId }), { exists: false });
    assert.equal(await schedules.pauseTemporalAnalysisSchedule({ productId, note: 'x' }), false);
  });

  it('a cycle signals its summary to the product, starts the analyst’s proposal as a child product, and never twice', async () => {
    const parentInput = productInput(
      uniqueProduct({
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'status', type: 'string' },
            { name: 'amount', type: 'double' },
            { name: 'order_ts', type: 'timestamp' },
          ],
          key: ['order_id'],
          eventTimeField: 'order_ts',
        },
      }),
    );
    const parent = parseSpec(parentInput.spec);
    const productId = productIdOf(parent);
    const idea = analyseProduct({
      spec: parent,
      figures: {
        snapshotId: '42',
        rows: 1000,
        fields: [{ name: 'status', distinct: 3, nulls: 0 }],
        ruleHistory: {},
        query: 'SELECT approx_count_distinct("status") FROM t',
      },
      neighbours: [],
    }).proposals[0]!;
    const domain = {
      approvers: ['alice'],
      approvalDeadlineMs: 300_000,
      reminderIntervalMs: 60_000,
      businessGoals: [],
    };
    const cycle = new FakeCycle(
      ({ productId: id, cycleKey }) => ({
        productId: id,
        cycleKey,
        snapshotId: '42',
        at: '2026-03-01T12:00:00.000Z',
        outcome: 'breach',
        rows: 1000,
        breaches: [
          { rule: 'notNull:status', failing: 7, examples: ['o-1', 'o-2'], summary: '7 rows without status' },
        ],
        findings: [],
      }),
      {
        starts: [
          {
            proposalId: idea.proposalId,
            productId: productIdOf(idea.spec),
            workflowId: workflowIdOf(productIdOf(idea.spec)),
            spec: idea.spec,
            domain: domain as never,
          },
        ],
        knownDomains: ['orders'],
      },
    );
    await withAnalysisWorker(cycle, async (taskQueue) => {
      const product = await client.workflow.start('dataProductWorkflow', {
        taskQueue,
        workflowId: workflowIdOf(productId),
        args: [parentInput],
      });
      const children: string[] = [];
      try {
        await waitForStatus(product, stageIs('awaitingApproval'));
        const run = () =>
          client.workflow.execute<typeof analysisWorkflow>('analysisWorkflow', {
            taskQueue,
            workflowId: `analysis:${productId}-${randomUUID().slice(0, 8)}`,
            args: [{ productId }],
          });
        const first = await run();
        children.push(...first.started);
        assert.deepEqual(first.started, [productIdOf(idea.spec)]);
        assert.deepEqual(first.summary.proposals, [idea.proposalId]);
        assert.equal(first.summary.breaches[0]?.failing, 7);

        // The product's history holds the signal, and what it carries parses as a summary.
        const history = await product.fetchHistory();
        const signalled = (history.events ?? []).filter(
          (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'analysisCycle',
        );
        assert.equal(signalled.length, 1);

        const child = client.workflow.getHandle(workflowIdOf(productIdOf(idea.spec)));
        const status = await waitForStatus(child as never, stageIs('awaitingApproval'));
        assert.equal(status.spec.proposal?.parentProductId, productId);
        assert.match(status.spec.sql ?? '', /TUMBLE\(TABLE /);

        const second = await run();
        assert.deepEqual(second.started, []);
        assert.deepEqual(second.existing, [productIdOf(idea.spec)]);
        assert.deepEqual(
          cycle.recorded.map((outcomes) => outcomes.map((o) => o.outcome)),
          [['started'], ['exists']],
        );
        assert.ok(parseAnalysisCycleSummary(first.summary));
        assert.equal(parseAnalysisCycleSummary({ ...first.summary, breaches: 'all' }), undefined);
      } finally {
        await product.terminate('test finished').catch(() => undefined);
        for (const id of children)
          await client.workflow
            .getHandle(workflowIdOf(id))
            .terminate('test finished')
            .catch(() => undefined);
      }
    });
  });

  it('the schedule starts analysisWorkflow on the product’s queue', async () => {
    const productId = `orders.p_${randomUUID().slice(0, 8)}`;
    const cycle = new FakeCycle(
      ({ productId: id, cycleKey }) => ({
        productId: id,
        cycleKey,
        snapshotId: null,
        at: '2026-03-01T12:00:00.000Z',
        outcome: 'noData',
        rows: 0,
        breaches: [],
        findings: [],
      }),
      { starts: [], knownDomains: [] },
    );
    await withAnalysisWorker(cycle, async (taskQueue) => {
      const schedules = createAnalysisScheduleActivities({ client, taskQueue, log });
      await schedules.ensureTemporalAnalysisSchedule({ productId, every: '1h' });
      const handle = client.schedule.getHandle(analysisScheduleIdOf(productId));
      try {
        await handle.trigger();
        const outcome = await waitUntil(
          async () => {
            const described = await handle.describe();
            const started = described.info.recentActions[0]?.action.workflow.workflowId;
            if (!started) return false;
            const result = (await client.workflow.getHandle(started).result()) as {
              summary: { outcome: string };
            };
            return result.summary.outcome === 'noData';
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        assert.equal(outcome, 'ready', 'a scheduled analysis cycle ran');
      } finally {
        await schedules.deleteTemporalAnalysisSchedule({ productId });
      }
    });
  });
});

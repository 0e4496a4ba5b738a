import assert from 'node:assert/strict';
import type { AnalysisCycleSummary } from '../../src/domain/analysis';
import { KEPT_CYCLES } from '../../src/domain/analysis';
import { waitUntil } from '../../src/stack/probe';
import { analysisCycleSignal } from '../../workflows/analysis';
import { supersedes } from '../../src/domain/catalog';
import {
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  rejectSignal,
  retireUpdate,
} from '../../workflows/definitions';
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
 * The analysis stages of a product's workflow with fake activities: its schedule follows the stage
 * (running, paused, deleted), and cycle summaries degrade and recover it. The schedule activities
 * run against the real Temporal server in test/workflows/analysis.test.ts; the cycles against the
 * real platform in test/integration.
 */

/** Cycle times as cycles take them: now, and each later than the one before. */
let clock = 0;
const nextAt = () => new Date((clock = Math.max(clock + 1, Date.now()))).toISOString();

const cycle = (
  productId: string,
  key: string,
  outcome: AnalysisCycleSummary['outcome'],
  breaches: AnalysisCycleSummary['breaches'] = [],
  at: string = nextAt(),
): AnalysisCycleSummary => ({
  productId,
  cycleKey: key,
  snapshotId: '7051234567890123456',
  at,
  outcome,
  rows: 1200,
  breaches,
  findings: [],
  proposals: [],
});

/** A cycle that ran: its results are stored (as runAnalysisCycle does), then its summary is signalled. */
async function cycleRan(
  fakes: ReturnType<typeof fakesWith>,
  handle: { signal: (def: typeof analysisCycleSignal, summary: AnalysisCycleSummary) => Promise<void> },
  summary: AnalysisCycleSummary,
): Promise<void> {
  const { proposals: _shown, ...stored } = summary;
  fakes.storedCycles.set(summary.cycleKey, stored);
  await handle.signal(analysisCycleSignal, summary);
}

const nullCustomers = {
  rule: 'notNull:customer_id',
  failing: 3,
  examples: ['o-1', 'o-2', 'o-3'],
  summary: '3 rows have no customer_id',
};

describe('dataProductWorkflow analysis stages (real Temporal server, fake activities)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('a breach degrades the product with the rule and its figures; a later clean cycle makes it active again', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed', analysis: { every: '30m' } });
    const productId = `${spec.domain}.${spec.name}`;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.equal(fakes.schedules.size, 0, 'no schedule before the product runs');
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(
        handle,
        (s) => s.stage === 'active' && s.analysisSchedule !== undefined,
      );
      assert.deepEqual(active.analysisSchedule, { state: 'running', every: '30m' });
      assert.deepEqual(fakes.scheduleOf(productId), {
        exists: true,
        paused: false,
        everyMs: 1_800_000,
        note: undefined,
      });

      await cycleRan(fakes, handle, cycle(productId, 'c1', 'breach', [nullCustomers]));
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(degraded.degradedBy, 'analysis');
      assert.equal(degraded.lastError?.type, 'AnalysisBreach');
      assert.match(
        degraded.lastError?.message ?? '',
        /notNull:customer_id: 3 failing \(e\.g\. o-1, o-2, o-3\)/,
      );
      assert.equal(degraded.decisions.at(-1)?.action, 'degrade');
      // Only a later cycle can clear an analysis breach: the schedule keeps running.
      assert.equal(fakes.schedules.get(productId)?.paused, false);
      assert.equal(fakes.callsOf('pauseTemporalAnalysisSchedule').length, 0);

      await cycleRan(fakes, handle, cycle(productId, 'c2', 'breach', [nullCustomers]));
      await cycleRan(fakes, handle, cycle(productId, 'c3', 'pass'));
      const recovered = await waitForStatus(handle, stageIs('active'));
      assert.equal(recovered.degradedBy, undefined);
      assert.equal(recovered.lastError, undefined);
      assert.equal(recovered.decisions.at(-1)?.action, 'recover');
      assert.match(recovered.decisions.at(-1)?.comment ?? '', /analysis c3 passed every check/);
      assert.deepEqual(
        recovered.analysisCycles?.map((c) => [c.cycleKey, c.outcome]),
        [
          ['c1', 'breach'],
          ['c2', 'breach'],
          ['c3', 'pass'],
        ],
      );
      assert.ok(fakes.publishedStages().includes('degraded'), 'the catalog showed the breach');
      await recordHistory(handle, 'analysis-breach-then-recovered');
    });
  });

  it('summaries that are malformed, for another product or repeated change nothing; only the last few are kept', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));

      await handle.signal(analysisCycleSignal, { productId, outcome: 'breach' } as never);
      await handle.signal(analysisCycleSignal, 'x'.repeat(10_000) as never);
      await handle.signal(analysisCycleSignal, cycle('orders.someone_else', 'o1', 'breach', [nullCustomers]));
      for (let i = 0; i < KEPT_CYCLES + 2; i++)
        await cycleRan(fakes, handle, cycle(productId, `p${i}`, 'pass'));
      await waitForStatus(handle, (s) => s.analysisCycles?.at(-1)?.cycleKey === `p${KEPT_CYCLES + 1}`);
      // Repeated; never run (nothing stored: a forged breach); and one whose signal lies about its outcome.
      await handle.signal(
        analysisCycleSignal,
        cycle(productId, `p${KEPT_CYCLES + 1}`, 'breach', [nullCustomers]),
      );
      await handle.signal(analysisCycleSignal, cycle(productId, 'forged', 'breach', [nullCustomers]));
      const status = await waitForStatus(handle, (s) => s.ignored.length >= 5);
      assert.equal(status.stage, 'active');
      assert.deepEqual(
        status.ignored.map((i) => i.reason),
        [
          'not an analysis cycle summary',
          'not an analysis cycle summary',
          'a summary for orders.someone_else, not this product',
          `cycle p${KEPT_CYCLES + 1} was already received`,
          'no analysis cycle forged is stored: ignored',
        ],
      );
      assert.deepEqual(
        status.analysisCycles?.map((c) => c.cycleKey),
        Array.from({ length: KEPT_CYCLES }, (_, i) => `p${i + 2}`),
      );

      // What the cycle stored counts, not what the signal claims.
      fakes.storedCycles.set('stored-breach', {
        ...cycle(productId, 'stored-breach', 'breach', [nullCustomers]),
      });
      await handle.signal(analysisCycleSignal, cycle(productId, 'stored-breach', 'pass'));
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(degraded.analysisCycles?.at(-1)?.outcome, 'breach');
      assert.match(degraded.lastError?.message ?? '', /notNull:customer_id: 3 failing/);
    });
  });

  it('an old stored breach or pass signalled again changes nothing: only a cycle newer than the last applied counts', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    // A cycle stored before this product's life began (a product of the same id, retired since).
    const beforeLife = new Date(Date.now() - 86_400_000).toISOString();
    fakes.storedCycles.set('old-life', cycle(productId, 'old-life', 'breach', [nullCustomers], beforeLife));
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));

      await handle.signal(analysisCycleSignal, cycle(productId, 'old-life', 'breach', [nullCustomers]));
      const lifeIgnored = await waitForStatus(handle, (s) => s.ignored.length >= 1);
      assert.equal(lifeIgnored.stage, 'active');
      assert.match(
        lifeIgnored.ignored.at(-1)?.reason ?? '',
        /old-life .* older than this product's current life/,
      );

      // A pass stored early but signalled late (or signalled again): older than the breach applied since.
      const early = cycle(productId, 'early-pass', 'pass');
      const { proposals: _p, ...earlyStored } = early;
      fakes.storedCycles.set('early-pass', earlyStored);
      await cycleRan(fakes, handle, cycle(productId, 'b1', 'breach', [nullCustomers]));
      await waitForStatus(handle, stageIs('degraded'));
      await handle.signal(analysisCycleSignal, early);
      const passIgnored = await waitForStatus(handle, (s) => s.ignored.length >= 2);
      assert.equal(passIgnored.stage, 'degraded', 'an old pass does not recover the product');
      assert.match(
        passIgnored.ignored.at(-1)?.reason ?? '',
        /early-pass .* not newer than the last one applied/,
      );

      // A newer pass recovers it; then enough cycles that b1 is no longer kept, and b1 signalled again.
      await cycleRan(fakes, handle, cycle(productId, 'c2', 'pass'));
      await waitForStatus(handle, stageIs('active'));
      for (let i = 0; i < KEPT_CYCLES; i++) await cycleRan(fakes, handle, cycle(productId, `q${i}`, 'pass'));
      await waitForStatus(handle, (s) => s.analysisCycles?.at(-1)?.cycleKey === `q${KEPT_CYCLES - 1}`);
      assert.ok(!(await handle.query(getStatusQuery)).analysisCycles?.some((c) => c.cycleKey === 'b1'));
      await handle.signal(analysisCycleSignal, cycle(productId, 'b1', 'breach', [nullCustomers]));
      const breachIgnored = await waitForStatus(handle, (s) => s.ignored.length >= 3);
      assert.equal(breachIgnored.stage, 'active', 'an old breach does not degrade the product again');
      assert.match(breachIgnored.ignored.at(-1)?.reason ?? '', /b1 .* not newer than the last one applied/);
      assert.equal(
        breachIgnored.decisions.filter((d) => d.action === 'degrade').length,
        1,
        'degraded once, by b1 when it was new',
      );
      await recordHistory(handle, 'analysis-old-cycles-replayed');
    });
  });

  it('catalog descriptors name their run: a product proposed again after retirement supersedes its old life', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    await withWorker(context, fakes, async ({ start }) => {
      const first = await start(productInput(spec));
      await waitForStatus(first, stageIs('awaitingApproval'));
      await first.signal(approveSignal, { by: 'alice' });
      await waitForStatus(first, stageIs('active'));
      for (let i = 0; i < 3; i++)
        await cycleRan(fakes, first, cycle(`${spec.domain}.${spec.name}`, `l${i}`, 'pass'));
      await first.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      await first.result();
      const oldLife = fakes.callsOf('publishCatalogDescriptor').map((c) => c.descriptor);
      const retired = oldLife.at(-1);
      assert.equal(retired?.stage, 'retired');
      assert.equal(retired?.run?.id, first.firstExecutionRunId);

      const second = await start(productInput(spec));
      await waitForStatus(second, stageIs('awaitingApproval'));
      // The descriptor is published just after the stage is reached.
      const published = () =>
        fakes
          .callsOf('publishCatalogDescriptor')
          .slice(oldLife.length)
          .find((c) => c.descriptor.stage === 'awaitingApproval')?.descriptor;
      for (const deadline = Date.now() + 10_000; !published() && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const proposed = published();
      assert.ok(proposed && retired);
      assert.ok(proposed.version < retired.version, 'versions restart in the new life');
      assert.equal(proposed.run?.id, second.firstExecutionRunId);
      assert.ok(supersedes(proposed, retired), 'the new life wins over the old retired descriptor');
      assert.ok(!supersedes(retired, proposed), 'the old life read again does not win back');
      await second.signal(rejectSignal, { by: 'alice' });
      await second.result();
    });
  });

  it('the schedule pauses while the job is in trouble or the product is deprecated, and is deleted on retirement', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, (s) => s.analysisSchedule?.state === 'running');
      assert.deepEqual(fakes.scheduleOf(productId), {
        exists: true,
        paused: false,
        everyMs: 3_600_000,
        note: undefined,
      });

      fakes.jobStatus = { state: 'FAILED', failure: 'boom' };
      const paused = await waitForStatus(handle, (s) => s.analysisSchedule?.state === 'paused');
      assert.equal(paused.stage, 'degraded');
      assert.deepEqual(fakes.scheduleOf(productId), {
        exists: true,
        paused: true,
        everyMs: 3_600_000,
        note: 'product is degraded (job)',
      });

      fakes.jobStatus = { state: 'RUNNING' };
      await waitForStatus(handle, (s) => s.stage === 'active' && s.analysisSchedule?.state === 'running');
      assert.equal(fakes.schedules.get(productId)?.paused, false);
      assert.equal(fakes.callsOf('resumeTemporalAnalysisSchedule').length, 1);

      await handle.executeUpdate(deprecateUpdate, { args: [{ by: 'ops' }] });
      await waitForStatus(handle, (s) => s.analysisSchedule?.state === 'paused');
      assert.match(fakes.schedules.get(productId)?.note ?? '', /deprecated/);

      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      const retired = await handle.result();
      assert.equal(retired.stage, 'retired');
      assert.deepEqual(retired.analysisSchedule, { state: 'deleted', every: '1h' });
      assert.deepEqual(fakes.scheduleOf(productId), { exists: false });
      assert.equal(
        fakes.callsOf('ensureTemporalAnalysisSchedule').length,
        2,
        'created, then ensured again on resume',
      );
    });
  });

  it('keeps every degrade cause: a failing job and a breach at once; a passing cycle leaves the job, the job running again recovers', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, (s) => s.stage === 'active' && s.analysisSchedule?.state === 'running');

      await cycleRan(fakes, handle, cycle(productId, 'c1', 'breach', [nullCustomers]));
      await waitForStatus(handle, (s) => s.stage === 'degraded' && s.degradedBy === 'analysis');
      fakes.jobStatus = { state: 'FAILED', failure: 'boom' };
      const both = await waitForStatus(
        handle,
        (s) =>
          s.degradeCauses?.some((c) => c.by === 'job') === true && s.analysisSchedule?.state === 'paused',
      );
      assert.deepEqual(
        both.degradeCauses?.map((c) => [c.by, c.type]),
        [
          ['analysis', 'AnalysisBreach'],
          ['job', 'JobUnhealthy'],
        ],
      );
      // The more serious cause is the one shown; the schedule pauses for the job whatever the analysis found.
      assert.equal(both.degradedBy, 'job');
      assert.equal(both.lastError?.type, 'JobUnhealthy');
      assert.match(both.lastError?.message ?? '', /FAILED: boom/);
      assert.equal(fakes.schedules.get(productId)?.note, 'product is degraded (analysis, job)');

      await cycleRan(fakes, handle, cycle(productId, 'c2', 'pass'));
      const jobOnly = await waitForStatus(handle, (s) => s.analysisCycles?.at(-1)?.cycleKey === 'c2');
      assert.equal(
        jobOnly.stage,
        'degraded',
        'a passing cycle does not make a product with a failing job active',
      );
      assert.deepEqual(
        jobOnly.degradeCauses?.map((c) => c.by),
        ['job'],
      );
      assert.match(
        jobOnly.decisions.at(-1)?.comment ?? '',
        /analysis c2 passed every check.*; still degraded by job/,
      );

      fakes.jobStatus = { state: 'RUNNING' };
      const recovered = await waitForStatus(
        handle,
        (s) => s.stage === 'active' && s.analysisSchedule?.state === 'running',
      );
      assert.equal(recovered.degradedBy, undefined);
      assert.equal(recovered.degradeCauses, undefined);
      assert.equal(recovered.lastError, undefined);
      assert.equal(recovered.decisions.at(-1)?.action, 'recover');
    });
  });

  it("asks for its first cycle once its table's first commit is seen, once, then leaves cycles to the schedule", async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 200 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    const table = { table: `lake.${spec.domain}.${spec.name}`, provider: 'flink' as const };
    const triggers = () => fakes.callsOf('triggerTemporalAnalysisSchedule').length;
    const looks = () => fakes.callsOf('describeIcebergTable').length;
    const seen = async (what: string, ready: () => boolean) =>
      assert.equal(
        await waitUntil(() => Promise.resolve(ready()), { timeoutMs: 20_000, intervalMs: 50 }),
        'ready',
        what,
      );
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, (s) => s.stage === 'active' && s.analysisSchedule?.state === 'running');
      // An empty table: several looks, no cycle asked for.
      const emptyLooks = looks();
      await seen('the table is looked at while empty', () => looks() >= emptyLooks + 3);
      assert.equal(triggers(), 0, 'no cycle on a table without a commit');

      fakes.tableStatus = { table: { ...table, snapshots: 1, snapshotId: '101', rowCount: 40 } };
      await seen('the first commit asks for a cycle', () => triggers() === 1);
      assert.deepEqual(fakes.callsOf('triggerTemporalAnalysisSchedule')[0], { productId });
      const after = looks();
      fakes.tableStatus = { table: { ...table, snapshots: 2, snapshotId: '102', rowCount: 80 } };
      await seen('more commits are looked at', () => looks() >= after + 3);
      assert.equal(triggers(), 1, 'asked once: the cycle is on its way');

      await cycleRan(fakes, handle, cycle(productId, 'first', 'pass'));
      await waitForStatus(handle, (s) => s.analysisCycles?.at(-1)?.cycleKey === 'first');
      const later = looks();
      await seen('the table is looked at after the first cycle', () => looks() >= later + 3);
      assert.equal(triggers(), 1, 'later cycles come from the schedule');
    });
  });

  it("watches a new product's table closely until its first commit, whatever the mesh's watch timer", async () => {
    const fakes = fakesWith(); // the mesh's timer: 60 s
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    const table = { table: `lake.${spec.domain}.${spec.name}`, provider: 'flink' as const };
    const looks = () => fakes.callsOf('describeIcebergTable').length;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, (s) => s.stage === 'active' && s.analysisSchedule?.state === 'running');
      const before = looks();
      // Two more looks within 45 s: on the 60 s timer there would be none.
      const looked = await waitUntil(() => Promise.resolve(looks() >= before + 2), {
        timeoutMs: 45_000,
        intervalMs: 100,
      });
      assert.equal(looked, 'ready', `looks at the uncommitted table: ${looks() - before}`);
      fakes.tableStatus = { table: { ...table, snapshots: 1, snapshotId: '201', rowCount: 10 } };
      const asked = await waitUntil(
        () => Promise.resolve(fakes.callsOf('triggerTemporalAnalysisSchedule').length === 1),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      assert.equal(asked, 'ready', 'the first commit, seen on the close watch, asks for the first cycle');
      assert.deepEqual(fakes.callsOf('triggerTemporalAnalysisSchedule')[0], { productId });
    });
  });

  it('carries its analysis cycles and schedule over continue-as-new', async () => {
    const fakes = fakesWith();
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    const productId = `${spec.domain}.${spec.name}`;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec, { maxHistoryEvents: 80 }));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      await waitForStatus(handle, stageIs('active'));
      for (let i = 0; i < 30; i++) await cycleRan(fakes, handle, cycle(productId, `k${i}`, 'pass'));
      const status = await waitForStatus(
        handle,
        (s) => s.continuedAsNew >= 1 && s.analysisCycles?.at(-1)?.cycleKey === 'k29',
      );
      assert.equal(status.stage, 'active');
      assert.equal(status.analysisSchedule?.state, 'running');
      assert.equal(status.analysisCycles?.length, KEPT_CYCLES);
      assert.equal(
        fakes.callsOf('ensureTemporalAnalysisSchedule').length,
        1,
        'a new run does not recreate it',
      );
    });
  });
});

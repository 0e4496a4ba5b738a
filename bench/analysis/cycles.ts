/**
 * bench/analysis (the loop): 1,000 analysis cycles of one product through the real Temporal
 * server, each a real `analysisWorkflow` run that signals the product's real workflow, every tenth
 * one a breach (degrade, then recover on the next). The DuckDB step is scripted here (its cost is
 * bench/analysis/run.ts's); what is measured is what a long-lived product does to Temporal and the
 * worker:
 * - history events per run of the product's workflow: bounded by continue-as-new (Temporal's own
 *   suggestion, as in production), against the events all cycles wrote;
 * - the worker's RSS and heap after the last cycle against the same after the first 100 (the
 *   baseline, measured in the same run: our machines are noisy).
 *
 *   npm run bench:analysis-loop               # 1,000 cycles; BENCH_CYCLES=200 for a quick run
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { AnalysisCycleActivities } from '../../activities/analysis-cycle';
import type { CycleOutcome } from '../../src/domain/analysis';
import type { dataProductWorkflow } from '../../workflows/data-product';
import type { analysisWorkflow } from '../../workflows/analysis';
import { approveSignal, getStatusQuery } from '../../workflows/definitions';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';
import { fakesWith, uniqueProduct, workflowBundle } from '../../test/helpers/workflows';
import { waitUntil } from '../../src/stack/probe';
import { temporalConnectOptions } from '../../src/config';

const cycles = Number(process.env.BENCH_CYCLES ?? 1000);
const baselineAt = Math.min(100, Math.floor(cycles / 10));

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const config = await testPlatform();
  const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const taskQueue = `bench-analysis-${randomUUID()}`;
  const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
  const productId = `${spec.domain}.${spec.name}`;
  const fakes = fakesWith();

  let ran = 0;
  const stored = new Map<string, CycleOutcome>();
  const cycle: AnalysisCycleActivities = {
    runAnalysisCycle: (input): Promise<CycleOutcome> => {
      ran += 1;
      const breach = ran % 10 === 5;
      const outcome: CycleOutcome = {
        productId: input.productId,
        cycleKey: input.cycleKey,
        snapshotId: String(7_000_000_000_000_000_000n + BigInt(ran)),
        at: new Date().toISOString(),
        outcome: breach ? 'breach' : 'pass',
        rows: 1000 * ran,
        breaches: breach
          ? [{ rule: 'notNull:customer_id', failing: 3, examples: ['o-1', 'o-2'], summary: '3 rows' }]
          : [],
        findings: [`${1000} rows added`],
      };
      stored.set(input.cycleKey, outcome);
      return Promise.resolve(outcome);
    },
    // Kept to the last few cycles, as the product reads only the one it was told about.
    readStoredAnalysisCycle: (input) => {
      const outcome = stored.get(input.cycleKey) ?? null;
      stored.delete(input.cycleKey);
      return Promise.resolve(outcome);
    },
    proposeFromAnalysis: () => Promise.resolve({ starts: [], knownDomains: [] }),
    recordAnalysisProposalOutcomes: () => Promise.resolve(),
  };
  const native = await NativeConnection.connect(temporalConnectOptions(config.temporal.connection));
  const worker = await Worker.create({
    connection: native,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: { ...fakes.activities(), ...cycle },
  });

  console.log(`bench/analysis (loop): ${cycles} cycles of ${productId}`);
  const result = await worker.runUntil(async () => {
    const product = await client.workflow.start<typeof dataProductWorkflow>('dataProductWorkflow', {
      taskQueue,
      workflowId: `data-product:${productId}`,
      args: [{ spec }],
    });
    await waitUntil(async () => (await product.query(getStatusQuery)).stage === 'awaitingApproval', {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    await product.signal(approveSignal, { by: 'alice' });
    await waitUntil(async () => (await product.query(getStatusQuery)).stage === 'active', {
      timeoutMs: 30_000,
      intervalMs: 100,
    });

    let baseline: NodeJS.MemoryUsage | undefined;
    const began = Date.now();
    for (let i = 1; i <= cycles; i++) {
      await client.workflow.execute<typeof analysisWorkflow>('analysisWorkflow', {
        taskQueue,
        workflowId: `analysis:${productId}-bench-${i}`,
        args: [{ productId }],
      });
      if (i === baselineAt) {
        global.gc?.();
        baseline = process.memoryUsage();
      }
      if (i % 100 === 0) {
        const status = await product.query(getStatusQuery);
        console.log(
          `  ${i} cycles: product ${status.stage}, ${status.continuedAsNew} continue-as-new, RSS ${mb(process.memoryUsage().rss)} MB`,
        );
      }
    }
    const seconds = (Date.now() - began) / 1000;
    // The last signal is handled before the status shows it.
    await waitUntil(
      async () => (await product.query(getStatusQuery)).analysisCycles?.at(-1)?.rows === 1000 * cycles,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    global.gc?.();
    const end = process.memoryUsage();
    const status = await product.query(getStatusQuery);
    const runs: number[] = [];
    for await (const execution of client.workflow.list({
      query: `WorkflowId = 'data-product:${productId}'`,
    })) {
      // Visibility lists runs; their event counts come from describing each.
      const described = await client.workflow.getHandle(execution.workflowId, execution.runId).describe();
      runs.push(described.historyLength);
    }
    await product.terminate('bench finished');
    return { seconds, baseline: baseline ?? end, end, status, runs };
  });
  await native.close();
  await connection.close();

  const { baseline, end, status, runs } = result;
  const total = runs.reduce((sum, n) => sum + n, 0);
  const longest = Math.max(...runs);
  console.log('');
  console.log(
    `cycles:                 ${cycles} in ${result.seconds.toFixed(0)} s (${(cycles / result.seconds).toFixed(1)}/s)`,
  );
  console.log(`product at the end:     ${status.stage}, ${status.analysisCycles?.length ?? 0} cycles kept`);
  console.log(`product workflow runs:  ${runs.length} (continue-as-new ${status.continuedAsNew} times)`);
  console.log(
    `history events per run: longest ${longest}, all runs ${total} (longest/all ${(longest / total).toFixed(2)})`,
  );
  console.log(
    `worker RSS:             ${mb(baseline.rss)} MB after ${baselineAt} cycles → ${mb(end.rss)} MB after ${cycles} (ratio ${(end.rss / baseline.rss).toFixed(2)})`,
  );
  console.log(
    `worker heap used:       ${mb(baseline.heapUsed)} MB → ${mb(end.heapUsed)} MB (ratio ${(end.heapUsed / baseline.heapUsed).toFixed(2)})`,
  );
  if (process.env.MESHLOOP_TEST_KEEP_PLATFORM !== '1') await stopTestPlatform();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

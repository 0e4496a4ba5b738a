/**
 * The orchestration worker as `meshloop start` runs it (its own process, so its own Temporal
 * Runtime with the Prometheus exporter), on the test platform and a task queue of the test's
 * choosing: `node --import tsx test/helpers/metrics-worker.ts <task queue>`. The parent passes
 * testEnvironment(); this prints `ready` once the worker polls and stops on SIGTERM.
 */
import { createLogger } from '../../src/log';
import { installWorkerRuntime, startOrchestrationWorker } from '../../workers/orchestration';
import { testConfig } from './platform';

async function main(): Promise<void> {
  const taskQueue = process.argv[2];
  if (!taskQueue) throw new Error('usage: metrics-worker.ts <task queue>');
  const config = testConfig();
  const log = createLogger('metrics-worker', 'warn');
  installWorkerRuntime(log.child('sdk'), 'warn', config.metrics.port);
  const running = await startOrchestrationWorker(config, log, { taskQueue, stageGaugeIntervalMs: 1000 });
  process.once('SIGTERM', () => void running.shutdown());
  process.stdout.write('ready\n');
  await running.done;
}

main().catch((error: unknown) => {
  process.stderr.write(`metrics worker failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

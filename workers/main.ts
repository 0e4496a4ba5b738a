import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { startWebBesideWorker } from '../src/web/server';
import { installWorkerRuntime, startOrchestrationWorker } from './orchestration';

/** `node --import tsx workers/main.ts`: the orchestration worker as its own process. */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('worker', config.logLevel);
  installWorkerRuntime(log.child('sdk'), config.logLevel);
  const running = await startOrchestrationWorker(config, log);
  // The read-only web catalog is served beside the worker and stops with it.
  const web = await startWebBesideWorker(config, log);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.shutdown());
  await running.done.finally(() => web?.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

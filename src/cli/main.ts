import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config';
import { MeshloopError } from '../domain/errors';
import { createLogger } from '../log';
import { progressLine } from './output';
import { registerStackCommands, runStackUp } from './stack-commands';
import { registerSeedCommand } from '../seed/command';
import { registerDiscoverCommands, startDiscoveryDemo } from './discover-commands';
import { registerKeyCommands } from './key-commands';
import { registerSlackCommand, startSlackFromConfig } from './slack-commands';
import { registerProductCommands } from './product-commands';
import { registerQueryCommands } from './query-commands';
import { registerAnalysisCommands } from './analysis-commands';

export function buildProgram(): Command {
  const program = new Command('meshloop')
    .description('Meshloop: an agentic data mesh on Temporal, Kafka, Flink and Apache Iceberg')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('start')
    .description(
      'Bring up the local platform and run the worker in the foreground (what `npm start` runs); Ctrl-C stops the worker',
    )
    .option('--no-worker', 'only bring up the platform')
    .action(async (options: { worker: boolean }) => {
      await runStackUp();
      if (!options.worker) return;
      const config = loadConfig();
      const { installWorkerRuntime, startOrchestrationWorker } = await import('../../workers/orchestration');
      const log = createLogger('worker', config.logLevel);
      installWorkerRuntime(log.child('sdk'), config.logLevel);
      const running = await startOrchestrationWorker(config, log);
      await startDiscoveryDemo(config).catch((error: unknown) =>
        log.warn('discovery demo not started', {
          error: error instanceof Error ? error.message : String(error),
        }),
      );
      // The Slack app runs beside the worker when its settings are present; trouble there never stops the worker.
      const slack = config.slack
        ? await startSlackFromConfig(config, log).catch((error: unknown) => {
            log.warn('slack app not started', {
              error: error instanceof Error ? error.message : String(error),
            });
            return undefined;
          })
        : undefined;
      progressLine(
        `worker running on task queue '${config.temporal.taskQueue}'. Approve products in the Temporal UI ` +
          `(${config.temporal.uiUrl}) or with \`bin/meshloop approve\`. Ctrl-C stops the worker; ` +
          '`bin/meshloop stack down` stops the platform.',
      );
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        process.once(signal, () => void running.shutdown());
      await running.done;
      await slack?.close();
    });

  registerProductCommands(program);
  registerQueryCommands(program);
  registerAnalysisCommands(program);
  program
    .command('codec-server')
    .description(
      'serve /encode and /decode for the Temporal UI (127.0.0.1, CORS for the UI only); needs MESHLOOP_PAYLOAD_KEYS',
    )
    .action(async () => {
      const config = loadConfig();
      const { AesGcmPayloadCodec, parsePayloadKeys } = await import('../codec/payload-codec');
      const { createCodecServer, listenLocally } = await import('../codec/server');
      if (!config.codec.payloadKeys) {
        throw new MeshloopError('CliError', 'set MESHLOOP_PAYLOAD_KEYS first (see .env.example)', false);
      }
      const log = createLogger('codec-server', config.logLevel);
      const server = createCodecServer({
        codec: new AesGcmPayloadCodec(parsePayloadKeys(config.codec.payloadKeys)),
        uiOrigin: config.codec.uiOrigin,
        log,
      });
      const port = await listenLocally(server, config.codec.serverPort);
      process.stdout.write(
        `codec server on http://127.0.0.1:${port} for the Temporal UI at ${config.codec.uiOrigin}\n` +
          `(in the UI: Settings → Codec Server → http://127.0.0.1:${port}; Ctrl-C stops it)\n`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', () => server.close(() => resolve())));
    });
  registerStackCommands(program);
  registerSeedCommand(program);
  registerDiscoverCommands(program);
  registerKeyCommands(program);
  registerSlackCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    const prefix =
      error instanceof MeshloopError && error.type !== 'CliError' ? `error (${error.type})` : 'error';
    process.stderr.write(`${prefix}: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`error: ${String(error)}\n`);
      process.exit(1);
    },
  );
}

import type { Command } from 'commander';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { startWebServer } from '../web/server';

/** `meshloop web`: the read-only web catalog alone, without a worker. */
export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description(
      'Serve the read-only web catalog alone (products, lineage graph, product pages) at http://127.0.0.1:<MESHLOOP_WEB_PORT>; the worker serves it too',
    )
    .action(async () => {
      const config = loadConfig();
      const log = createLogger('web', config.logLevel);
      const server = await startWebServer(config, log);
      process.stdout.write(`web catalog on ${server.url} (read-only; Ctrl-C stops it)\n`);
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
      });
      await server.close();
    });
}

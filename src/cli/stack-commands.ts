import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { servicesElsewhere, stackDown, stackLogFiles, stackStatus, stackUp, tailOf } from '../stack/stack';
import { stackServices } from '../stack/services';
import { printJson, printResult, progressLine, table } from './output';
import { usageError } from './errors';
import { jsonOption, positiveInteger } from './options';

/** Service names given on the command line: each one `stack` knows, or a usage error listing them. */
function knownServices(names: readonly string[]): string[] {
  const known = stackServices.map((service) => service.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw usageError(
      `unknown service${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
      `the services are ${known.join(', ')}`,
    );
  return [...names];
}

export async function runStackUp(only: readonly string[] = [], json = false) {
  knownServices(only);
  const config = loadConfig();
  const began = Date.now();
  const elsewhere = servicesElsewhere(config.stack, only);
  for (const { service, setting, address } of elsewhere) {
    progressLine(`${service}: not started, your own platform's at ${address} (${setting})`);
  }
  if (only.length === 0 && elsewhere.length === stackServices.length) {
    progressLine(
      "nothing to start: every service is your own platform's (the settings above point there); " +
        '`bin/meshloop doctor` checks them',
    );
    return { config, results: [] };
  }
  progressLine(`data directory ${config.stack.dataDir}; cache ${config.stack.cacheDir}`);
  const results = await stackUp(config.stack, { only, progress: progressLine });
  const seconds = (Date.now() - began) / 1000;
  if (json) {
    printJson({ services: results, seconds, temporalUi: config.temporal.uiUrl });
    return { config, results };
  }
  console.log(
    table([
      ['SERVICE', 'STATE', 'PID', 'SECONDS', 'ADDRESS'],
      ...results.map((r) => [
        r.service,
        r.state,
        String(r.pid),
        r.seconds.toFixed(1),
        Object.values(r.urls).join('  '),
      ]),
    ]),
  );
  console.log(`\nplatform ready in ${seconds.toFixed(1)} s; Temporal UI: ${config.temporal.uiUrl}`);
  return { config, results };
}

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description('Run the local platform (Temporal, Kafka, ...) as plain processes on 127.0.0.1');

  stack
    .command('up')
    .description('Start every service that is not running (idempotent); downloads and builds on first use')
    .argument('[services...]', 'only these services (and what they need)')
    .addOption(
      jsonOption('print {services: [{service, state, pid, seconds, urls}], seconds, temporalUi} as JSON'),
    )
    .action(async (services: string[], options: { json: boolean }) => {
      await runStackUp(services, options.json);
    });

  stack
    .command('down')
    .description('Stop the processes `stack up` started; data is kept unless --purge')
    .argument('[services...]', 'only these services')
    .option('--purge', 'also delete their data (topics, workflow history, ...)', false)
    .addOption(jsonOption('print {services: [{service, outcome}], purged} as JSON'))
    .action(async (services: string[], options: { purge: boolean; json: boolean }) => {
      const config = loadConfig();
      const outcomes = await stackDown(config.stack, { only: knownServices(services), purge: options.purge });
      printResult(
        options.json,
        { services: outcomes, purged: options.purge ? config.stack.dataDir : null },
        () =>
          table([['SERVICE', 'RESULT'], ...outcomes.map((o) => [o.service, o.outcome])]) +
          (options.purge ? `\n\ndata deleted under ${config.stack.dataDir}` : ''),
      );
    });

  stack
    .command('status')
    .description("Show each service's health, pid and addresses")
    .option('--json', 'machine-readable output', false)
    .action(async (options: { json: boolean }) => {
      const config = loadConfig();
      const statuses = await stackStatus(config.stack);
      const elsewhere = servicesElsewhere(config.stack);
      if (options.json) {
        console.log(
          JSON.stringify(
            [...statuses, ...elsewhere.map((e) => ({ ...e, state: 'elsewhere' as const }))],
            null,
            2,
          ),
        );
      } else {
        console.log(
          table([
            ['SERVICE', 'HEALTH', 'PID', 'ADDRESS'],
            ...statuses.map((s) => [
              s.service,
              s.state,
              s.pid ? String(s.pid) : '-',
              Object.values(s.urls).join('  '),
            ]),
            ...elsewhere.map((e) => [e.service, 'elsewhere', '-', `${e.address} (${e.setting})`]),
          ]),
        );
        console.log(`\nlogs: ${config.stack.dataDir}/logs/`);
      }
      if (statuses.some((s) => s.state !== 'healthy')) process.exitCode = 3;
    });

  stack
    .command('logs')
    .description("Print the end of the services' logs")
    .argument('[services...]', 'only these services')
    .option('-n, --lines <n>', 'lines per service (1 to 100,000)', positiveInteger(100_000), 40)
    .option('-f, --follow', 'keep printing as the logs grow', false)
    .addOption(
      jsonOption('print [{service, file, lines: [text]}] as JSON (not with --follow)').conflicts('follow'),
    )
    .action(async (services: string[], options: { lines: number; follow: boolean; json: boolean }) => {
      const config = loadConfig();
      const files = stackLogFiles(config.stack, knownServices(services));
      const lines = options.lines;
      if (options.json) {
        const logs = [];
        for (const { service, file } of files)
          logs.push({
            service,
            file,
            lines: (await tailOf(file, lines)).split('\n').filter((l) => l !== ''),
          });
        printJson(logs);
        return;
      }
      if (files.length === 0) {
        console.log(`no logs yet under ${config.stack.dataDir}/logs; run \`meshloop stack up\` first`);
        return;
      }
      if (options.follow) {
        const child = spawn('tail', ['-n', String(lines), '-F', ...files.map((f) => f.file)], {
          stdio: 'inherit',
        });
        await new Promise((resolve) => child.once('exit', resolve));
        return;
      }
      for (const { service, file } of files) {
        console.log(`==> ${service} (${file}) <==\n${await tailOf(file, lines)}\n`);
      }
    });
}

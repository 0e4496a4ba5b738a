import type { Command } from 'commander';
import { loadConfig } from '../config';
import { describeSettings } from '../config/describe';
import { runDoctor } from './doctor';
import { table } from './output';

export function registerConfigCommands(program: Command): void {
  program
    .command('config')
    .description(
      'Print every effective setting and where it came from (default, .env, environment, Temporal profile); secrets masked',
    )
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const settings = describeSettings();
      if (options.json) {
        console.log(JSON.stringify({ settings }, null, 2));
        return;
      }
      console.log(
        table([
          ['SETTING', 'VALUE', 'SOURCE'],
          ...settings.map((s) => [
            s.key,
            s.value ?? '(unset)',
            s.detail ? `${s.source} (${s.detail})` : s.source,
          ]),
        ]),
      );
    });

  program
    .command('doctor')
    .description(
      'Check every configured endpoint with its real client (Temporal, Kafka, the Schema Registry, Flink SQL Gateway and REST, the Iceberg catalog and its object store); exits non-zero when one fails',
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const checks = await runDoctor(loadConfig());
      const ok = checks.every((c) => c.ok);
      if (options.json) console.log(JSON.stringify({ ok, checks }, null, 2));
      else {
        for (const c of checks) {
          console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.target}: ${c.detail}`);
          if (c.fix) console.log(`     ${''.padEnd(18)} fix: ${c.fix}`);
        }
      }
      if (!ok) process.exitCode = 1;
    });
}

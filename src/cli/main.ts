import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { registerStackCommands, runStackUp } from './stack-commands';
import { registerSeedCommand } from '../seed/command';

export function buildProgram(): Command {
  const program = new Command('meshloop')
    .description('Meshloop: an agentic data mesh on Temporal, Kafka, Flink and Apache Iceberg')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('start')
    .description('Bring up the local platform and print where to approve products (what `npm start` runs)')
    .action(async () => {
      await runStackUp();
    });

  registerStackCommands(program);
  registerSeedCommand(program);
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
    process.stderr.write(`error: ${(error as Error).message}\n`);
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

import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Help } from 'commander';
import { CliError, exitCodes, formatError, toCliError, usageError } from './errors';
import { outputDrained } from './output';
import type { MeshloopConfig } from '../config';
import type { Logger } from '../log';
import type * as analysisCommands from './analysis-commands';
import type * as configCommands from './config-commands';
import type * as contractCommands from './contract-commands';
import type * as discoverCommands from './discover-commands';
import type * as keyCommands from './key-commands';
import type * as mcpCommands from './mcp-commands';
import type * as productCommands from './product-commands';
import type * as queryCommands from './query-commands';
import type * as seedCommand from './seed-commands';
import type * as slackCommands from './slack-commands';
import type * as stackCommands from './stack-commands';
import type * as webCommands from './web-commands';

// Start-up: the command groups below load the Temporal, Kafka, Slack and DuckDB clients (about half a
// second), so this module imports none of them at the top. `meshloop --help` and `--version` print
// from the index below without loading any group; a command loads its own group only (`groupsFor`).
// When a group's top-level commands or their descriptions change, change the index with them:
// test/unit/cli.test.ts fails until `--help` reads the same with and without the groups loaded.

type Register = (program: Command) => void;
type CommandGroup = Readonly<{
  /** Each top-level command the group registers, as `--help` lists it: [term, description]. */
  commands: ReadonlyArray<readonly [term: string, description: string]>;
  load: () => Register;
}>;

/* eslint-disable @typescript-eslint/no-require-imports -- a group loads on demand, synchronously */
const groups = {
  product: {
    commands: [
      [
        'propose [options] <spec>',
        'Propose a data product from a spec file (YAML or JSON); it then waits for an approver',
      ],
      ['approve [options] <product>', 'Approve a proposed product (it is then provisioned)'],
      ['reject [options] <product>', 'Reject a proposed product'],
      ['request-changes [options] <product>', 'Send a proposal back with an amended spec'],
      ['list [options]', 'List data products, newest first'],
      [
        'show [options] <product>',
        "Show a product's stage, spec, evidence, decisions, resources, and its lineage of ideas (the product whose analysis proposed it, and those proposed from its analyses)",
      ],
      [
        'retire [options] <product>',
        'Retire a product (its data is kept); refused while active products read it, unless --force',
      ],
      ['retry [options] <product>', 'Retry provisioning of a failed product once its cause is fixed'],
      [
        'redeploy [options] <product>',
        "Restart an active, degraded or failed product's Flink job from its savepoint or last checkpoint",
      ],
      [
        'deprecate [options] <product>',
        'Mark a product as going away; its job stops with a savepoint, its topic stays readable',
      ],
      ['catalog [options]', 'Print the catalog: the newest descriptor of every product'],
    ],
    load: () => (require('./product-commands') as typeof productCommands).registerProductCommands,
  },
  query: {
    commands: [
      [
        'query [options] <product> [sql]',
        "SQL over a product's Iceberg table in embedded DuckDB, read-only; the table is `t` (without SQL: the first rows)",
      ],
      [
        'snapshots [options] <product>',
        "A product's Iceberg snapshots, oldest first (ids for `query --as-of`)",
      ],
    ],
    load: () => (require('./query-commands') as typeof queryCommands).registerQueryCommands,
  },
  analysis: {
    commands: [
      [
        'analyse|analyze [options] [product]',
        "Run one analysis cycle of a product now (quality rules, SLA and drift on its Iceberg table; the analyst's proposals) and print its checks; or list the analysis schedules",
      ],
    ],
    load: () => (require('./analysis-commands') as typeof analysisCommands).registerAnalysisCommands,
  },
  contract: {
    commands: [
      ['contract', 'Data contracts in the Open Data Contract Standard (ODCS v3.2.0): export, import'],
    ],
    load: () => (require('./contract-commands') as typeof contractCommands).registerContractCommands,
  },
  stack: {
    commands: [['stack', 'Run the local platform (Temporal, Kafka, ...) as plain processes on 127.0.0.1']],
    load: () => (require('./stack-commands') as typeof stackCommands).registerStackCommands,
  },
  seed: {
    commands: [
      [
        'seed [options]',
        'Produce a demo mesh into Kafka: orders, payments, shipments, customer profiles (PII), web clicks and inventory (its schema drifts), keyed, with event times, joinable ids and a few malformed records',
      ],
    ],
    load: () => (require('./seed-commands') as typeof seedCommand).registerSeedCommand,
  },
  discover: {
    commands: [
      [
        'discover [options]',
        'Profile the topics in Kafka and propose data products (once, now); or manage the discovery schedule',
      ],
    ],
    load: () => (require('./discover-commands') as typeof discoverCommands).registerDiscoverCommands,
  },
  keys: {
    commands: [['keys', 'Keys that sign approvals (mesh.yaml approvals.signing)']],
    load: () => (require('./key-commands') as typeof keyCommands).registerKeyCommands,
  },
  config: {
    commands: [
      [
        'config [options]',
        'Print every effective setting and where it came from (default, .env, environment, Temporal profile); secrets masked',
      ],
      [
        'doctor [options]',
        'Check every configured endpoint with its real client (Temporal, Kafka, the Schema Registry, Flink SQL Gateway and REST, the Iceberg catalog and its object store); exits non-zero when one fails',
      ],
    ],
    load: () => (require('./config-commands') as typeof configCommands).registerConfigCommands,
  },
  slack: {
    commands: [
      [
        'slack',
        'Run the Slack app alone: approvals from Slack (interactivity URL: http://<host>:<port>/slack/interactions)',
      ],
    ],
    load: () => (require('./slack-commands') as typeof slackCommands).registerSlackCommand,
  },
  mcp: {
    commands: [
      [
        'mcp',
        'Serve the mesh to AI assistants over MCP (stdio): list, search and show products, contracts, lineage, analysis, read-only queries, proposals; never approvals',
      ],
    ],
    load: () => (program: Command) =>
      (require('./mcp-commands') as typeof mcpCommands).registerMcpCommand(program, packageVersion()),
  },
  web: {
    commands: [
      [
        'web',
        'Serve the read-only web catalog alone (products, lineage graph, product pages) at http://127.0.0.1:<MESHLOOP_WEB_PORT>; the worker serves it too',
      ],
    ],
    load: () => (require('./web-commands') as typeof webCommands).registerWebCommand,
  },
} satisfies Record<string, CommandGroup>;
/* eslint-enable @typescript-eslint/no-require-imports */

type GroupName = keyof typeof groups;
const allGroups = Object.keys(groups) as GroupName[];

/** The version in package.json (the first one above this file, whether it runs from src/ or dist/src/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file))
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

function registerStart(program: Command): void {
  program
    .command('start')
    .description(
      'Bring up the local platform (the services no setting points at your own) and run the worker and the discovery schedule in the foreground (what `npm start` runs); Ctrl-C stops the worker',
    )
    .option('--no-worker', 'only bring up the platform')
    .action(async (options: { worker: boolean }) => {
      const { runStackUp } = await import('./stack-commands');
      // The worker's workflow code is bundled while the platform comes up (downloads on a cold start),
      // not after it; should bundling fail here, the worker bundles on its own.
      const bundling = options.worker
        ? import('../../workers/orchestration')
            .then(({ bundleOrchestrationWorkflows }) => bundleOrchestrationWorkflows())
            .catch(() => undefined)
        : undefined;
      await runStackUp();
      if (!options.worker) return;
      const { loadConfig } = await import('../config');
      const { createLogger } = await import('../log');
      const { progressLine } = await import('./output');
      const config = loadConfig();
      const { installWorkerRuntime, startOrchestrationWorker } = await import('../../workers/orchestration');
      const log = createLogger('worker', config.logLevel);
      installWorkerRuntime(log.child('sdk'), config.logLevel, config.metrics.port);
      const workflowBundle = await bundling;
      const running = await startOrchestrationWorker(config, log, workflowBundle ? { workflowBundle } : {});
      const { startDemoFeed, startDiscoveryDemo } = await import('./discover-commands');
      const demo = await startDiscoveryDemo(config).catch((error: unknown) => {
        log.warn('discovery demo not started', {
          error: error instanceof Error ? error.message : String(error),
        });
        return undefined;
      });
      // The demo stays alive: fresh records a few a second, once the first discovery saw the seed.
      const feed =
        demo?.demoData && config.demo.feedRate > 0
          ? startDemoFeed(config, log.child('demo-feed'), demo.firstDiscovery)
          : undefined;
      // The Slack app runs beside the worker when its settings are present; trouble there never stops the worker.
      const slack = config.slack ? await startSlack(config, log) : undefined;
      // The read-only web catalog beside the worker; a taken port is logged, the worker runs on.
      const { startWebBesideWorker } = await import('../web/server');
      const web = await startWebBesideWorker(config, log);
      progressLine(
        `worker running on task queue '${config.temporal.taskQueue}'.${web ? ` Web catalog: ${web.url}.` : ''} Approve products in the Temporal UI ` +
          `(${config.temporal.uiUrl}) or with \`bin/meshloop approve\`. Ctrl-C stops the worker; ` +
          '`bin/meshloop stack down` stops the platform.',
      );
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        process.once(signal, () => {
          void feed?.stop();
          void running.shutdown();
        });
      await running.done;
      await feed?.stop();
      await slack?.close();
      await web?.close();
    });
}

function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'Run the orchestration worker alone, in the foreground, against the configured platform (no stack up, no demo); Ctrl-C stops it',
    )
    .action(async () => {
      const { loadConfig } = await import('../config');
      const { createLogger } = await import('../log');
      const { installWorkerRuntime, startOrchestrationWorker } = await import('../../workers/orchestration');
      const config = loadConfig();
      const log = createLogger('worker', config.logLevel);
      installWorkerRuntime(log.child('sdk'), config.logLevel);
      const running = await startOrchestrationWorker(config, log);
      const { progressLine } = await import('./output');
      progressLine(`worker running on task queue '${config.temporal.taskQueue}'; Ctrl-C stops it`);
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        process.once(signal, () => void running.shutdown());
      await running.done;
    });
}

async function startSlack(config: MeshloopConfig, log: Logger) {
  const { startSlackFromConfig } = await import('./slack-commands');
  return startSlackFromConfig(config, log).catch((error: unknown) => {
    log.warn('slack app not started', { error: error instanceof Error ? error.message : String(error) });
    return undefined;
  });
}

function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      'serve /encode and /decode for the Temporal UI (127.0.0.1, CORS for the UI only); needs MESHLOOP_PAYLOAD_KEYS',
    )
    .action(async () => {
      const { loadConfig } = await import('../config');
      const { createLogger } = await import('../log');
      const config = loadConfig();
      const { AesGcmPayloadCodec, parsePayloadKeys } = await import('../codec/payload-codec');
      const { createCodecServer, listenLocally } = await import('../codec/server');
      if (!config.codec.payloadKeys) {
        throw new CliError('MESHLOOP_PAYLOAD_KEYS is not set', {
          kind: 'config',
          hint: 'set MESHLOOP_PAYLOAD_KEYS (see .env.example) and run it again',
        });
      }
      const log = createLogger('codec-server', config.logLevel);
      const server = createCodecServer({
        codec: new AesGcmPayloadCodec(parsePayloadKeys(config.codec.payloadKeys)),
        uiOrigin: config.codec.uiOrigin,
        token: config.codec.serverToken!,
        log,
      });
      const port = await listenLocally(server, config.codec.serverPort);
      process.stdout.write(
        `codec server on http://127.0.0.1:${port} for the Temporal UI at ${config.codec.uiOrigin}\n` +
          `(stack up gives Temporal its endpoint; to set it by hand, in the UI: Settings → Codec Server →\n` +
          ` http://127.0.0.1:${port}/${config.codec.serverToken!} , a credential: keep it to yourself; Ctrl-C stops it)\n`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', () => server.close(() => resolve())));
    });
}

/**
 * The program with the named groups registered in full; every other group's commands are listed
 * (name, term and description, as `--help` shows them) but not loaded.
 */
function programWith(loaded: ReadonlySet<GroupName>): Command {
  const program = new Command('meshloop')
    .description('Meshloop: an agentic data mesh on Temporal, Kafka, Flink and Apache Iceberg')
    .version(packageVersion())
    // Usage mistakes are printed by main() like every other error (with a hint, or as JSON).
    .configureOutput({ outputError: () => undefined })
    .exitOverride();
  const listed = new Map<Command, string>();
  const add = (name: GroupName) => {
    if (loaded.has(name)) return groups[name].load()(program);
    for (const [term, description] of groups[name].commands) {
      const [names = ''] = term.split(' ');
      const [command = '', ...aliases] = names.split('|');
      const stub = program.command(command).description(description).aliases(aliases);
      listed.set(stub, term);
    }
  };
  const helper = new Help();
  program.configureHelp({
    subcommandTerm: (command) => listed.get(command) ?? helper.subcommandTerm(command),
  });
  registerStart(program);
  registerWorker(program);
  add('product');
  add('query');
  add('analysis');
  add('contract');
  registerCodecServer(program);
  add('stack');
  add('seed');
  add('discover');
  add('keys');
  add('config');
  add('slack');
  add('mcp');
  add('web');
  return program;
}

/** Every command, registered in full. */
export function buildProgram(): Command {
  return programWith(new Set(allGroups));
}

/**
 * The groups a command line needs: none for `--help`, `--version` and the commands defined here, the
 * command's own group otherwise (`help <command>` too), and all of them for a name the index does not know.
 */
export function groupsFor(argv: readonly string[]): Set<GroupName> {
  const words = argv.filter((arg) => !arg.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  if (name === undefined || ['start', 'worker', 'codec-server', 'help'].includes(name)) return new Set();
  const owner = allGroups.find((group) =>
    groups[group].commands.some(([term]) => (term.split(' ')[0] ?? '').split('|').includes(name)),
  );
  return new Set(owner ? [owner] : allGroups);
}

/** The program a command line needs: the groups of `groupsFor`, the others listed only. */
export function programFor(argv: readonly string[]): Command {
  return programWith(groupsFor(argv));
}

/** `--json` anywhere before a `--`: errors are then printed as the JSON envelope too. */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** Commander's own exits: help and version are answers (0); everything else is a usage mistake. */
function commanderOutcome(error: CommanderError, argv: readonly string[]): number | CliError {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
  // A command given no subcommand (`meshloop stack`) has had its help printed on stderr already.
  if (error.code === 'commander.help') return exitCodes.usage;
  const words = argv.filter((arg) => !arg.startsWith('-'));
  const command = groupsFor(argv).size === 1 ? ` ${words[0] ?? ''}` : '';
  return usageError(error.message.replace(/^error: /, ''), `\`meshloop${command} --help\` shows the usage`);
}

/** Runs a command line; prints any failure (as JSON with `--json`) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let failure: CliError;
  try {
    await programFor(argv).parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      const outcome = commanderOutcome(error, argv);
      if (typeof outcome === 'number') return outcome;
      failure = outcome;
    } else failure = toCliError(error);
  }
  process.stderr.write(formatError(failure, wantsJson(argv)));
  return failure.exitCode;
}

if (require.main === module) {
  // The exit waits for stdout to drain: a slow reader of a pipe gets every byte.
  const exit = (code: number) => outputDrained().finally(() => process.exit(code));
  main(process.argv.slice(2)).then(exit, (error: unknown) => {
    process.stderr.write(`error: ${String(error)}\n`);
    return exit(1);
  });
}

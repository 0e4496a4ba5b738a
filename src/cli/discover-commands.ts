import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig, temporalConnectOptions } from '../config';
import { parseDuration } from '../domain/duration';
import { CliError, usageError } from './errors';
import { connectTemporal, fromTemporal, requireWorker } from './temporal';
import { choiceOption, jsonOption, positiveInteger } from './options';
import { ScheduleNotFoundError } from '@temporalio/client';
import {
  DISCOVERY_SCHEDULE_ID,
  describeDiscoverySchedule,
  discoveryInputOf,
  ensureDiscoverySchedule,
  setDiscoveryPaused,
} from '../discovery/schedule';
import type { DiscoveryResult, discoveryWorkflow } from '../../workflows/discovery';
import { discoveryWorkflowType } from '../../workflows/discovery';
import { createKafkaClient } from '../adapters/kafka/client';
import { listDataTopics } from '../adapters/kafka/sampler';
import type { MeshloopConfig } from '../config';
import { seedTopics } from '../seed/generator';
import { registryAddress } from '../adapters/schema-registry/client';
import type { SeedCheck } from '../seed/seed';
import { checkSeed, seedKafka } from '../seed/seed';
import { feedKafka } from '../seed/feed';
import type { Logger } from '../log';
import { registryTopics } from '../seed/registry-generator';
import { seedRegistryTopics } from '../seed/registry-seed';
import { printResult, progressLine, table } from './output';
import { dataConverterFor } from '../codec/payload-codec';

type DiscoverOptions = {
  schedule?: boolean;
  every?: number;
  pause?: boolean;
  resume?: boolean;
  status?: boolean;
  agent: 'auto' | 'planner';
  topicPrefix?: string;
  maxMessages?: number;
  wait: boolean;
  json: boolean;
};

const interval = (value: string) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 60_000)
    throw new InvalidArgumentError("a duration of at least 1m, e.g. '30m'");
  return ms;
};

export function formatDiscoveryResult(result: DiscoveryResult): string {
  const lines = [
    table([
      ['TOPIC', 'SAMPLED', 'UNPARSEABLE', 'MISTYPED', 'REDELIVERED', 'PII FIELDS', 'STOPPED BY'],
      ...result.topics.map((t) => [
        t.topic,
        String(t.records),
        String(t.unparseable),
        String(t.mistyped ?? 0),
        String(t.duplicates ?? 0),
        String(t.piiFields),
        t.stoppedBy,
      ]),
    ]),
    '',
    `agent: ${result.agent}${result.llmFailure ? ` (the LLM failed: ${result.llmFailure})` : ''}`,
    `proposed now (waiting for approval): ${result.started.length === 0 ? 'nothing new' : result.started.join(', ')}`,
  ];
  if (result.existing.length > 0) lines.push(`already had a workflow: ${result.existing.join(', ')}`);
  for (const line of result.dismissedUnchanged ?? []) lines.push(`not proposed again: ${line}`);
  lines.push(
    `proposed before: ${result.alreadyProposed}; dropped: ${result.dropped}; topics skipped: ${result.skipped}`,
    `profiles: ${result.profilesFile}`,
    `report:   ${result.reportFile}`,
  );
  if (result.started[0]) lines.push(`\nsee the evidence with \`meshloop show ${result.started[0]}\``);
  return lines.join('\n');
}

/** The demo seed `npm start` writes once: 10,000 JSON records (seed 42), then 2,000 through the registry. */
export const DEMO_SEED_COUNT = 10_000;
const DEMO_REGISTRY_COUNT = 2000;

const describeCounts = (rows: SeedCheck['short']) =>
  rows.map((r) => `${r.topic} holds ${r.holds} of ${r.expected}`).join(', ');

/**
 * The demo mesh's topics on the local Kafka, written once (a restart finds them). Discovery must
 * see the whole seed, exactly once: the seed is checked against what the generator writes, and a
 * seed an earlier start left half-written is reported instead of proposed from. True when the
 * JSON seed is complete.
 */
async function seedDemoOnce(config: MeshloopConfig): Promise<boolean> {
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-demo' });
  const topics = await listDataTopics(kafka);
  if (!topics.includes(seedTopics.orders)) {
    progressLine(
      `seeding the demo mesh (${DEMO_SEED_COUNT.toLocaleString('en')} records; \`bin/meshloop seed\` adds more)`,
    );
    await seedKafka(kafka, { count: DEMO_SEED_COUNT });
    const check = await checkSeed(kafka, { count: DEMO_SEED_COUNT });
    // Nothing else writes these topics yet: more records than sent is a batch written twice.
    if (check.over.length > 0)
      progressLine(
        `the demo seed landed more records than it sent (${describeCounts(check.over)}): ` +
          'discovery may see duplicate keys; `bin/meshloop stack down --purge` and `npm start` again',
      );
  } else {
    const check = await checkSeed(kafka, { count: DEMO_SEED_COUNT });
    if (!check.complete) {
      progressLine(
        `the demo seed in Kafka is incomplete (${describeCounts(check.short)}): an earlier start was ` +
          'stopped while seeding. Discovery is not started on part of it; `bin/meshloop stack down --purge` ' +
          'and `npm start` again seeds it whole.',
      );
      return false;
    }
  }
  if (!topics.includes(registryTopics.loyalty)) {
    progressLine(
      `seeding the Avro and Protobuf domains through the Schema Registry (${DEMO_REGISTRY_COUNT.toLocaleString('en')} records)`,
    );
    // The JSON demo works without them: a registry that fails is reported, not fatal.
    await seedRegistryTopics(kafka, config.schemaRegistry, { count: DEMO_REGISTRY_COUNT }).catch(
      (error: Error) =>
        progressLine(
          `the Schema Registry at ${registryAddress(config.schemaRegistry)} failed (${error.message}); ` +
            '`bin/meshloop seed --only loyalty,support` tries again',
        ),
    );
  }
  return true;
}

export type DiscoveryDemo = Readonly<{
  /** The demo data is on the local Kafka and whole: a live feed may run on it. */
  demoData: boolean;
  /** Settles when the first discovery run (started now) has ended; at once when none was started. */
  firstDiscovery: Promise<void>;
}>;

/** The discovery run a schedule's trigger started, awaited (bounded); never throws. */
async function awaitTriggeredRun(client: Client, boundMs: number): Promise<void> {
  const handle = client.schedule.getHandle(DISCOVERY_SCHEDULE_ID);
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    const info = (await handle.describe().catch(() => undefined))?.info;
    const action = info?.runningActions[0] ?? info?.recentActions[0]?.action;
    if (action) {
      const run = client.workflow.getHandle(action.workflow.workflowId, action.workflow.firstExecutionRunId);
      await Promise.race([
        run.result().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now()))),
      ]);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * What `npm start` gives besides the worker: on the local platform the demo mesh seeded once (when its
 * topics are missing); on any platform the discovery schedule in place, its first run now, so
 * proposals appear without further steps.
 */
export async function startDiscoveryDemo(config: MeshloopConfig): Promise<DiscoveryDemo> {
  let demoData = false;
  if (config.stack.elsewhere.kafka) {
    // Your own Kafka holds your data: demo records are written there only when asked (`meshloop seed`).
    progressLine(
      `Kafka is your own platform's (${config.stack.elsewhere.kafka.setting}): no demo data is seeded`,
    );
  } else {
    demoData = await seedDemoOnce(config);
    if (!demoData) return { demoData, firstDiscovery: Promise.resolve() };
  }
  const connection = await Connection.connect({
    ...temporalConnectOptions(config.temporal.connection),
    connectTimeout: 3000,
  });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.codec.payloadKeys),
  });
  let firstDiscovery: Promise<void> = Promise.resolve();
  try {
    const { created, intervalMs } = await ensureDiscoverySchedule(client, config);
    if (created) {
      await client.schedule.getHandle(DISCOVERY_SCHEDULE_ID).trigger();
      // The first run profiles the seed as it is: the live feed waits for it (at most 5 minutes).
      firstDiscovery = awaitTriggeredRun(client, 5 * 60_000);
    }
    progressLine(
      `discovery runs every ${intervalMs / 60_000} min (${config.llm ? `LLM ${config.llm.model}` : 'planner: no OPENAI_API_KEY'}); ` +
        '`bin/meshloop discover` runs it now, `bin/meshloop list --stage awaitingApproval` shows its proposals',
    );
  } catch (error) {
    await connection.close();
    throw error;
  }
  return { demoData, firstDiscovery: firstDiscovery.finally(() => connection.close()) };
}

/**
 * The live demo feed beside the worker (`npm start` on the local Kafka): it starts once the first
 * discovery has profiled the seed, and stops with `stop()`. Trouble is logged, never thrown.
 */
export function startDemoFeed(
  config: MeshloopConfig,
  log: Logger,
  after: Promise<void>,
): { stop: () => Promise<void> } {
  const abort = new AbortController();
  const running = (async () => {
    await after;
    if (abort.signal.aborted) return;
    const rate = config.demo.feedRate;
    progressLine(
      `live demo feed: about ${rate} records/s across the demo domains, event times now ` +
        '(MESHLOOP_DEMO_FEED_RATE; 0 turns it off)',
    );
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-demo-feed', log });
    const fed = await feedKafka(kafka, {
      rate,
      registry: config.schemaRegistry,
      signal: abort.signal,
      progressEveryMs: 60_000,
      progress: (p) => log.info('demo feed', { sent: p.sent, malformed: p.malformed }),
    });
    log.info('demo feed stopped', { sent: fed.sent });
  })().catch((error: unknown) =>
    log.warn('demo feed stopped', { error: error instanceof Error ? error.message : String(error) }),
  );
  return {
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

type DiscoverClient = Readonly<{ client: Client; config: MeshloopConfig; json: boolean }>;

const noSchedule = (what: string) =>
  new CliError(`there is no discovery schedule to ${what}`, {
    kind: 'not-found',
    hint: '`meshloop discover --schedule` creates it (`--resume` creates it running)',
  });

/** `--pause` / `--resume`: a missing schedule is said as such (resuming creates it). */
async function pauseOrResume({ client, config, json }: DiscoverClient, pause: boolean): Promise<void> {
  if (pause && !(await fromTemporal(client, config, () => describeDiscoverySchedule(client))))
    throw noSchedule('pause');
  await fromTemporal(client, config, () =>
    setDiscoveryPaused(client, config, pause, `${pause ? 'paused' : 'resumed'} from the CLI`),
  ).catch((error: unknown) => {
    if (error instanceof ScheduleNotFoundError) throw noSchedule(pause ? 'pause' : 'resume');
    throw error;
  });
  const status = await fromTemporal(client, config, () => describeDiscoverySchedule(client));
  printResult(
    json,
    { scheduleId: DISCOVERY_SCHEDULE_ID, ...status },
    () => `discovery schedule ${pause ? 'paused' : 'running'}`,
  );
}

async function runDiscoveryNow(
  { client, config, json }: DiscoverClient,
  options: DiscoverOptions,
  overrides: Parameters<typeof discoveryInputOf>[1],
): Promise<void> {
  // A run nobody polls for would never end: say so now (with --no-wait it is started and left waiting).
  if (options.wait) await requireWorker(client, config, config.temporal.taskQueue);
  const workflowId = `discovery-now-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const handle = await fromTemporal(client, config, () =>
    client.workflow.start<typeof discoveryWorkflow>(discoveryWorkflowType, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [discoveryInputOf(config, overrides)],
    }),
  );
  progressLine(
    `discovery ${workflowId} started on task queue '${config.temporal.taskQueue}' ` +
      `(a worker must run it: \`meshloop worker\` or \`npm start\`); ${config.llm ? `LLM ${config.llm.model}` : 'planner (no OPENAI_API_KEY)'}`,
  );
  if (!options.wait) {
    printResult(json, { workflowId, started: true }, () => `discovery ${workflowId} started`);
    return;
  }
  const result = await handle.result();
  printResult(json, result, () => formatDiscoveryResult(result));
}

async function discover(options: DiscoverOptions): Promise<void> {
  const modes = (['schedule', 'pause', 'resume', 'status'] as const).filter((mode) => options[mode]);
  if (modes.length > 1)
    throw usageError(
      `--${modes.join(', --')} do different things: give one of them`,
      '`meshloop discover --help` lists them',
    );
  if (options.every !== undefined && !options.schedule)
    throw usageError('--every goes with --schedule', 'e.g. `meshloop discover --schedule --every 30m`');
  const config = loadConfig();
  const { client, close } = await connectTemporal(config);
  const context = { client, config, json: options.json };
  try {
    const overrides = {
      agent: options.agent,
      ...(options.topicPrefix ? { topicPrefix: options.topicPrefix } : {}),
      ...(options.maxMessages ? { maxMessages: options.maxMessages } : {}),
    };
    if (options.pause || options.resume) return await pauseOrResume(context, Boolean(options.pause));
    if (options.schedule) {
      const { created, intervalMs } = await fromTemporal(client, config, () =>
        ensureDiscoverySchedule(client, config, { intervalMs: options.every, input: overrides }),
      );
      printResult(
        options.json,
        { scheduleId: DISCOVERY_SCHEDULE_ID, created, intervalMs },
        () =>
          `discovery schedule ${DISCOVERY_SCHEDULE_ID} ${created ? 'created' : 'updated'}: every ${intervalMs / 60_000} min`,
      );
      return;
    }
    if (options.status) {
      const status = await fromTemporal(client, config, () => describeDiscoverySchedule(client));
      printResult(options.json, status ? { scheduleId: DISCOVERY_SCHEDULE_ID, ...status } : null, () =>
        status
          ? table([
              ['SCHEDULE', 'PAUSED', 'NOTE', 'NEXT RUNS', 'RECENT RUNS'],
              [
                DISCOVERY_SCHEDULE_ID,
                status.paused ? 'yes' : 'no',
                status.note ?? '',
                status.nextRuns.join(', ') || '-',
                String(status.recentRuns),
              ],
            ])
          : 'no discovery schedule; create it with `meshloop discover --schedule`',
      );
      return;
    }
    await runDiscoveryNow(context, options, overrides);
  } finally {
    await close();
  }
}

export function registerDiscoverCommands(program: Command): void {
  program
    .command('discover')
    .description(
      'Profile the topics in Kafka and propose data products (once, now); or manage the discovery schedule',
    )
    .option('--schedule', 'create or update the schedule that runs discovery every interval')
    .option(
      '--every <duration>',
      'with --schedule: the interval (default MESHLOOP_DISCOVERY_INTERVAL)',
      interval,
    )
    .option('--pause', 'pause the discovery schedule')
    .option('--resume', 'resume the discovery schedule (creating it if needed)')
    .option('--status', 'show the discovery schedule')
    .addOption(
      choiceOption('--agent <agent>', "'auto' (the LLM when OPENAI_API_KEY is set) or 'planner'", [
        'auto',
        'planner',
      ]).default('auto'),
    )
    .option('--topic-prefix <prefix>', 'only topics starting with this')
    .option('--max-messages <n>', 'sample at most this many messages per topic', positiveInteger(1_000_000))
    .option('--no-wait', 'start the run and return')
    .addOption(
      jsonOption(
        'print JSON: the run (DiscoveryResult, or {workflowId, started} with --no-wait), or the schedule',
      ),
    )
    .action(discover);
}

import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig, temporalConnectOptions } from '../config';
import { parseDuration } from '../domain/duration';
import { MeshloopError } from '../domain/errors';
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
import { seedKafka } from '../seed/seed';
import { registryTopics } from '../seed/registry-generator';
import { seedRegistryTopics } from '../seed/registry-seed';
import { progressLine, table } from './output';
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
};

const interval = (value: string) => {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 60_000)
    throw new InvalidArgumentError("a duration of at least 1m, e.g. '30m'");
  return ms;
};
const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number');
  return n;
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
  lines.push(
    `proposed before: ${result.alreadyProposed}; dropped: ${result.dropped}; topics skipped: ${result.skipped}`,
    `profiles: ${result.profilesFile}`,
    `report:   ${result.reportFile}`,
  );
  if (result.started[0]) lines.push(`\nsee the evidence with \`meshloop show ${result.started[0]}\``);
  return lines.join('\n');
}

/** The demo mesh's topics on the local Kafka, written once (a restart finds them). */
async function seedDemoOnce(config: MeshloopConfig): Promise<void> {
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-demo' });
  const topics = await listDataTopics(kafka);
  if (!topics.includes(seedTopics.orders)) {
    progressLine('seeding the demo mesh (10,000 records; `bin/meshloop seed` adds more)');
    await seedKafka(kafka, { count: 10_000 });
  }
  if (!topics.includes(registryTopics.loyalty)) {
    progressLine('seeding the Avro and Protobuf domains through the Schema Registry (2,000 records)');
    // The JSON demo works without them: a registry that fails is reported, not fatal.
    await seedRegistryTopics(kafka, config.schemaRegistry, { count: 2000 }).catch((error: Error) =>
      progressLine(
        `the Schema Registry at ${registryAddress(config.schemaRegistry)} failed (${error.message}); ` +
          '`bin/meshloop seed --only loyalty,support` tries again',
      ),
    );
  }
}

/**
 * What `npm start` gives besides the worker: on the local platform the demo mesh seeded once (when its
 * topics are missing); on any platform the discovery schedule in place, its first run now, so
 * proposals appear without further steps.
 */
export async function startDiscoveryDemo(config: MeshloopConfig): Promise<void> {
  if (config.stack.elsewhere.kafka) {
    // Your own Kafka holds your data: demo records are written there only when asked (`meshloop seed`).
    progressLine(
      `Kafka is your own platform's (${config.stack.elsewhere.kafka.setting}): no demo data is seeded`,
    );
  } else {
    await seedDemoOnce(config);
  }
  const connection = await Connection.connect({
    ...temporalConnectOptions(config.temporal.connection),
    connectTimeout: 3000,
  });
  try {
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config.codec.payloadKeys),
    });
    const { created, intervalMs } = await ensureDiscoverySchedule(client, config);
    if (created) await client.schedule.getHandle(DISCOVERY_SCHEDULE_ID).trigger();
    progressLine(
      `discovery runs every ${intervalMs / 60_000} min (${config.llm ? `LLM ${config.llm.model}` : 'planner: no OPENAI_API_KEY'}); ` +
        '`bin/meshloop discover` runs it now, `bin/meshloop list --stage awaitingApproval` shows its proposals',
    );
  } finally {
    await connection.close();
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
    .option('--agent <agent>', "'auto' (the LLM when OPENAI_API_KEY is set) or 'planner'", 'auto')
    .option('--topic-prefix <prefix>', 'only topics starting with this')
    .option('--max-messages <n>', 'sample at most this many messages per topic', positiveInt)
    .option('--no-wait', 'start the run and return')
    .action(async (options: DiscoverOptions) => {
      if (options.agent !== 'auto' && options.agent !== 'planner') {
        throw new MeshloopError(
          'CliError',
          `--agent must be auto or planner, not ${String(options.agent)}`,
          false,
        );
      }
      const config = loadConfig();
      let connection: Connection;
      try {
        connection = await Connection.connect({
          ...temporalConnectOptions(config.temporal.connection),
          connectTimeout: 3000,
        });
      } catch (error) {
        throw new MeshloopError(
          'CliError',
          `cannot reach Temporal at ${config.temporal.address} (${(error as Error).message}). Run \`meshloop stack up\`.`,
          false,
        );
      }
      const client = new Client({
        connection,
        namespace: config.temporal.namespace,
        dataConverter: dataConverterFor(config.codec.payloadKeys),
      });
      try {
        const overrides = {
          agent: options.agent,
          ...(options.topicPrefix ? { topicPrefix: options.topicPrefix } : {}),
          ...(options.maxMessages ? { maxMessages: options.maxMessages } : {}),
        };
        if (options.pause || options.resume) {
          await setDiscoveryPaused(
            client,
            config,
            Boolean(options.pause),
            `${options.pause ? 'paused' : 'resumed'} from the CLI`,
          );
          console.log(`discovery schedule ${options.pause ? 'paused' : 'running'}`);
          return;
        }
        if (options.schedule) {
          const { created, intervalMs } = await ensureDiscoverySchedule(client, config, {
            intervalMs: options.every,
            input: overrides,
          });
          console.log(
            `discovery schedule ${DISCOVERY_SCHEDULE_ID} ${created ? 'created' : 'updated'}: every ${intervalMs / 60_000} min`,
          );
          return;
        }
        if (options.status) {
          const status = await describeDiscoverySchedule(client);
          console.log(
            status
              ? JSON.stringify(status, null, 2)
              : 'no discovery schedule; create it with `meshloop discover --schedule`',
          );
          return;
        }
        const workflowId = `discovery-now-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        const handle = await client.workflow.start<typeof discoveryWorkflow>(discoveryWorkflowType, {
          taskQueue: config.temporal.taskQueue,
          workflowId,
          args: [discoveryInputOf(config, overrides)],
        });
        progressLine(
          `discovery ${workflowId} started on task queue '${config.temporal.taskQueue}' ` +
            `(a worker must run it: \`npm start\`); ${config.llm ? `LLM ${config.llm.model}` : 'planner (no OPENAI_API_KEY)'}`,
        );
        if (!options.wait) return;
        console.log(formatDiscoveryResult(await handle.result()));
      } finally {
        await connection.close();
      }
    });
}

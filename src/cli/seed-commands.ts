import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createKafkaClient } from '../adapters/kafka/client';
import { printResult, progressLine, table } from './output';
import { CliError, usageError } from './errors';
import { positiveInteger, positiveNumber as positiveNumber_ } from './options';
import type { Kafka } from 'kafkajs';
import type { MeshloopConfig } from '../config';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import type { SeedTopicName } from '../seed/generator';
import { DEFAULT_SEED, seedTopics } from '../seed/generator';
import type { SeedResult } from '../seed/seed';
import { registryAddress } from '../adapters/schema-registry/client';
import { seedKafka } from '../seed/seed';
import { DEFAULT_FEED_RATE, feedKafka } from '../seed/feed';
import type { RegistryTopicName } from '../seed/registry-generator';
import { registryTopics } from '../seed/registry-generator';
import type { RegistrySeedResult } from '../seed/registry-seed';
import { seedRegistryTopics } from '../seed/registry-seed';

const positiveInt = positiveInteger(100_000_000);
const positiveNumber = positiveNumber_(1_000_000);
const topicPrefix = (value: string) => {
  if (!/^[A-Za-z0-9._-]{0,100}$/.test(value))
    throw new InvalidArgumentError(
      `'${value}' cannot start a Kafka topic name: letters, digits, '.', '_' and '-' only, at most 100`,
    );
  return value;
};
type TopicName = SeedTopicName | RegistryTopicName;
const knownTopicNames = [...Object.keys(seedTopics), ...Object.keys(registryTopics)];
const topicNames = (value: string): TopicName[] => {
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !knownTopicNames.includes(name));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown: ${unknown.join(', ')}; known: ${knownTopicNames.join(', ')}`);
  return names as TopicName[];
};
const isRegistryName = (name: TopicName): name is RegistryTopicName => name in registryTopics;

/** Seed the Avro and Protobuf domains; a registry that does not answer is named with what to do. */
async function seedThroughRegistry(
  kafka: Kafka,
  config: MeshloopConfig,
  options: { count: number; seed: number; only?: RegistryTopicName[]; topicPrefix: string },
): Promise<RegistrySeedResult> {
  try {
    return await seedRegistryTopics(kafka, config.schemaRegistry, options);
  } catch (error) {
    // Kafka's errors say what they are; the registry's (RestError, axios) get the registry's name.
    if ((error as Error).name.startsWith('KafkaJS')) throw error;
    const status = (error as { status?: number }).status;
    const cause = status
      ? `answered ${status}: ${(error as Error).message}`
      : `did not answer (${(error as Error).message})`;
    throw new CliError(`the Schema Registry at ${registryAddress(config.schemaRegistry)} ${cause}`, {
      kind: status ? 'failed' : 'unreachable',
      hint:
        'start the local one with `meshloop stack up registry`, check MESHLOOP_SCHEMA_REGISTRY_URL and its ' +
        'credentials, or seed the JSON topics only with --no-registry',
      cause: error,
    });
  }
}

function printSeedResult(result: SeedResult, registry: RegistrySeedResult | undefined, json: boolean): void {
  const formats: Record<string, string> = Object.fromEntries(
    Object.entries(registry?.subjects ?? {}).map(([topic, s]) => [topic, s.format]),
  );
  const byTopic = Object.entries({ ...result.byTopic, ...registry?.byTopic }).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  const sent = result.sent + (registry?.sent ?? 0);
  if (json) {
    const topics = byTopic.map(([topic, records]) => ({
      topic,
      records,
      format: formats[topic] ?? 'json',
      ...(registry?.subjects[topic] ? { subject: registry.subjects[topic].subject } : {}),
    }));
    console.log(JSON.stringify({ sent, malformed: result.malformed, topics }, null, 2));
    return;
  }
  console.log(
    table([
      ['TOPIC', 'FORMAT', 'RECORDS'],
      ...byTopic.map(([topic, count]) => [topic, formats[topic] ?? 'json', String(count)]),
    ]),
  );
  const seconds = (result.elapsedMs + (registry?.elapsedMs ?? 0)) / 1000;
  console.log(
    `\n${sent} records in ${seconds.toFixed(1)} s, ${result.malformed} of them ` +
      'deliberately malformed. Next: `bin/meshloop discover`.',
  );
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** `meshloop seed --follow`: the live demo feed in the foreground; Ctrl-C stops it cleanly. */
async function followSeed(
  kafka: Kafka,
  config: MeshloopConfig,
  options: {
    count?: number;
    duration?: number;
    rate?: number;
    seed?: number;
    only?: TopicName[];
    topicPrefix: string;
    registry: boolean;
    json: boolean;
  },
): Promise<void> {
  if (options.count !== undefined || options.duration !== undefined)
    throw usageError('--follow runs until Ctrl-C: leave out --count and --duration');
  const rate = options.rate ?? DEFAULT_FEED_RATE;
  const onlyJson = options.only?.filter((name): name is SeedTopicName => !isRegistryName(name));
  const onlyRegistry = options.only?.filter(isRegistryName);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  progressLine(
    `feeding Kafka at ${config.kafka.brokers.join(',')}: about ${rate} records/s, event times now` +
      `${options.registry ? ', the registry domains included' : ''}; Ctrl-C stops`,
  );
  try {
    const fed = await feedKafka(kafka, {
      rate,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      topicPrefix: options.topicPrefix,
      only: onlyJson,
      ...(options.registry ? { registry: config.schemaRegistry, registryOnly: onlyRegistry } : {}),
      signal: abort.signal,
      progress: (p) =>
        progressLine(
          `${p.sent.toLocaleString('en')} records in ${Math.round(p.elapsedMs / 1000)} s` +
            `${p.newestEventTime ? `, newest event time ${clock(p.newestEventTime)} UTC` : ''}` +
            `, ${p.malformed} malformed`,
        ),
    });
    const byTopic = Object.entries(fed.byTopic).sort(([a], [b]) => a.localeCompare(b));
    printResult(
      options.json,
      { ...fed, byTopic: Object.fromEntries(byTopic) },
      () =>
        `${table([['TOPIC', 'RECORDS'], ...byTopic.map(([topic, n]) => [topic, String(n)])])}\n` +
        `\n${fed.sent} records in ${(fed.elapsedMs / 1000).toFixed(1)} s, ${fed.malformed} of them deliberately malformed.`,
    );
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

export function registerSeedCommand(program: Command): void {
  program
    .command('seed')
    .description(
      'Produce a demo mesh into Kafka: orders, payments, shipments, customer profiles (PII), web clicks and ' +
        'inventory (its schema drifts), keyed, with event times, joinable ids and a few malformed records',
    )
    .option(
      '-n, --count <records>',
      'stop after this many records (default 10000 unless --duration)',
      positiveInt,
    )
    .option('-d, --duration <seconds>', 'stop after this many seconds', positiveNumber)
    .option('-r, --rate <records-per-second>', 'at most this many records per second', positiveNumber)
    .option(
      '-s, --seed <number>',
      `PRNG seed: the same seed gives the same records (default ${DEFAULT_SEED}; with --follow a new one from the clock, so its ids are new)`,
      positiveInt,
    )
    .option(
      '-f, --follow',
      `keep feeding the demo domains, event times now, at --rate records/s (default ${DEFAULT_FEED_RATE}) until Ctrl-C`,
      false,
    )
    .option('--only <topics>', `comma-separated subset of ${knownTopicNames.join(',')}`, topicNames)
    .option('--topic-prefix <prefix>', 'put before every topic name', topicPrefix, '')
    .option(
      '--registry-count <records>',
      `records for the domains behind the Schema Registry (${Object.values(registryTopics).join(', ')}: Avro, Protobuf)`,
      positiveInt,
      2000,
    )
    .option('--no-registry', 'skip the Avro and Protobuf domains (no Schema Registry needed)')
    .option('--json', 'machine-readable output', false)
    .action(
      async (options: {
        count?: number;
        duration?: number;
        rate?: number;
        seed?: number;
        follow: boolean;
        only?: TopicName[];
        topicPrefix: string;
        registryCount: number;
        registry: boolean;
        json: boolean;
      }) => {
        const config = loadConfig();
        const log = createLogger('seed', config.logLevel);
        const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-seed', log });
        if (options.follow) return followSeed(kafka, config, options);
        const seed = options.seed ?? DEFAULT_SEED;
        progressLine(
          `seeding Kafka at ${config.kafka.brokers.join(',')} (seed ${seed}` +
            `${options.count ? `, ${options.count} records` : ''}${options.duration ? `, ${options.duration} s` : ''}` +
            `${options.rate ? `, ≤ ${options.rate}/s` : ''})`,
        );
        const onlyJson = options.only?.filter((name): name is SeedTopicName => !isRegistryName(name));
        const onlyRegistry = options.only?.filter(isRegistryName);
        const seedJson = onlyJson === undefined || onlyJson.length > 0;
        const seedRegistry = options.registry && (onlyRegistry === undefined || onlyRegistry.length > 0);
        const empty: SeedResult = { sent: 0, malformed: 0, byTopic: {}, elapsedMs: 0 };
        const result = !seedJson
          ? empty
          : await seedKafka(kafka, {
              seed,
              count: options.count,
              durationMs: options.duration === undefined ? undefined : options.duration * 1000,
              rate: options.rate,
              only: onlyJson,
              topicPrefix: options.topicPrefix,
              progress: ({ sent, target, perSecond }) =>
                progressLine(
                  `${sent.toLocaleString('en')}${target ? ` / ${target.toLocaleString('en')}` : ''} records ` +
                    `(${Math.round(perSecond).toLocaleString('en')}/s)`,
                ),
            });
        if (seedRegistry)
          progressLine(
            `Avro and Protobuf topics through the Schema Registry at ${registryAddress(config.schemaRegistry)}`,
          );
        const registry = seedRegistry
          ? await seedThroughRegistry(kafka, config, {
              count: options.registryCount,
              seed,
              only: onlyRegistry,
              topicPrefix: options.topicPrefix,
            })
          : undefined;
        printSeedResult(result, registry, options.json);
      },
    );
}

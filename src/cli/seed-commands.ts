import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createKafkaClient } from '../adapters/kafka/client';
import { progressLine, table } from './output';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import type { SeedTopicName } from '../seed/generator';
import { DEFAULT_SEED, seedTopics } from '../seed/generator';
import { seedKafka } from '../seed/seed';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number');
  return n;
};
const positiveNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number');
  return n;
};
const topicNames = (value: string): SeedTopicName[] => {
  const names = value.split(',').map((name) => name.trim());
  const known = Object.keys(seedTopics);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown: ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return names as SeedTopicName[];
};

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
      'PRNG seed: the same seed gives the same records',
      positiveInt,
      DEFAULT_SEED,
    )
    .option('--only <topics>', `comma-separated subset of ${Object.keys(seedTopics).join(',')}`, topicNames)
    .option('--topic-prefix <prefix>', 'put before every topic name', '')
    .action(
      async (options: {
        count?: number;
        duration?: number;
        rate?: number;
        seed: number;
        only?: SeedTopicName[];
        topicPrefix: string;
      }) => {
        const config = loadConfig();
        const log = createLogger('seed', config.logLevel);
        const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-seed', log });
        progressLine(
          `seeding Kafka at ${config.kafka.brokers.join(',')} (seed ${options.seed}` +
            `${options.count ? `, ${options.count} records` : ''}${options.duration ? `, ${options.duration} s` : ''}` +
            `${options.rate ? `, ≤ ${options.rate}/s` : ''})`,
        );
        const result = await seedKafka(kafka, {
          seed: options.seed,
          count: options.count,
          durationMs: options.duration === undefined ? undefined : options.duration * 1000,
          rate: options.rate,
          only: options.only,
          topicPrefix: options.topicPrefix,
          progress: ({ sent, target, perSecond }) =>
            progressLine(
              `${sent.toLocaleString('en')}${target ? ` / ${target.toLocaleString('en')}` : ''} records ` +
                `(${Math.round(perSecond).toLocaleString('en')}/s)`,
            ),
        });
        console.log(
          table([
            ['TOPIC', 'RECORDS'],
            ...Object.entries(result.byTopic)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([topic, count]) => [topic, String(count)]),
          ]),
        );
        console.log(
          `\n${result.sent} records in ${(result.elapsedMs / 1000).toFixed(1)} s, ${result.malformed} of them ` +
            'deliberately malformed. Next: `bin/meshloop discover`.',
        );
      },
    );
}

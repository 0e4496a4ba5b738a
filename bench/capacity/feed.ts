import type { Kafka, Message, Producer } from 'kafkajs';
import { createIdempotentProducer } from '../../src/adapters/kafka/producer';
import type { SeedRecord, SeedTopicName } from '../../src/seed/generator';
import { generateSeedRecords, seedTopics } from '../../src/seed/generator';
import { ensureSeedTopics, seedMessage } from '../../src/seed/seed';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Demo records into the products' input topics at a steady rate **per topic**: one generator over all
 * of them (so joined products find their partners), each topic taking its quota of every tick and the
 * generator's surplus for a topic already served dropped. Event times run with the clock.
 */
export class SteadyFeed {
  private producer: Producer | undefined;
  private readonly records: Iterator<SeedRecord>;
  private loop: Promise<void> | undefined;
  private stopped = false;
  readonly sent: Record<string, number> = {};
  errors = 0;
  lastError: string | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly SeedTopicName[],
    private readonly perTopicPerSecond: number,
  ) {
    this.records = generateSeedRecords({ seed: Date.now() % 100_000, startTime: Date.now(), only: topics })[
      Symbol.iterator
    ]();
  }

  get topicNames(): string[] {
    return this.topics.map((name) => seedTopics[name]);
  }

  async start(): Promise<void> {
    await ensureSeedTopics(this.kafka, { only: this.topics });
    this.producer = createIdempotentProducer(this.kafka);
    await this.producer.connect();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.producer?.disconnect().catch(() => undefined);
  }

  /** The next tick's records: `quota` for each topic. */
  batch(quota: number): Map<string, Message[]> {
    const byTopic = new Map<string, Message[]>(this.topics.map((name) => [seedTopics[name], []]));
    for (let pulled = 0; pulled < 100_000; pulled++) {
      if ([...byTopic.values()].every((messages) => messages.length >= quota)) break;
      const record = this.records.next().value as SeedRecord;
      const messages = byTopic.get(record.topic);
      if (messages && messages.length < quota) messages.push(seedMessage(record));
    }
    return byTopic;
  }

  private async run(): Promise<void> {
    const everyMs = 1000;
    const quota = Math.max(1, Math.round(this.perTopicPerSecond));
    let next = Date.now();
    while (!this.stopped) {
      const byTopic = this.batch(quota);
      try {
        await this.producer!.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
        for (const [topic, messages] of byTopic) this.sent[topic] = (this.sent[topic] ?? 0) + messages.length;
      } catch (error) {
        this.errors++;
        this.lastError = (error as Error).message;
      }
      next += everyMs;
      await delay(Math.max(0, next - Date.now()));
    }
  }
}

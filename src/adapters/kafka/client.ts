import { Kafka, logLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from '../../log';

/** Meshloop's own topics start with this prefix; discovery never profiles them. */
export const MESHLOOP_TOPIC_PREFIX = '_meshloop.';
/** The catalog: a compacted topic of product descriptors keyed by product id. */
export const CATALOG_TOPIC = `${MESHLOOP_TOPIC_PREFIX}catalog`;

/** Kafka's own (`__consumer_offsets`, ...) and Meshloop's topics: not domain data. */
export function isInternalTopic(topic: string): boolean {
  return topic.startsWith('__') || topic.startsWith(MESHLOOP_TOPIC_PREFIX);
}

/**
 * A kafkajs client with few retries of its own (Temporal owns retries) and its logs routed into
 * our structured logger.
 */
export function createKafkaClient(options: {
  brokers: readonly string[];
  clientId: string;
  log?: Logger;
  retries?: number;
}): Kafka {
  const log = options.log;
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { retries: options.retries ?? 2 },
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        if (!log) return;
        const { message, ...fields } = entry;
        if (level <= logLevel.ERROR) log.error(message, fields);
        else log.warn(message, fields);
      },
  });
}

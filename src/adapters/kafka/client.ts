import fs from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaConfig, LogEntry } from 'kafkajs';
import type { KafkaConnection } from '../../config';
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
  /** config.kafka: brokers, TLS, SASL. */
  connection: KafkaConnection;
  clientId: string;
  log?: Logger;
  retries?: number;
}): Kafka {
  const log = options.log;
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.connection.brokers],
    ...kafkaSecurity(options.connection),
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

/** kafkajs's `ssl` and `sasl` from the connection settings; certificate files are read here. */
export function kafkaSecurity(connection: KafkaConnection): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const { tls, sasl } = connection;
  const read = (file?: string) => (file ? fs.readFileSync(file, 'utf8') : undefined);
  const ssl: KafkaConfig['ssl'] = tls
    ? Object.keys(tls).length === 0
      ? true
      : { ca: read(tls.caFile), cert: read(tls.certFile), key: read(tls.keyFile) }
    : undefined;
  let auth: KafkaConfig['sasl'];
  if (sasl?.mechanism === 'oauthbearer') {
    const value = sasl.token;
    auth = { mechanism: 'oauthbearer', oauthBearerProvider: () => Promise.resolve({ value }) };
  } else if (sasl) {
    auth = {
      mechanism: sasl.mechanism,
      username: sasl.username,
      password: sasl.password,
    } as KafkaConfig['sasl'];
  }
  return { ...(ssl ? { ssl } : {}), ...(auth ? { sasl: auth } : {}) };
}

import { Context } from '@temporalio/activity';
import type { Kafka, Producer } from 'kafkajs';
import { ensureCatalogTopic, publishCatalogRecord, readCatalog } from '../src/adapters/kafka/catalog';
import type { TopicSettings } from '../src/adapters/kafka/topics';
import { ensureTopic } from '../src/adapters/kafka/topics';
import type { CatalogDescriptor } from '../src/domain/catalog';
import { upstreamProductsOf } from '../src/domain/catalog';
import type { Logger } from '../src/log';

/**
 * Kafka side effects of a product's life. Each is keyed by the product id and safe to repeat: a
 * retried or replayed activity finds its earlier result instead of doing the work twice.
 */
export function createKafkaActivities(deps: {
  kafka: Kafka;
  /** Connected and disconnected by the worker that owns it. */
  producer: Producer;
  log: Logger;
  catalogTopic?: string;
}) {
  const { kafka, producer, log } = deps;
  let catalogReady: Promise<void> | undefined;
  const catalog = () =>
    (catalogReady ??= ensureCatalogTopic(kafka, deps.catalogTopic).catch((error: unknown) => {
      catalogReady = undefined;
      throw error;
    }));

  return {
    async createKafkaTopic(input: {
      productId: string;
      topic: TopicSettings;
    }): Promise<{ topic: string; created: boolean }> {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const { created } = await ensureTopic(admin, input.topic);
        log.info(created ? 'topic created' : 'topic already there with the same settings', {
          productId: input.productId,
          topic: input.topic.name,
          attempt: Context.current().info.attempt,
        });
        return { topic: input.topic.name, created };
      } finally {
        await admin.disconnect();
      }
    },

    async publishCatalogDescriptor(input: {
      productId: string;
      descriptor: CatalogDescriptor;
    }): Promise<void> {
      await catalog();
      await publishCatalogRecord(
        producer,
        { ...input.descriptor, productId: input.productId },
        deps.catalogTopic,
      );
      log.info('catalog descriptor published', { productId: input.productId, stage: input.descriptor.stage });
    },

    /** Active products that list this one as an input: retiring it would break them. */
    async findActiveDependants(input: { productId: string }): Promise<string[]> {
      const records = await readCatalog(kafka, { topic: deps.catalogTopic, log });
      return [...records.values()]
        .filter((record) => {
          const descriptor = record as unknown as CatalogDescriptor;
          return (
            descriptor.stage === 'active' &&
            descriptor.productId !== input.productId &&
            upstreamProductsOf(descriptor).includes(input.productId)
          );
        })
        .map((record) => record.productId)
        .sort();
    },
  };
}

import type { Kafka, Producer } from 'kafkajs';
import {
  ensureCatalogTopic,
  publishCatalogRecord,
  readCatalog,
  readCompactedRecords,
} from '../src/adapters/kafka/catalog';
import type { TopicSettings } from '../src/adapters/kafka/topics';
import { ensureTopic } from '../src/adapters/kafka/topics';
import type { CatalogDescriptor } from '../src/domain/catalog';
import { MESHLOOP_TOPIC_PREFIX } from '../src/adapters/kafka/client';
import { TopicNotOwnedError, topicOwnershipRefusal } from '../src/domain/topic-ownership';
import type { Logger } from '../src/log';
import { activityAttempt } from './heartbeat';

/** Output topics and the product that claimed each one before creating it. */
export const TOPIC_OWNERS_TOPIC = `${MESHLOOP_TOPIC_PREFIX}topic-owners`;

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
  /** Which product made which output topic (compacted, keyed by topic name). */
  topicOwnersTopic?: string;
}) {
  const { kafka, producer, log } = deps;
  const ownersTopic = deps.topicOwnersTopic ?? TOPIC_OWNERS_TOPIC;
  let ownersReady: Promise<void> | undefined;
  const owners = () =>
    (ownersReady ??= ensureCatalogTopic(kafka, ownersTopic).catch((error: unknown) => {
      ownersReady = undefined;
      throw error;
    }));
  let catalogReady: Promise<void> | undefined;
  const catalog = () =>
    (catalogReady ??= ensureCatalogTopic(kafka, deps.catalogTopic).catch((error: unknown) => {
      catalogReady = undefined;
      throw error;
    }));

  return {
    /**
     * Create the product's output topic, or find the one it made earlier. A topic that exists and is
     * not this product's own (another product's output, a raw source topic) is refused, not adopted.
     */
    async createKafkaTopic(input: {
      productId: string;
      topic: TopicSettings;
    }): Promise<{ topic: string; created: boolean }> {
      const name = input.topic.name;
      await owners();
      const ownership = async () => {
        const [claims, { view: catalog }] = await Promise.all([
          readCompactedRecords(kafka, { topic: ownersTopic, log }),
          readCatalog(kafka, { topic: deps.catalogTopic, log }),
        ]);
        const claimedBy = claims.records.get(name)?.productId;
        const catalogOwners = catalog.writersOf(name).filter((owner) => owner !== input.productId);
        // Only a descriptor that lists the topic as made counts: naming it as the output is a wish.
        const provisionedBefore = catalog.madeTopic(input.productId, name);
        return { claimedBy, catalogOwners, provisionedBefore };
      };
      const admin = kafka.admin();
      await admin.connect();
      try {
        const exists = (await admin.listTopics()).includes(name);
        const found = await ownership();
        const refusal = topicOwnershipRefusal({ topic: name, productId: input.productId, exists, ...found });
        if (refusal) throw refusal;
        if (found.claimedBy !== input.productId) {
          // Claim before creating, so a retry after a crash knows the topic it finds is its own.
          await producer.send({
            topic: ownersTopic,
            acks: -1,
            messages: [{ key: name, value: JSON.stringify({ productId: input.productId, topic: name }) }],
          });
          const claimedBy = (await ownership()).claimedBy;
          if (claimedBy !== input.productId) {
            throw new TopicNotOwnedError(
              name,
              `was claimed at the same time by product ${claimedBy ?? '(unknown)'}`,
            );
          }
        }
        const { created } = await ensureTopic(admin, input.topic);
        log.info(created ? 'topic created' : 'topic already there with the same settings', {
          productId: input.productId,
          topic: input.topic.name,
          attempt: activityAttempt(),
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
      const { view } = await readCatalog(kafka, { topic: deps.catalogTopic, log });
      return view.activeDependantsOf(input.productId);
    },
  };
}

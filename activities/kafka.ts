import type { Kafka, Producer } from 'kafkajs';
import {
  ensureCatalogTopic,
  publishCatalogRecord,
  readCatalog,
  readCompactedRecords,
  signedRecordJson,
} from '../src/adapters/kafka/catalog';
import type { TopicSettings } from '../src/adapters/kafka/topics';
import { ensureTopic } from '../src/adapters/kafka/topics';
import type { CatalogDescriptor } from '../src/domain/catalog';
import { MESHLOOP_TOPIC_PREFIX } from '../src/adapters/kafka/client';
import {
  derivedTopicRefusal,
  reservedTopicNameProblem,
  TopicNotOwnedError,
  topicOwnershipRefusal,
  topicsWrittenBy,
} from '../src/domain/topic-ownership';
import type { RecordKey } from '../src/signing/record-key';
import { processRecordKey } from '../src/signing/record-key';
import type { Logger } from '../src/log';
import { MeshloopError } from '../src/domain/errors';
import { workflowIdOf } from '../src/domain/spec';
import { activityAttempt, callingWorkflow } from './heartbeat';

/** Output topics and the product that claimed each one before creating it. */
export const TOPIC_OWNERS_TOPIC = `${MESHLOOP_TOPIC_PREFIX}topic-owners`;
/** Claims are signed for this purpose: a claim written by hand is ignored. */
export const TOPIC_CLAIM_PURPOSE = 'topic-claim';

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
  /** Signs descriptors and claims (default: this process's, from MESHLOOP_RECORD_KEY_FILE). */
  recordKey?: RecordKey;
}) {
  const { kafka, producer, log } = deps;
  const recordKey = deps.recordKey ?? processRecordKey();
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
      // The spec refuses these names; a spec from before that rule is refused here, before any claim.
      const reserved = reservedTopicNameProblem(name);
      if (reserved) throw new TopicNotOwnedError(name, `is not a name a product may use: it ${reserved}`);
      const { derived } = topicsWrittenBy(name);
      await owners();
      const ownership = async () => {
        const [claims, { view: catalog }] = await Promise.all([
          readCompactedRecords(kafka, { topic: ownersTopic, log, signedFor: TOPIC_CLAIM_PURPOSE, recordKey }),
          readCatalog(kafka, { topic: deps.catalogTopic, log, recordKey }),
        ]);
        if (claims.unsigned > 0)
          log.warn('topic claims ignored: not signed by the record key', {
            topic: ownersTopic,
            unsigned: claims.unsigned,
          });
        return (topic: string) => ({
          claimedBy: claims.records.get(topic)?.productId,
          catalogOwners: catalog.writersOf(topic).filter((owner) => owner !== input.productId),
          // Only a descriptor that lists the topic as made counts: naming it as the output is a wish.
          provisionedBefore: catalog.madeTopic(input.productId, topic),
        });
      };
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const found = await ownership();
        const output = {
          topic: name,
          productId: input.productId,
          exists: existing.has(name),
          ...found(name),
        };
        const refusal =
          topicOwnershipRefusal(output) ??
          derived
            .map((topic) =>
              derivedTopicRefusal({
                topic,
                productId: input.productId,
                exists: existing.has(topic),
                ...found(topic),
                output: name,
                outputExists: output.exists,
                outputOwned: output.claimedBy === input.productId || output.provisionedBefore,
              }),
            )
            .find((r) => r !== undefined);
        if (refusal) throw refusal;
        const unclaimed = [name, ...derived].filter((topic) => found(topic).claimedBy !== input.productId);
        if (unclaimed.length > 0) {
          // Claim before creating (every topic the product's jobs write), so a retry after a crash
          // knows the topics it finds are its own.
          await producer.send({
            topic: ownersTopic,
            acks: -1,
            messages: unclaimed.map((topic) => ({
              key: topic,
              value: signedRecordJson(
                TOPIC_CLAIM_PURPOSE,
                topic,
                { productId: input.productId, topic },
                recordKey,
              ),
            })),
          });
          const after = await ownership();
          for (const topic of unclaimed) {
            const claimedBy = after(topic).claimedBy;
            if (claimedBy !== input.productId) {
              throw new TopicNotOwnedError(
                topic,
                `was claimed at the same time by product ${claimedBy ?? '(unknown)'}`,
              );
            }
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

    /**
     * Sign the descriptor with the record key and publish it. Only the product's own workflow may:
     * anyone can schedule activities on the task queue, and this one is the catalog's signature.
     */
    async publishCatalogDescriptor(input: {
      productId: string;
      descriptor: CatalogDescriptor;
    }): Promise<void> {
      const caller = callingWorkflow();
      if (caller && caller.workflowId !== workflowIdOf(input.productId)) {
        throw new MeshloopError(
          'NotTheProductsWorkflow',
          `workflow ${caller.workflowId} may not publish the descriptor of ${input.productId}: only its own workflow (${workflowIdOf(input.productId)}) does`,
          false,
        );
      }
      await catalog();
      await publishCatalogRecord(
        producer,
        { ...input.descriptor, productId: input.productId },
        deps.catalogTopic,
        recordKey,
      );
      log.info('catalog descriptor published', { productId: input.productId, stage: input.descriptor.stage });
    },

    /** Active products that list this one as an input: retiring it would break them. */
    async findActiveDependants(input: { productId: string }): Promise<string[]> {
      const { view } = await readCatalog(kafka, { topic: deps.catalogTopic, log, recordKey });
      return view.activeDependantsOf(input.productId);
    },
  };
}

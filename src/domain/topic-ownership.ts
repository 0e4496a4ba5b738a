import { MeshloopError } from './errors';

/**
 * A product's output topic is its own: made by its provisioning (claimed first, in a compacted
 * ledger keyed by topic name), never adopted. An existing topic that is another product's, or a
 * raw source topic that happens to have the same settings, is refused with the reason.
 */
export class TopicNotOwnedError extends MeshloopError {
  constructor(
    readonly topic: string,
    reason: string,
  ) {
    super('TopicNotOwned', `topic ${topic} ${reason}; choose another outputTopic.name`, false);
  }
}

export type TopicOwnership = Readonly<{
  topic: string;
  productId: string;
  exists: boolean;
  /** Who claimed the topic in the ledger, if anyone. */
  claimedBy?: string;
  /** Other products whose catalog descriptor names the topic as their output. */
  catalogOwners: readonly string[];
  /** This product's own descriptor lists the topic as provisioned (made before claims existed). */
  provisionedBefore: boolean;
}>;

/** Undefined when the product may use (or create) the topic; else why not. */
export function topicOwnershipRefusal(input: TopicOwnership): TopicNotOwnedError | undefined {
  const others = input.catalogOwners.filter((owner) => owner !== input.productId);
  if (input.claimedBy !== undefined && input.claimedBy !== input.productId) {
    return new TopicNotOwnedError(input.topic, `is the output of product ${input.claimedBy}`);
  }
  if (others.length > 0) {
    return new TopicNotOwnedError(input.topic, `is the output of product ${others.join(', ')}`);
  }
  if (input.exists && input.claimedBy === undefined && !input.provisionedBefore) {
    return new TopicNotOwnedError(
      input.topic,
      'already exists and was not made for this product (a raw source topic, or made by hand)',
    );
  }
  return undefined;
}

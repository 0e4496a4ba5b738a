import { MeshloopError } from './errors';

/**
 * Every topic a product's jobs write, derived from its output topic: the output, the rejected input
 * records (`<output>.rejected`, the creation job) and the dead letters (`<output>_dlq`, Tableflow's
 * error log). All are claimed for the product before any is made or written, so no product can
 * name its output like another product's derived topic.
 */
export const REJECTED_SUFFIX = '.rejected';
export const DEAD_LETTER_SUFFIX = '_dlq';

export function topicsWrittenBy(outputTopic: string): { output: string; derived: string[] } {
  return {
    output: outputTopic,
    derived: [`${outputTopic}${REJECTED_SUFFIX}`, `${outputTopic}${DEAD_LETTER_SUFFIX}`],
  };
}

/** Kafka's legal topic characters, short enough that every derived name is legal too (249). */
const LEGAL_TOPIC = /^[A-Za-z0-9._-]{1,240}$/;

/**
 * Why an output topic name is refused, or undefined: names that end like a derived topic of
 * another product (`.rejected`, `_dlq`), internal topics (`_meshloop.*`, `__consumer_offsets`,
 * `_schemas`, `_confluent-*`: anything starting with `_`), and names Kafka would not take.
 */
export function reservedTopicNameProblem(name: string): string | undefined {
  if (!LEGAL_TOPIC.test(name) || name === '.' || name === '..')
    return 'must be a Kafka topic name of at most 240 characters: letters, digits, ".", "_" and "-"';
  if (name.startsWith('_'))
    return "must not start with \"_\": those are internal topics (Kafka's, the registry's, Meshloop's catalog and ledgers)";
  for (const suffix of [REJECTED_SUFFIX, DEAD_LETTER_SUFFIX]) {
    if (name.toLowerCase().endsWith(suffix))
      return `must not end with "${suffix}": that names another product's ${suffix === REJECTED_SUFFIX ? 'rejected-records' : 'dead-letter'} topic`;
  }
  return undefined;
}

/** Why a product name is refused: `<name>_dlq` is another product's dead-letter table. */
export function reservedProductNameProblem(name: string): string | undefined {
  return name.endsWith(DEAD_LETTER_SUFFIX)
    ? `must not end with "${DEAD_LETTER_SUFFIX}": that names another product's dead-letter table`
    : undefined;
}

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

/**
 * Undefined when the product may use a topic derived from its output (rejected records, dead
 * letters); else why not. Another product's claim or output refuses it. One that exists unclaimed
 * is adopted only by a product whose output topic exists and is its own already (made before
 * derived topics were claimed); for a new product it is someone else's topic.
 */
export function derivedTopicRefusal(
  input: TopicOwnership & { output: string; outputExists: boolean; outputOwned: boolean },
): TopicNotOwnedError | undefined {
  const others = input.catalogOwners.filter((owner) => owner !== input.productId);
  if (input.claimedBy !== undefined && input.claimedBy !== input.productId) {
    return new TopicNotOwnedError(
      input.topic,
      `(written by the jobs of an output named ${input.output}) is reserved by product ${input.claimedBy}`,
    );
  }
  if (others.length > 0) {
    return new TopicNotOwnedError(
      input.topic,
      `(written by the jobs of an output named ${input.output}) is the output of product ${others.join(', ')}`,
    );
  }
  if (input.exists && input.claimedBy === undefined && !(input.outputExists && input.outputOwned)) {
    return new TopicNotOwnedError(
      input.topic,
      `(written by the jobs of an output named ${input.output}) already exists and was not made for this product`,
    );
  }
  return undefined;
}

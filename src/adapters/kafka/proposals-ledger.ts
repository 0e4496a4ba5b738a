import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from '../../log';
import { ensureCatalogTopic, readCompactedRecords } from './catalog';
import { MESHLOOP_TOPIC_PREFIX } from './client';

/**
 * The proposals ledger: every proposal ever made (by discovery or by an analysis cycle), keyed by
 * its content hash, in a compacted topic. Whoever proposes leaves out what the ledger holds, so the
 * same idea is never proposed twice.
 */
export const PROPOSALS_TOPIC = `${MESHLOOP_TOPIC_PREFIX}proposals`;

export type LedgerOutcome = Readonly<{
  proposalId: string;
  productId: string;
  workflowId: string;
  outcome: 'started' | 'exists';
}>;

/** The ids of every proposal in the ledger. */
export async function readProposalsLedger(
  kafka: Kafka,
  options: { topic?: string; log?: Logger } = {},
): Promise<ReadonlySet<string>> {
  const topic = options.topic ?? PROPOSALS_TOPIC;
  await ensureCatalogTopic(kafka, topic);
  return new Set((await readCompactedRecords(kafka, { topic, log: options.log })).records.keys());
}

/** Every proposal in the ledger with the product it was for (undefined when the record does not say). */
export async function readProposalsLedgerEntries(
  kafka: Kafka,
  options: { topic?: string; log?: Logger } = {},
): Promise<ReadonlyMap<string, string | undefined>> {
  const topic = options.topic ?? PROPOSALS_TOPIC;
  await ensureCatalogTopic(kafka, topic);
  const { records } = await readCompactedRecords(kafka, { topic, log: options.log });
  return new Map(
    [...records].map(([id, record]) => [
      id,
      typeof record.productId === 'string' ? record.productId : undefined,
    ]),
  );
}

/** Remember proposals (keyed by proposal id, so repeating a call changes nothing). */
export async function recordProposalsInLedger(
  kafka: Kafka,
  producer: Producer,
  input: { topic?: string; runKey: string; outcomes: readonly LedgerOutcome[] },
): Promise<void> {
  if (input.outcomes.length === 0) return;
  const topic = input.topic ?? PROPOSALS_TOPIC;
  await ensureCatalogTopic(kafka, topic);
  await producer.send({
    topic,
    acks: -1,
    messages: input.outcomes.map((o) => ({
      key: o.proposalId,
      value: JSON.stringify({ ...o, runKey: input.runKey }),
    })),
  });
}

import type { Kafka, Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { Partitioners } from 'kafkajs';

/**
 * The worker's producer: idempotent (the broker drops a batch a retry sends twice, so a timed-out
 * attempt cannot land a duplicate or reorder a partition) with one request in flight, as kafkajs
 * requires for idempotence. Sends go out one at a time: activities call `send` concurrently, and
 * ordering them here keeps the sequence numbers simple (bench/producer measured no cost for it).
 */
export function createIdempotentProducer(kafka: Kafka): Producer {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  return serialiseSends(producer);
}

/** The same producer whose `send`s run one after the other, in call order. */
export function serialiseSends(producer: Producer): Producer {
  let tail: Promise<unknown> = Promise.resolve();
  const send = (record: ProducerRecord): Promise<RecordMetadata[]> => {
    const result = tail.then(() => producer.send(record));
    tail = result.catch(() => undefined);
    return result;
  };
  return { ...producer, send };
}

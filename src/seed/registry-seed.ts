import type { DescMessage } from '@bufbuild/protobuf';
import { create, createFileRegistry, createMutableRegistry } from '@bufbuild/protobuf';
import type { FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_timestamp,
  timestampFromMs,
} from '@bufbuild/protobuf/wkt';
import type { Kafka, Message } from 'kafkajs';
import type { SchemaRegistryConfig } from '../config';
import { createSchemaRegistryClient, topicNameSubjects } from '../adapters/schema-registry/client';
import { createIdempotentProducer } from '../adapters/kafka/producer';
import { createTopicsAndAwaitLeaders } from '../adapters/kafka/topics';
import type { RegistryRecord, RegistrySeedOptions, RegistryTopicName } from './registry-generator';
import {
  generateRegistryRecords,
  loyaltyPointsSchema,
  registryFormats,
  registryPartitions,
  registryTopics,
} from './registry-generator';

export type RegistrySeedResult = Readonly<{
  sent: number;
  byTopic: Readonly<Record<string, number>>;
  /** Each topic's format and the subject its value schema is registered under. */
  subjects: Readonly<Record<string, { format: 'avro' | 'protobuf'; subject: string }>>;
  elapsedMs: number;
}>;

const { STRING, INT32, BOOL, ENUM, MESSAGE } = FieldDescriptorProto_Type;

/** support.proto as a descriptor (what protoc would make of `supportTicketProto`), built without protoc. */
export function supportTicketFile(): FileDescriptorProto {
  const field = (name: string, number: number, type: FieldDescriptorProto_Type, typeName?: string) => ({
    name,
    number,
    type,
    label: FieldDescriptorProto_Label.OPTIONAL,
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    ...(typeName ? { typeName } : {}),
  });
  return create(FileDescriptorProtoSchema, {
    name: 'meshloop/support/ticket.proto',
    package: 'meshloop.support',
    syntax: 'proto3',
    dependency: ['google/protobuf/timestamp.proto'],
    messageType: [
      {
        name: 'Ticket',
        field: [
          field('ticket_id', 1, STRING),
          field('customer_id', 2, STRING),
          field('order_id', 3, STRING),
          field('priority', 4, ENUM, '.meshloop.support.Ticket.Priority'),
          field('satisfaction', 5, INT32),
          field('escalated', 6, BOOL),
          field('opened_at', 7, MESSAGE, '.google.protobuf.Timestamp'),
        ],
        enumType: [
          {
            name: 'Priority',
            value: [
              { name: 'PRIORITY_UNSPECIFIED', number: 0 },
              { name: 'LOW', number: 1 },
              { name: 'NORMAL', number: 2 },
              { name: 'HIGH', number: 3 },
            ],
          },
        ],
      },
    ],
  });
}

/** The encoders of both formats, registering each topic's value schema on first use (`<topic>-value`). */
export async function createRegistryEncoder(
  config: SchemaRegistryConfig,
): Promise<(record: RegistryRecord) => Promise<Buffer>> {
  const serde = await import('@confluentinc/schemaregistry');
  // Registering a schema is the registry's slowest request: more time than reads get.
  const client = await createSchemaRegistryClient(config, 60_000);
  const files = createFileRegistry(supportTicketFile(), (name) =>
    name === 'google/protobuf/timestamp.proto' ? file_google_protobuf_timestamp : undefined,
  );
  const ticket = files.getMessage('meshloop.support.Ticket') as DescMessage;
  const avro = new serde.AvroSerializer(client, serde.SerdeType.VALUE, {
    useLatestVersion: true,
    ...topicNameSubjects(serde),
  });
  const protobuf = new serde.ProtobufSerializer(client, serde.SerdeType.VALUE, {
    autoRegisterSchemas: true,
    registry: createMutableRegistry(ticket),
    ...topicNameSubjects(serde),
  });
  // The Avro serializer would derive a schema from the record: register ours, and it uses the latest.
  const registeredAvro = new Set<string>();
  return async (record: RegistryRecord): Promise<Buffer> => {
    if (record.name === 'loyalty') {
      const subject = `${record.topic}-value`;
      if (!registeredAvro.has(subject)) {
        await client.register(subject, { schemaType: 'AVRO', schema: JSON.stringify(loyaltyPointsSchema) });
        registeredAvro.add(subject);
      }
      return avro.serialize(record.topic, record.value);
    }
    const { opened_at: openedAt, ...rest } = record.value;
    return protobuf.serialize(
      record.topic,
      create(ticket, {
        ticketId: rest.ticket_id,
        customerId: rest.customer_id,
        orderId: rest.order_id,
        priority: rest.priority,
        satisfaction: rest.satisfaction,
        escalated: rest.escalated,
        openedAt: timestampFromMs(openedAt),
      }),
    );
  };
}

/** Create the registry demo topics that are missing; existing ones are used as they are. */
export async function ensureRegistryTopics(
  kafka: Kafka,
  options: { topicPrefix?: string; only?: readonly RegistryTopicName[] } = {},
): Promise<void> {
  const names = options.only ?? (Object.keys(registryTopics) as RegistryTopicName[]);
  const prefix = options.topicPrefix ?? '';
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = names
      .map((name) => ({ topic: `${prefix}${registryTopics[name]}`, numPartitions: registryPartitions[name] }))
      .filter((t) => !existing.has(t.topic));
    if (missing.length > 0)
      await createTopicsAndAwaitLeaders(
        admin,
        missing.map((t) => ({ ...t, replicationFactor: 1 })),
      );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Produce the registry demo domains: loyalty points as Avro and support tickets as Protobuf, in
 * Confluent's wire format (magic byte, schema id, payload), their schemas registered under
 * `<topic>-value`. Deterministic like the JSON seed: the same seed gives the same records.
 */
export async function seedRegistryTopics(
  kafka: Kafka,
  registry: SchemaRegistryConfig,
  options: RegistrySeedOptions & { count: number; batchSize?: number },
): Promise<RegistrySeedResult> {
  const began = Date.now();
  const names = options.only ?? (Object.keys(registryTopics) as RegistryTopicName[]);
  const prefix = options.topicPrefix ?? '';
  await ensureRegistryTopics(kafka, options);
  const encode = await createRegistryEncoder(registry);
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const byTopic: Record<string, number> = {};
  let sent = 0;
  try {
    const records = generateRegistryRecords(options);
    while (sent < options.count) {
      const batch = new Map<string, Message[]>();
      const size = Math.min(options.batchSize ?? 500, options.count - sent);
      for (let i = 0; i < size; i++) {
        const record = records.next().value;
        if (!record) break;
        const messages = batch.get(record.topic) ?? [];
        // The event time is in the record; the broker's timestamp stays "now", as for the JSON seed:
        // a timestamp of the (past) demo clock would let retention (7 days by default) delete the
        // records at the broker's next check.
        messages.push({ key: record.key, value: await encode(record) });
        batch.set(record.topic, messages);
        byTopic[record.topic] = (byTopic[record.topic] ?? 0) + 1;
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...batch.entries()].map(([topic, messages]) => ({ topic, messages })),
      });
      sent += size;
    }
  } finally {
    await producer.disconnect();
  }
  return {
    sent,
    byTopic,
    subjects: Object.fromEntries(
      names.map((name) => {
        const topic = `${prefix}${registryTopics[name]}`;
        return [topic, { format: registryFormats[name], subject: `${topic}-value` }];
      }),
    ),
    elapsedMs: Date.now() - began,
  };
}

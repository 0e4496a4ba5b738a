/**
 * The demo domains whose topics live behind the Schema Registry: loyalty points as Avro and support
 * tickets as Protobuf. Their records carry customer ids (and tickets order ids) of the JSON demo
 * domains, so discovery can relate them. Pure: records as plain objects, encoded by ./registry-seed.
 */
import { DEFAULT_SEED, DEFAULT_START_TIME, createPrng } from './generator';

export const registryTopics = {
  loyalty: 'loyalty.points',
  support: 'support.tickets',
} as const;
export type RegistryTopicName = keyof typeof registryTopics;
export const registryFormats: Record<RegistryTopicName, 'avro' | 'protobuf'> = {
  loyalty: 'avro',
  support: 'protobuf',
};
export const registryPartitions: Record<RegistryTopicName, number> = { loyalty: 2, support: 1 };

/** The Avro schema of loyalty.points, registered under `<topic>-value`. */
export const loyaltyPointsSchema = {
  type: 'record',
  name: 'PointsEvent',
  namespace: 'dev.meshloop.loyalty',
  fields: [
    { name: 'event_id', type: 'string' },
    { name: 'customer_id', type: 'string' },
    { name: 'points', type: 'int' },
    {
      name: 'reason',
      type: { type: 'enum', name: 'Reason', symbols: ['PURCHASE', 'REVIEW', 'REFERRAL', 'EXPIRY'] },
    },
    { name: 'balance', type: 'long' },
    { name: 'channel', type: ['null', 'string'], default: null },
    { name: 'earned_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
} as const;

/** The Protobuf message of support.tickets (as .proto text, for the manual; ./registry-seed builds its descriptor). */
export const supportTicketProto = `syntax = "proto3";
package meshloop.support;
import "google/protobuf/timestamp.proto";

message Ticket {
  enum Priority { PRIORITY_UNSPECIFIED = 0; LOW = 1; NORMAL = 2; HIGH = 3; }
  string ticket_id = 1;
  string customer_id = 2;
  string order_id = 3;
  Priority priority = 4;
  int32 satisfaction = 5;
  bool escalated = 6;
  google.protobuf.Timestamp opened_at = 7;
}
`;

export type LoyaltyPoints = {
  event_id: string;
  customer_id: string;
  points: number;
  reason: 'PURCHASE' | 'REVIEW' | 'REFERRAL' | 'EXPIRY';
  balance: number;
  channel: string | null;
  earned_at: number;
};

export type SupportTicket = {
  ticket_id: string;
  customer_id: string;
  order_id: string;
  /** The enum's number: 1 LOW, 2 NORMAL, 3 HIGH. */
  priority: 1 | 2 | 3;
  satisfaction: number;
  escalated: boolean;
  opened_at: number;
};

export type RegistryRecord =
  | { name: 'loyalty'; topic: string; key: string; eventTime: number; value: LoyaltyPoints }
  | { name: 'support'; topic: string; key: string; eventTime: number; value: SupportTicket };

export type RegistrySeedOptions = Readonly<{
  seed?: number;
  startTime?: number;
  topicPrefix?: string;
  only?: readonly RegistryTopicName[];
  /** Stretch the time between records by this factor (default 1: about three a second of event time). */
  gapScale?: number;
}>;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** An endless, reproducible stream of loyalty and support records (about three loyalty events per ticket). */
export function* generateRegistryRecords(options: RegistrySeedOptions = {}): Generator<RegistryRecord, void> {
  const seed = options.seed ?? DEFAULT_SEED;
  const random = createPrng(seed ^ 0x5eed);
  const tag = seed.toString(36);
  const prefix = options.topicPrefix ?? '';
  const enabled = new Set(options.only ?? (Object.keys(registryTopics) as RegistryTopicName[]));
  if (enabled.size === 0) return;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const balances = new Map<string, number>();
  const gapScale = options.gapScale ?? 1;
  let clock = options.startTime ?? DEFAULT_START_TIME;
  let events = 0;
  let tickets = 0;
  for (;;) {
    clock += Math.round(int(20, 600) * gapScale);
    // Ids of the JSON demo's early customers and orders: the domains share keys.
    const customer = `cus-${tag}-${pad(int(1, 200), 6)}`;
    if (random() < 0.75) {
      if (!enabled.has('loyalty')) continue;
      events++;
      const reason = pick(['PURCHASE', 'PURCHASE', 'PURCHASE', 'REVIEW', 'REFERRAL', 'EXPIRY'] as const);
      const points = reason === 'EXPIRY' ? -int(10, 100) : int(5, 250);
      const balance = Math.max(0, (balances.get(customer) ?? 0) + points);
      balances.set(customer, balance);
      const id = `pts-${tag}-${pad(events, 8)}`;
      yield {
        name: 'loyalty',
        topic: `${prefix}${registryTopics.loyalty}`,
        key: customer,
        eventTime: clock,
        value: {
          event_id: id,
          customer_id: customer,
          points,
          reason,
          balance,
          channel: random() < 0.2 ? null : pick(['web', 'app', 'store']),
          earned_at: clock,
        },
      };
    } else {
      if (!enabled.has('support')) continue;
      tickets++;
      const id = `tck-${tag}-${pad(tickets, 7)}`;
      yield {
        name: 'support',
        topic: `${prefix}${registryTopics.support}`,
        key: id,
        eventTime: clock,
        value: {
          ticket_id: id,
          customer_id: customer,
          order_id: `ord-${tag}-${pad(int(1, 400), 7)}`,
          priority: pick([1, 2, 2, 2, 3] as const),
          satisfaction: int(1, 5),
          escalated: random() < 0.1,
          opened_at: clock,
        },
      };
    }
  }
}

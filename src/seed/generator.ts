/**
 * The demo mesh: several domains' event streams, generated from a seeded PRNG so that the same seed
 * always yields the same records. Pure: no I/O, so tests and benches can use it directly.
 */

export type SeedRecord = Readonly<{
  topic: string;
  key: string | null;
  /** null is a tombstone-like empty record; a Buffer is raw (possibly non-UTF-8) bytes. */
  value: string | Buffer | null;
  /** The event time the record carries, epoch ms; what the broker timestamp would be in real life. */
  eventTime: number;
  /** Deliberately broken (the profiler must count it, not crash on it). */
  malformed?: boolean;
  /**
   * The partition of a record without a key: chosen here, not by the producer's round robin, so a
   * retried batch is the same batch (the idempotent producer drops it) and every run lays the
   * topics out alike.
   */
  partition?: number;
}>;

/** The demo topics, `<domain>.<entity>`. */
export const seedTopics = {
  orders: 'orders.orders',
  payments: 'payments.payments',
  shipments: 'shipments.shipments',
  customers: 'customers.profiles',
  clicks: 'web.clicks',
  inventory: 'inventory.stock',
} as const;
export type SeedTopicName = keyof typeof seedTopics;

/** Partitions per topic: the busy ones get more. */
export const seedPartitions: Record<SeedTopicName, number> = {
  orders: 3,
  payments: 2,
  shipments: 2,
  customers: 1,
  clicks: 3,
  inventory: 1,
};

export type SeedOptions = Readonly<{
  seed?: number;
  /** Event time of the first record, epoch ms. Fixed by default so runs are reproducible. */
  startTime?: number;
  /** Put before every topic name (tests use it to get topics of their own). */
  topicPrefix?: string;
  /** Roughly one in this many click records is malformed (not JSON, truncated, empty, binary). */
  malformedEvery?: number;
  /** Only these topics (all by default). */
  only?: readonly SeedTopicName[];
  /**
   * Stretch the time between new events by this factor (default 1: about 16 new events a second of
   * event time). The live feed sets it so event time runs as fast as the clock at its rate.
   */
  gapScale?: number;
}>;

export const DEFAULT_SEED = 42;
export const DEFAULT_START_TIME = Date.UTC(2026, 0, 1);

/** mulberry32: tiny, fast, good enough for demo data, and identical on every platform. */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const firstNames = [
  'Ada',
  'Grace',
  'Alan',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Dennis',
  'Frances',
  'Edsger',
  'Hedy',
  'Tim',
  'Radia',
  'Donald',
  'Sophie',
  'John',
  'Katherine',
  'Niklaus',
  'Mary',
  'Leslie',
];
const lastNames = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Torvalds',
  'Hamilton',
  'Thompson',
  'Liskov',
  'Ritchie',
  'Allen',
  'Dijkstra',
  'Lamarr',
  'Berners-Lee',
  'Perlman',
  'Knuth',
  'Wilson',
  'McCarthy',
  'Johnson',
  'Wirth',
  'Shelley',
  'Lamport',
];
const countries = ['DE', 'FR', 'NL', 'US', 'GB', 'ES', 'IT', 'SE'];
const currencies = ['EUR', 'EUR', 'EUR', 'USD', 'GBP'];
const orderStatuses = ['created', 'created', 'created', 'confirmed', 'cancelled'];
const paymentMethods = ['card', 'card', 'paypal', 'sepa', 'klarna'];
const carriers = ['DHL', 'UPS', 'DPD', 'PostNL', 'FedEx'];
const pages = ['/', '/search', '/product', '/product', '/product', '/cart', '/checkout', '/account', '/help'];
const referrers = ['https://google.com', 'https://bing.com', 'https://news.example', '', ''];
const userAgents = ['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh)', 'Mozilla/5.0 (iPhone)'];
const warehouses = ['AMS-1', 'BER-2', 'MAD-1', 'NYC-3'];

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const iso = (ms: number) => new Date(ms).toISOString();

type Pending = { at: number; make: () => SeedRecord };

/**
 * An endless, reproducible stream of records across the demo topics. Orders are followed by their
 * payment (seconds later) and shipment (hours later), both carrying the order_id and customer_id;
 * clicks are the busiest stream; inventory changes its schema half way (field renamed, field
 * added, type changed); and a few click records are malformed.
 */
export function* generateSeedRecords(options: SeedOptions = {}): Generator<SeedRecord, void> {
  const random = createPrng(options.seed ?? DEFAULT_SEED);
  // Ids carry the seed, so seeding again with another seed adds new orders instead of repeating ids.
  const tag = (options.seed ?? DEFAULT_SEED).toString(36);
  const prefix = options.topicPrefix ?? '';
  const enabled = new Set<string>(
    (options.only ?? (Object.keys(seedTopics) as SeedTopicName[])).map(
      (name) => `${prefix}${seedTopics[name]}`,
    ),
  );
  const topic = (name: SeedTopicName) => `${prefix}${seedTopics[name]}`;
  const malformedEvery = options.malformedEvery ?? 500;
  const gapScale = options.gapScale ?? 1;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

  let clock = options.startTime ?? DEFAULT_START_TIME;
  let customers = 0;
  let orders = 0;
  let payments = 0;
  let shipments = 0;
  let clicks = 0;
  let stockUpdates = 0;
  const pending: Pending[] = [];
  const schedule = (item: Pending) => {
    // Sorted insert; the queue stays short (a few hundred at most).
    let i = pending.length;
    while (i > 0 && (pending[i - 1] as Pending).at > item.at) i--;
    pending.splice(i, 0, item);
  };

  const newCustomer = (): SeedRecord => {
    customers++;
    const first = pick(firstNames);
    const last = pick(lastNames);
    const id = `cus-${tag}-${pad(customers, 6)}`;
    return {
      topic: topic('customers'),
      key: id,
      eventTime: clock,
      value: JSON.stringify({
        customer_id: id,
        full_name: `${first} ${last}`,
        email: `${first}.${last}${customers}@example.com`.toLowerCase(),
        phone: `+49 ${int(150, 179)} ${pad(int(0, 9999999), 7)}`,
        country: pick(countries),
        marketing_opt_in: random() < 0.4,
        updated_at: iso(clock),
      }),
    };
  };

  const existingCustomer = () => `cus-${tag}-${pad(int(1, Math.max(1, customers)), 6)}`;

  const newOrder = (): SeedRecord => {
    orders++;
    const id = `ord-${tag}-${pad(orders, 7)}`;
    const customerId = existingCustomer();
    const amount = Math.round((5 + random() * 495) * 100) / 100;
    const currency = pick(currencies);
    const at = clock;
    if (random() < 0.97) {
      const paidAt = at + int(2_000, 180_000);
      schedule({
        at: paidAt,
        make: () => {
          payments++;
          const paymentId = `pay-${tag}-${pad(payments, 7)}`;
          return {
            topic: topic('payments'),
            key: paymentId,
            eventTime: paidAt,
            value: JSON.stringify({
              payment_id: paymentId,
              order_id: id,
              customer_id: customerId,
              amount,
              currency,
              method: pick(paymentMethods),
              status: random() < 0.96 ? 'captured' : 'declined',
              paid_at: iso(paidAt),
            }),
          };
        },
      });
      if (random() < 0.9) {
        const shippedAt = paidAt + int(30_000, 900_000);
        schedule({
          at: shippedAt,
          make: () => {
            shipments++;
            const delivered = random() < 0.7;
            return {
              topic: topic('shipments'),
              key: id,
              eventTime: shippedAt,
              value: JSON.stringify({
                shipment_id: `shp-${tag}-${pad(shipments, 7)}`,
                order_id: id,
                customer_id: customerId,
                carrier: pick(carriers),
                status: delivered ? 'delivered' : 'in_transit',
                shipped_at: iso(shippedAt),
                delivered_at: delivered ? iso(shippedAt + int(3_600_000, 72 * 3_600_000)) : null,
              }),
            };
          },
        });
      }
    }
    return {
      topic: topic('orders'),
      key: id,
      eventTime: at,
      value: JSON.stringify({
        order_id: id,
        customer_id: customerId,
        status: pick(orderStatuses),
        items: int(1, 8),
        total_amount: amount,
        currency,
        order_ts: iso(at),
      }),
    };
  };

  const malformed = (): SeedRecord => {
    const kind = int(0, 3);
    const value =
      kind === 0
        ? 'this is not json at all'
        : kind === 1
          ? '{"click_id": "clk-broken", "url": "/cart"'
          : kind === 2
            ? null
            : Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0xfe]);
    return {
      topic: topic('clicks'),
      key: null,
      value,
      eventTime: clock,
      malformed: true,
      partition: clicks % seedPartitions.clicks,
    };
  };

  const newClick = (): SeedRecord => {
    clicks++;
    if (malformedEvery > 0 && clicks % malformedEvery === Math.floor(malformedEvery / 2)) return malformed();
    const anonymous = random() < 0.3 || customers === 0;
    const session = `ses-${pad(int(1, 5000), 5)}`;
    return {
      topic: topic('clicks'),
      key: session,
      eventTime: clock,
      value: JSON.stringify({
        click_id: `clk-${tag}-${pad(clicks, 9)}`,
        session_id: session,
        customer_id: anonymous ? null : existingCustomer(),
        page: pick(pages),
        referrer: pick(referrers),
        user_agent: pick(userAgents),
        ts: clock,
      }),
    };
  };

  // The schema drifts half way through every 2,000 updates: `warehouse` becomes `warehouse_id`,
  // `reserved` appears and `quantity` turns into a string.
  const newStock = (): SeedRecord => {
    stockUpdates++;
    const sku = `sku-${pad(int(1, 800), 4)}`;
    const quantity = int(0, 500);
    const drifted = stockUpdates % 2000 >= 1000;
    const value = drifted
      ? {
          sku,
          warehouse_id: pick(warehouses),
          quantity: String(quantity),
          reserved: int(0, 20),
          schema_version: 2,
          updated_at: iso(clock),
        }
      : { sku, warehouse: pick(warehouses), quantity, schema_version: 1, updated_at: iso(clock) };
    return { topic: topic('inventory'), key: sku, eventTime: clock, value: JSON.stringify(value) };
  };

  const sources: Array<{ weight: number; make: () => SeedRecord }> = [
    { weight: 0.55, make: newClick },
    { weight: 0.16, make: newOrder },
    { weight: 0.1, make: newStock },
    { weight: 0.04, make: newCustomer },
  ];
  const total = sources.reduce((sum, source) => sum + source.weight, 0);
  const next = (): SeedRecord => {
    const due = pending[0];
    if (due && due.at <= clock) {
      pending.shift();
      return due.make();
    }
    clock += Math.round(int(5, 120) * gapScale);
    let roll = random() * total;
    for (const source of sources) {
      roll -= source.weight;
      if (roll <= 0) return source.make();
    }
    return (sources[sources.length - 1] as (typeof sources)[number]).make();
  };

  // Every stream is simulated (payments need orders); `only` just filters what comes out.
  if (enabled.size === 0) return;
  // A few customers exist before anyone orders.
  for (let i = 0; i < 20; i++) {
    const record = newCustomer();
    if (enabled.has(record.topic)) yield record;
  }
  for (;;) {
    const record = next();
    if (enabled.has(record.topic)) yield record;
  }
}

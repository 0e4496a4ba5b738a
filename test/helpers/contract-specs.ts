import type { ProductSpecInput } from '../../src/domain/spec';

/**
 * Specs whose contracts the contract tests export, validate with the ODCS tools and import back:
 * an upserted daily aggregate, a join of two topics with every kind of quality rule, and a product
 * with PII fields masked and another product as its input.
 */
export const contractSpecs: Record<string, ProductSpecInput> = {
  upsert: {
    name: 'daily_revenue',
    domain: 'orders',
    owner: 'alice',
    description: 'Captured revenue per day and currency.',
    kind: 'aggregate',
    inputs: [
      {
        topic: 'payments.payments',
        as: 'payments',
        schema: {
          fields: [
            { name: 'amount', type: 'double' },
            { name: 'currency', type: 'string' },
            { name: 'paid_at', type: 'timestamp' },
          ],
          eventTimeField: 'paid_at',
        },
      },
    ],
    sql:
      'SELECT CAST(window_start AS DATE) AS `day`, `currency`, COUNT(*) AS `payments`,\n' +
      '  CAST(SUM(`amount`) AS DECIMAL(38, 10)) AS `revenue`, CAST(window_end AS TIMESTAMP_LTZ(3)) AS `window_end`\n' +
      "FROM TABLE(TUMBLE(TABLE payments, DESCRIPTOR(`paid_at`), INTERVAL '1' DAY))\n" +
      'GROUP BY window_start, window_end, `currency`',
    outputTopic: { partitions: 3, retentionMs: 2_592_000_000, cleanupPolicy: 'compact,delete' },
    schema: {
      fields: [
        { name: 'day', type: 'date', nullable: false, description: 'Calendar day (UTC)' },
        { name: 'currency', type: 'string', nullable: false },
        { name: 'payments', type: 'long', nullable: false },
        { name: 'revenue', type: 'decimal', nullable: false },
        { name: 'window_end', type: 'timestamp', nullable: false },
      ],
      key: ['day', 'currency'],
      eventTimeField: 'window_end',
    },
    sla: { freshness: '25h', availability: 0.999 },
    quality: [
      { rule: 'notNull', field: 'revenue' },
      { rule: 'range', field: 'revenue', min: 0 },
    ],
    classification: { pii: false, level: 'internal' },
    tags: ['finance', 'revenue'],
    proposal: {
      proposedBy: { kind: 'person', name: 'alice' },
      reasoning: "Finance asks every morning for yesterday's captured revenue per currency.",
    },
    materialization: { commitInterval: '30s', snapshotRetention: '3d' },
  },
  join: {
    name: 'paid_orders',
    domain: 'orders',
    owner: 'orders-team',
    description: 'Orders joined with their captured payment.',
    kind: 'consumer-aligned',
    inputs: [
      {
        topic: 'orders.orders',
        as: 'o',
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'customer_id', type: 'string' },
            { name: 'channel', type: 'string' },
            { name: 'placed_at', type: 'timestamp' },
          ],
          eventTimeField: 'placed_at',
        },
      },
      {
        topic: 'payments.payments',
        as: 'p',
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'amount', type: 'double' },
            { name: 'status', type: 'string' },
            { name: 'paid_at', type: 'timestamp' },
          ],
          eventTimeField: 'paid_at',
        },
      },
    ],
    sql:
      'SELECT o.order_id, o.customer_id, o.channel, p.amount, o.placed_at, p.paid_at\n' +
      'FROM o JOIN p ON o.order_id = p.order_id\n' +
      "  AND p.paid_at BETWEEN o.placed_at AND o.placed_at + INTERVAL '1' HOUR\n" +
      "WHERE p.status = 'captured'",
    outputTopic: { partitions: 6, retentionMs: -1 },
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'channel', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'placed_at', type: 'timestamp' },
        { name: 'paid_at', type: 'timestamp', description: 'When the payment was captured' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    sla: { freshness: '90s' },
    quality: [
      { rule: 'notNull', field: 'order_id' },
      { rule: 'unique', fields: ['order_id'] },
      { rule: 'unique', fields: ['order_id', 'paid_at'] },
      { rule: 'allowedValues', field: 'channel', values: ['web', 'app', 'store'] },
      { rule: 'range', field: 'amount', min: 0, max: 100000 },
      { rule: 'freshness', maxDelay: '15m' },
      { rule: 'custom', name: 'paid_after_placed', sql: 'paid_at >= placed_at' },
    ],
    analysis: { every: '30m' },
    tags: ['orders'],
  },
  pii: {
    name: 'customer_contacts',
    domain: 'customers',
    owner: 'crm-team',
    description: 'Contact details of customers with an order, e-mail and phone masked outside the domain.',
    kind: 'consumer-aligned',
    inputs: [
      { product: 'orders.paid_orders', as: 'paid' },
      {
        topic: 'customers.profiles',
        as: 'profiles',
        schema: {
          fields: [
            { name: 'customer_id', type: 'string' },
            { name: 'email', type: 'string', pii: true },
            { name: 'phone', type: 'string', pii: true },
            { name: 'updated_at', type: 'timestamp' },
          ],
        },
      },
    ],
    sql:
      'SELECT profiles.customer_id, SHA256(profiles.email) AS email, SHA256(profiles.phone) AS phone, profiles.updated_at\n' +
      'FROM profiles WHERE profiles.customer_id IN (SELECT customer_id FROM paid)',
    outputTopic: { cleanupPolicy: 'compact' },
    schema: {
      fields: [
        { name: 'customer_id', type: 'string', nullable: false },
        { name: 'email', type: 'string', pii: true, description: 'SHA-256 of the address' },
        { name: 'phone', type: 'string', pii: true },
        { name: 'updated_at', type: 'timestamp' },
      ],
      key: ['customer_id'],
    },
    classification: {
      pii: true,
      level: 'restricted',
      masking: [
        { field: 'email', strategy: 'hash' },
        { field: 'phone', strategy: 'hash' },
      ],
    },
    quality: [{ rule: 'notNull', field: 'customer_id' }],
    proposal: {
      proposedBy: { kind: 'agent', name: 'planner' },
      reasoning: 'Support looks customers up by id.',
      evidence: [{ summary: 'customers.profiles holds e-mail and phone', source: 'discovery' }],
      confidence: 0.8,
      parentProductId: 'orders.paid_orders',
    },
  },
};

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { planProposals } from '../../src/agents/planner';
import { maskedExpression, planInputs, planSql } from '../../src/agents/product-sql';
import { tumbleAggregateSql } from '../../src/creation/window-aggregate';
import type { Draft, DraftField } from '../../src/agents/proposals';
import { finishProposal, indexProfiles, proposalIdOf } from '../../src/agents/proposals';
import { tablesReadBy } from '../../src/analysis/analyst';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';
import { contactRecords, profilesOfRecords } from '../helpers/record-profiles';

const field = (name: string, type: DraftField['type'], topic: string, from = name): DraftField => ({
  name,
  type,
  description: '',
  from: [{ topic, field: from }],
  nullable: false,
});

const draftOf = (overrides: Partial<Draft>): Draft => ({
  name: 'contacts_masked',
  domain: 'crm',
  kind: 'source-aligned',
  description: 'Contacts of the CRM, masked.',
  inputs: ['crm.contacts'],
  fields: [],
  key: [],
  reasoning: 'test',
  evidence: [{ summary: 'profiled' }],
  confidence: 0.5,
  ...overrides,
});

describe('the SQL of a planned product', () => {
  const profiles = demoProfiles();
  const planned = planProposals(profiles, demoMesh);
  const byId = new Map(planned.proposals.map((p) => [`${p.spec.domain}.${p.spec.name}`, p.spec]));

  it('gives every planner proposal SQL over aliased inputs that declare what the SQL reads', () => {
    assert.equal(planned.proposals.length, 7);
    for (const { spec } of planned.proposals) {
      assert.ok(spec.sql, `${spec.name} has no SQL`);
      const aliases = spec.inputs.map((input) => input.as ?? '');
      assert.ok(
        aliases.every((alias) => /^[a-z_][a-z0-9_]*$/.test(alias)) &&
          new Set(aliases).size === aliases.length,
      );
      assert.deepEqual(tablesReadBy(spec.sql).sort(), [...aliases].sort(), spec.sql);
      for (const input of spec.inputs) {
        assert.ok('topic' in input && input.schema, `${spec.name}: ${JSON.stringify(input)}`);
        const time = input.schema.fields.find((f) => f.name === input.schema!.eventTimeField);
        assert.equal(time?.type, 'timestamp', `${spec.name}: ${input.topic} event time`);
        // Every column the SQL names is declared (a backticked name after the alias or alone).
        for (const f of input.schema.fields)
          assert.ok(spec.sql.includes(`\`${f.name}\``), `${f.name} unused`);
      }
    }
  });

  it('projects a source-aligned product column by column, typed from the profile', () => {
    const spec = byId.get('orders.orders_curated')!;
    assert.equal(
      spec.sql,
      'SELECT\n  `order_id`,\n  `customer_id`,\n  `status`,\n  `items`,\n  `total_amount`,\n  `currency`,\n  `order_ts`\nFROM orders',
    );
    assert.deepEqual(spec.inputs, [
      {
        topic: 'orders.orders',
        as: 'orders',
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'customer_id', type: 'string' },
            { name: 'status', type: 'string' },
            { name: 'items', type: 'long' },
            { name: 'total_amount', type: 'double' },
            { name: 'currency', type: 'string' },
            { name: 'order_ts', type: 'timestamp' },
          ],
          eventTimeField: 'order_ts',
        },
      },
    ]);
  });

  it('masks the personal fields of the customer profiles with Flink built-in functions', () => {
    const spec = byId.get('customers.profiles_masked')!;
    const sql = spec.sql!;
    assert.match(sql, /CAST\(SHA256\(`email`\) AS STRING\) AS `email`/);
    assert.match(sql, /CASE WHEN `phone` IS NULL THEN CAST\(NULL AS STRING\) ELSE 'REDACTED' END AS `phone`/);
    assert.match(
      sql,
      /CONCAT\('tok_', SUBSTR\(SHA256\(CONCAT\('customers\.profiles_masked:', `full_name`\)\), 1, 16\)\) AS `full_name`/,
    );
    // Unmasked columns pass through; no personal column is read bare.
    assert.match(sql, /^ {2}`country`,$/m);
    for (const name of ['email', 'phone', 'full_name'])
      assert.doesNotMatch(sql, new RegExp(`^ {2}\`${name}\`,?$`, 'm'));
    for (const f of spec.schema.fields.filter((f) => f.pii)) assert.equal(f.type, 'string');
  });

  it('writes each masking strategy so that nothing of the value survives but what the strategy keeps', () => {
    const mask = (strategy: 'hash' | 'redact' | 'tokenize' | 'truncate', kind?: 'cardNumber') =>
      maskedExpression('`x`', 'string', { field: 'x', strategy, ...(kind ? { kind } : {}) }, 'crm.p');
    assert.equal(mask('hash'), 'CAST(SHA256(`x`) AS STRING)');
    assert.equal(mask('redact'), "CASE WHEN `x` IS NULL THEN CAST(NULL AS STRING) ELSE 'REDACTED' END");
    assert.equal(mask('tokenize'), "CONCAT('tok_', SUBSTR(SHA256(CONCAT('crm.p:', `x`)), 1, 16))");
    assert.equal(
      mask('truncate', 'cardNumber'),
      "CONCAT('****', RIGHT(REGEXP_REPLACE(`x`, '[^0-9]', ''), 4))",
    );
    assert.equal(mask('truncate'), "CONCAT(SUBSTR(`x`, 1, 1), '***')");
    // A number is masked as its text.
    assert.equal(
      maskedExpression('`n`', 'long', { field: 'n', strategy: 'hash' }, 'p'),
      'CAST(SHA256(CAST(`n` AS STRING)) AS STRING)',
    );
    // The product id salts tokens: another product's token of the same value differs.
    const token = (product: string) =>
      `tok_${createHash('sha256').update(`${product}:Ada`).digest('hex').slice(0, 16)}`;
    assert.notEqual(token('crm.a'), token('crm.b'));
  });

  it('reads nested fields by their JSON path, epoch seconds as numbers, and masks what the masking says', () => {
    const index = profilesOfRecords({ 'crm.contacts': contactRecords });
    const topic = 'crm.contacts';
    assert.equal(index.get(topic)?.profile.eventTimeField, 'created_at');
    const draft = draftOf({
      fields: [
        field('contact_id', 'string', topic),
        field('address_city', 'string', topic, 'address.city'),
        field('address_zip', 'long', topic, 'address.zip'),
        field('card', 'string', topic),
        field('visits', 'int', topic),
        field('created_at', 'timestamp', topic),
        field('updated_at', 'timestamp', topic),
      ],
      key: ['contact_id'],
      eventTimeField: 'updated_at',
    });
    const result = planSql(
      draft,
      [
        { field: 'card', strategy: 'truncate', kind: 'cardNumber' },
        { field: 'address_zip', strategy: 'redact' },
      ],
      index,
    );
    assert.ok('plan' in result, JSON.stringify(result));
    const { plan } = result;
    assert.equal(
      plan.sql,
      'SELECT\n' +
        '  `contact_id`,\n' +
        '  `address.city` AS `address_city`,\n' +
        "  CASE WHEN `address.zip` IS NULL THEN CAST(NULL AS STRING) ELSE 'REDACTED' END AS `address_zip`,\n" +
        "  CONCAT('****', RIGHT(REGEXP_REPLACE(`card`, '[^0-9]', ''), 4)) AS `card`,\n" +
        '  `visits`,\n' +
        '  TO_TIMESTAMP_LTZ(`created_at`, 0) AS `created_at`,\n' +
        '  `updated_at`\n' +
        'FROM contacts',
    );
    assert.deepEqual(plan.inputs, [
      {
        topic,
        as: 'contacts',
        schema: {
          fields: [
            { name: 'contact_id', type: 'string' },
            { name: 'address.city', type: 'string' },
            { name: 'address.zip', type: 'string' },
            { name: 'card', type: 'string' },
            { name: 'visits', type: 'long' },
            { name: 'created_at', type: 'long' },
            { name: 'updated_at', type: 'timestamp' },
          ],
          // The profile's event time is created_at, in epoch seconds: the input views read ISO-8601
          // and epoch milliseconds as timestamps, so the seconds are converted in the SELECT and
          // the input has no watermark.
        },
      },
    ]);
    // The types are what the SQL yields, whatever the draft said (`int` visits, `long` zip).
    assert.deepEqual(
      plan.fields.map((f) => `${f.name}:${f.type}`),
      [
        'contact_id:string',
        'address_city:string',
        'address_zip:string',
        'card:string',
        'visits:long',
        'created_at:timestamp',
        'updated_at:timestamp',
      ],
    );
  });

  it('joins two topics on their shared key as an inner interval join within ±1 h', () => {
    const spec = byId.get('orders.orders_with_payments')!;
    assert.match(
      spec.sql!,
      /\nFROM orders\nJOIN payments\n {2}ON orders\.`order_id` = payments\.`order_id`\n {2}AND payments\.`paid_at` BETWEEN orders\.`order_ts` - INTERVAL '1' HOUR AND orders\.`order_ts` \+ INTERVAL '1' HOUR$/,
    );
    // Both sides by the names the draft gives them; one event time stays the rowtime.
    assert.match(spec.sql!, /^ {2}payments\.`status` AS `payments_status`,$/m);
    assert.match(spec.sql!, /^ {2}CAST\(payments\.`paid_at` AS TIMESTAMP_LTZ\(3\)\) AS `paid_at`$/m);
    assert.match(spec.sql!, /^ {2}orders\.`order_ts`,$/m);
    // An inner join: the payment's columns are as nullable as the payments' fields, and it says so.
    assert.equal(spec.schema.fields.find((f) => f.name === 'payment_id')?.nullable, false);
    assert.match(
      spec.description,
      /an inner join of the records whose event times lie within ±1 h of each other/,
    );
    assert.match(spec.proposal!.reasoning, /inner join within ±1 h of order_ts/);
    const shipments = byId.get('orders.orders_with_shipments')!;
    assert.equal(shipments.schema.fields.find((f) => f.name === 'delivered_at')?.nullable, true);
  });

  it('writes a tumbling-window aggregate typed as Flink types it', () => {
    const { sql, fields } = tumbleAggregateSql({
      alias: 'orders_curated',
      timeColumn: 'order_ts',
      size: "INTERVAL '1' HOUR",
      dimensions: [{ name: 'currency', type: 'string', nullable: true }],
      measures: [
        { name: 'events', fn: 'count' },
        { name: 'items', fn: 'sum', column: 'items', type: 'int' },
        { name: 'revenue', fn: 'sum', column: 'total_amount', type: 'double' },
      ],
    });
    assert.equal(
      sql,
      'SELECT\n' +
        '  CAST(window_start AS TIMESTAMP_LTZ(3)) AS window_start,\n' +
        '  CAST(window_end AS TIMESTAMP_LTZ(3)) AS window_end,\n' +
        '  `currency`,\n' +
        '  COUNT(*) AS `events`,\n' +
        '  CAST(SUM(`items`) AS BIGINT) AS `items`,\n' +
        '  SUM(`total_amount`) AS `revenue`\n' +
        "FROM TABLE(TUMBLE(TABLE orders_curated, DESCRIPTOR(`order_ts`), INTERVAL '1' HOUR))\n" +
        'GROUP BY window_start, window_end, `currency`',
    );
    assert.deepEqual(
      fields.map((f) => `${f.name}:${f.type}${f.nullable ? '?' : ''}`),
      [
        'window_start:timestamp',
        'window_end:timestamp',
        'currency:string?',
        'events:long',
        'items:long?',
        'revenue:double?',
      ],
    );
  });

  it('says why it cannot write SQL: three inputs, or two that share no key', () => {
    const index = indexProfiles(profiles);
    const three = planSql(
      draftOf({
        inputs: ['orders.orders', 'payments.payments', 'web.clicks'],
        fields: [field('order_id', 'string', 'orders.orders')],
      }),
      [],
      index,
    );
    assert.deepEqual(three, {
      problems: ['inputs: the planner writes SQL for one input or a join of two, not 3; write the SQL'],
    });
    const unrelated = planSql(
      draftOf({
        inputs: ['orders.orders', 'web.clicks'],
        fields: [field('order_id', 'string', 'orders.orders')],
      }),
      [],
      index,
    );
    assert.deepEqual(unrelated, {
      problems: ["inputs: orders.orders and web.clicks share no key (no field's values held by the other's)"],
    });
  });

  it("keeps a drafter's own SQL, declaring every profiled field of its inputs", () => {
    const index = indexProfiles(profiles);
    const sql = "SELECT `order_id`, `order_ts` FROM orders WHERE `status` = 'paid'";
    const result = finishProposal(
      {
        ...draftOf({
          name: 'paid_orders',
          domain: 'orders',
          inputs: ['orders.orders'],
          fields: [
            field('order_id', 'string', 'orders.orders'),
            field('order_ts', 'timestamp', 'orders.orders'),
          ],
          key: ['order_id'],
          eventTimeField: 'order_ts',
        }),
        sql,
      },
      { profiles: index, mesh: demoMesh, origin: 'llm', agentName: 'test' },
    );
    assert.ok('proposal' in result, JSON.stringify(result));
    assert.equal(result.proposal.spec.sql, sql);
    const [input] = result.proposal.spec.inputs;
    assert.ok(input && 'topic' in input && input.schema);
    assert.equal(input.as, 'orders');
    assert.equal(input.schema.fields.length, 7);
    assert.deepEqual(planInputs({ inputs: ['orders.orders'] }, index), result.proposal.spec.inputs);
  });

  it('gives two inputs of the same entity name distinct aliases', () => {
    const inputs = planInputs(
      {
        inputs: ['shop.orders', 'partners.orders', 'orders.summary'],
        products: { 'orders.summary': 'orders.summary' },
      },
      new Map(),
    );
    assert.deepEqual(inputs, [
      { topic: 'shop.orders', as: 'orders' },
      { topic: 'partners.orders', as: 'partners_orders' },
      { product: 'orders.summary', as: 'summary' },
    ]);
  });

  it('names the same idea with the same id whatever its SQL says', () => {
    const curated = byId.get('orders.orders_curated')!;
    const rewritten = { ...curated, sql: `${curated.sql!}\nWHERE \`items\` > 0` };
    assert.equal(proposalIdOf(rewritten), proposalIdOf(curated));
  });
});

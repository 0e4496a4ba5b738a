import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { CatalogProduct } from '../../src/agents/planner';
import { planProposals } from '../../src/agents/planner';
import { planSql } from '../../src/agents/product-sql';
import type { DraftField } from '../../src/agents/proposals';
import { analyseProduct } from '../../src/analysis/analyst';
import { ruleLabel } from '../../src/analysis/quality-queries';
import type { MeshloopConfig } from '../../src/config';
import {
  guardedSessionProperties,
  inputStatements,
  jobStatementSet,
  sinkStatements,
} from '../../src/creation/job-sql';
import type { InputBinding } from '../../src/domain/creation';
import { inputBindingsOf } from '../../src/creation/inputs';
import { inputAliasOf, rejectedTopicOf } from '../../src/domain/creation';
import { flinkTypeOf } from '../../src/domain/flink-types';
import type { ProductSpec } from '../../src/domain/spec';
import { productIdOf } from '../../src/domain/spec';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { generateSeedRecords } from '../../src/seed/generator';
import { seedKafka } from '../../src/seed/seed';
import { demoMesh, demoProfiles } from '../helpers/demo-profiles';
import { FlinkTestContext } from '../helpers/flink';
import { exampleSpecs } from '../helpers/examples';
import { contactRecords, profilesOfRecords } from '../helpers/record-profiles';
import { testPlatform } from '../helpers/platform';

/**
 * Flink accepts the SQL of every planner proposal of the demo mesh (and of the analyst's rollup):
 * declared with the job's own input statements in a guarded session, each SELECT yields exactly
 * the spec's columns with the spec's types, and the whole job (sink, rejected records) plans.
 * The masking and the join window are checked on literal rows against values computed here.
 */

/** The inputs of a spec as its job binds them (the deployment's own resolution). */
function bindingsOf(spec: ProductSpec, products: ReadonlyMap<string, ProductSpec>): InputBinding[] {
  const { bindings, problems } = inputBindingsOf(spec, (id) => products.get(id));
  assert.deepEqual(problems, [], `${productIdOf(spec)}: its inputs cannot be bound`);
  return bindings;
}

/** `TIMESTAMP_LTZ(3) *ROWTIME*` → `TIMESTAMP_LTZ(3)`; nullability is the spec's promise, not Flink's. */
function* take<T>(items: Iterable<T>, count: number): Generator<T> {
  let n = 0;
  for (const item of items) {
    if (n++ >= count) return;
    yield item;
  }
}

/** A string literal typed STRING (a bare literal is a CHAR(n), padded in VALUES). */
const text = (value: string) => `CAST('${value}' AS STRING)`;

/**
 * A small job over literal rows, one slot. Streaming (it ends with its bounded input): batch
 * shuffles ask for more network buffers than the test TaskManager has.
 */
const literalRun = { 'execution.runtime-mode': 'streaming', 'parallelism.default': '1' };

const bareType = (type: string) =>
  type
    .replace(/\s*\*ROWTIME\*$/, '')
    .replace(/\s+NOT NULL$/, '')
    .trim();

describe('the SQL of planner proposals and hand-written examples on Flink', function () {
  this.timeout(180_000);
  let config: MeshloopConfig;
  let flink: FlinkTestContext;
  const profiles = demoProfiles();
  const planned = planProposals(profiles, demoMesh).proposals.map((p) => p.spec);
  const curated = planned.find((s) => productIdOf(s) === 'orders.orders_curated')!;
  // Higher-order products: the planner joining a running product, and the analyst's rollup of it.
  const running: CatalogProduct[] = [
    {
      productId: 'orders.orders_curated',
      topic: 'orders.orders_curated',
      stage: 'active',
      inputTopics: ['orders.orders'],
    },
  ];
  const productTopicProfile = demoProfiles().find((p) => p.topic === 'orders.orders')!;
  const higher = planProposals(
    [...profiles, { ...productTopicProfile, topic: 'orders.orders_curated' }],
    demoMesh,
    { products: running },
  ).proposals.map((p) => p.spec);
  const analysed = analyseProduct({
    spec: curated,
    figures: {
      snapshotId: '1',
      rows: 1000,
      fields: curated.schema.fields.map((f) => ({
        name: f.name,
        distinct: f.name === 'currency' ? 3 : 1000,
        nulls: 0,
      })),
      ruleHistory: Object.fromEntries(curated.quality.map((rule) => [ruleLabel(rule), [2, 1, 1]])),
      query: 'SELECT 1',
    },
    neighbours: [
      {
        spec: planned.find((s) => productIdOf(s) === 'customers.profiles_masked')!,
        stage: 'active',
        overlaps: [{ field: 'customer_id', theirField: 'customer_id', containment: 0.99, query: 'SELECT 1' }],
      },
    ],
  }).proposals.map((p) => p.spec);
  const specs = [...planned, ...higher.filter((s) => s.inputs.some((i) => 'product' in i)), ...analysed];
  const byId = new Map(specs.map((s) => [productIdOf(s), s]));

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    // The hand-written examples go through the same check.
    for (const { spec } of await exampleSpecs()) {
      specs.push(spec);
      byId.set(productIdOf(spec), spec);
    }
  });

  beforeEach(() => {
    flink = new FlinkTestContext(config);
  });

  afterEach(async () => {
    await flink.cleanUp();
  });

  it('covers every shape: projections, the masked product, joins, a product input and a window aggregate', () => {
    assert.equal(planned.length, 7, planned.map(productIdOf).join(', '));
    assert.ok(higher.some((s) => productIdOf(s) === 'orders.orders_curated_with_payments'));
    assert.ok(
      analysed.some((s) => /TUMBLE/.test(s.sql ?? '')),
      analysed.map(productIdOf).join(', '),
    );
    for (const spec of specs) assert.ok(spec.sql, `${productIdOf(spec)} has no SQL`);
    assert.ok(
      specs.some((s) => s.proposal?.proposedBy.kind === 'person'),
      'no hand-written example',
    );
  });

  it('yields exactly the spec columns with their Flink types, and the whole job plans', async () => {
    const connectors = config.flink;
    const mismatches: string[] = [];
    for (const spec of specs) {
      const id = productIdOf(spec);
      const session = await flink.gateway.openSession({
        name: `planner-sql-${id}`,
        properties: { ...guardedSessionProperties },
      });
      try {
        for (const binding of bindingsOf(spec, byId)) {
          for (const statement of inputStatements(binding, {
            connectors,
            groupId: `planner-sql-${id}`,
          })) {
            await session.execute(statement);
          }
        }
        await session.execute(`CREATE TEMPORARY VIEW meshloop_product AS\n${spec.sql!}`);
        const described = await session.execute('DESCRIBE meshloop_product');
        const actual = described.rows.map((row) => `${String(row.name)}:${bareType(String(row.type))}`);
        const expected = spec.schema.fields.map((f) => `${f.name}:${flinkTypeOf[f.type]}`);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          mismatches.push(`${id}\n  Flink: ${actual.join(', ')}\n  spec:  ${expected.join(', ')}`);
        }
        // The job itself (sink typed by the spec, rejected records) plans: no second rowtime, no
        // updating result into an append-only topic.
        for (const statement of sinkStatements(spec, {
          connectors,
          rejectedTopic: rejectedTopicOf(spec),
          transactionalIdPrefix: `meshloop-test.${id}`,
        })) {
          await session.execute(statement);
        }
        const plan = await session.execute(
          jobStatementSet(spec, bindingsOf(spec, byId), spec.sql!).replace(
            /^EXECUTE STATEMENT SET/,
            'EXPLAIN STATEMENT SET',
          ),
        );
        assert.match(
          JSON.stringify(plan.rows),
          /Sink\(table=\[default_catalog\.default_database\.meshloop_sink\]/,
          id,
        );
      } finally {
        await session.close().catch(() => undefined);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  it('computes exactly the rows expected from seeded Kafka records: the join, and the masking', async function () {
    this.timeout(300_000);
    const prefix = `psql${Date.now().toString(36)}_`;
    const options = { seed: 5, topicPrefix: prefix, only: ['orders', 'payments', 'customers'] as const };
    const count = 3000;
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'planner-sql-test' });
    assert.equal((await seedKafka(kafka, { ...options, count })).sent, count);
    const seeded = [...take(generateSeedRecords(options), count)].map((r) => ({
      topic: r.topic.slice(prefix.length),
      value: JSON.parse(String(r.value)) as Record<string, string | number>,
    }));

    /** The product's SELECT over the seeded topics, read up to their current end (a bounded job). */
    const rowsOf = async (spec: ProductSpec) => {
      const session = await flink.openSession(`planner-sql-seeded-${spec.name}`);
      await session.configure("SET 'table.local-time-zone' = 'UTC'");
      for (const binding of bindingsOf(spec, byId)) {
        for (const statement of inputStatements(
          { ...binding, topic: `${prefix}${binding.topic}` },
          { connectors: config.flink, groupId: `${prefix}${spec.name}` },
        )) {
          await session.execute(
            statement.replace(
              "'scan.startup.mode' = 'earliest-offset'",
              "'scan.startup.mode' = 'earliest-offset',\n  'scan.bounded.mode' = 'latest-offset'",
            ),
          );
        }
      }
      const result = await session.execute(spec.sql!, { executionConfig: literalRun, timeoutMs: 240_000 });
      flink.track(result.jobId);
      assert.ok(result.rawRows.every((row) => row.kind === 'INSERT'));
      return result.rows;
    };

    // The join: every payment whose order was seeded and lies within the hour of it.
    const orders = new Map(
      seeded.filter((r) => r.topic === 'orders.orders').map((r) => [r.value.order_id, r.value]),
    );
    const expectedPairs = seeded
      .filter((r) => r.topic === 'payments.payments')
      .flatMap(({ value: payment }) => {
        const order = orders.get(payment.order_id);
        if (!order) return [];
        const apart = Math.abs(Date.parse(String(payment.paid_at)) - Date.parse(String(order.order_ts)));
        return apart <= 3_600_000
          ? [
              `${order.order_id}|${payment.payment_id}|${order.total_amount}|${payment.amount}|${payment.status}`,
            ]
          : [];
      })
      .sort();
    assert.ok(expectedPairs.length > 100, `only ${expectedPairs.length} pairs in the seed`);
    const joined = await rowsOf(byId.get('orders.orders_with_payments')!);
    assert.deepEqual(
      joined
        .map(
          (r) =>
            `${String(r.order_id)}|${String(r.payment_id)}|${String(r.total_amount)}|${String(r.amount)}|${String(r.payments_status)}`,
        )
        .sort(),
      expectedPairs,
    );

    // The masking: every profile, its personal fields as computed here, nothing raw anywhere.
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const profilesSeeded = seeded.filter((r) => r.topic === 'customers.profiles').map((r) => r.value);
    const expectedProfiles = profilesSeeded
      .map(
        (p) =>
          `${p.customer_id}|tok_${sha256(`customers.profiles_masked:${p.full_name}`).slice(0, 16)}|${sha256(String(p.email))}|REDACTED`,
      )
      .sort();
    const masked = await rowsOf(byId.get('customers.profiles_masked')!);
    assert.deepEqual(
      masked
        .map((r) => `${String(r.customer_id)}|${String(r.full_name)}|${String(r.email)}|${String(r.phone)}`)
        .sort(),
      expectedProfiles,
    );
    const output = JSON.stringify(masked);
    for (const p of profilesSeeded) {
      for (const raw of [p.full_name, p.email, p.phone, String(p.phone).replace(/\D/g, '')]) {
        assert.ok(!output.includes(String(raw)), `raw ${String(raw)} in the masked rows`);
      }
    }
  });

  it('reads nested JSON fields and epoch seconds as typed, masked columns', async () => {
    const topic = 'crm.contacts';
    const from = (name: string, type: DraftField['type'], source = name): DraftField => ({
      name,
      type,
      description: '',
      from: [{ topic, field: source }],
      nullable: false,
    });
    const planned = planSql(
      {
        name: 'contacts_masked',
        domain: 'crm',
        kind: 'source-aligned',
        description: 'contacts',
        inputs: [topic],
        fields: [
          from('contact_id', 'string'),
          from('address_city', 'string', 'address.city'),
          from('address_zip', 'string', 'address.zip'),
          from('card', 'string'),
          from('visits', 'long'),
          from('created_at', 'timestamp'),
          from('updated_at', 'timestamp'),
        ],
        key: ['contact_id'],
        eventTimeField: 'updated_at',
        reasoning: '',
        evidence: [],
        confidence: 0.5,
      },
      [
        { field: 'card', strategy: 'truncate', kind: 'cardNumber' },
        { field: 'address_zip', strategy: 'redact' },
        { field: 'address_city', strategy: 'truncate' },
      ],
      profilesOfRecords({ [topic]: contactRecords }),
    );
    assert.ok('plan' in planned, JSON.stringify(planned));
    const [input] = planned.plan.inputs;
    assert.ok(input && 'topic' in input && input.schema);
    const session = await flink.openSession('planner-sql-contacts');
    await session.configure("SET 'table.local-time-zone' = 'UTC'");
    for (const statement of inputStatements(
      { alias: inputAliasOf(input), topic, fields: input.schema.fields },
      { connectors: config.flink, groupId: 'planner-sql-contacts' },
    )) {
      await session.execute(statement);
    }
    await session.execute(`CREATE TEMPORARY VIEW meshloop_product AS\n${planned.plan.sql}`);
    const described = await session.execute('DESCRIBE meshloop_product');
    assert.deepEqual(
      described.rows.map((row) => `${String(row.name)}:${bareType(String(row.type))}`),
      planned.plan.fields.map((f) => `${f.name}:${flinkTypeOf[f.type]}`),
    );
    // The same SQL over one literal row in place of the topic's view.
    await session.execute('DROP TEMPORARY VIEW meshloop_product');
    await session.execute('DROP TEMPORARY VIEW contacts');
    await session.execute(
      'CREATE TEMPORARY VIEW contacts AS SELECT * FROM (VALUES (' +
        [
          text('ct-1'),
          text('Lyon'),
          text('69001'),
          text('4111 1111 1111 1234'),
          'CAST(7 AS BIGINT)',
          'CAST(1767225600 AS BIGINT)',
          'TO_TIMESTAMP_LTZ(1767225600000, 3)',
        ].join(', ') +
        ')) AS t(`contact_id`, `address.city`, `address.zip`, `card`, `visits`, `created_at`, `updated_at`)',
    );
    const rows = await session.execute(planned.plan.sql, { executionConfig: literalRun });
    flink.track(rows.jobId);
    assert.equal(rows.rows.length, 1);
    const row = rows.rows[0]!;
    assert.deepEqual(
      [row.contact_id, row.address_city, row.address_zip, row.card, row.visits],
      ['ct-1', 'L***', 'REDACTED', '****1234', 7],
    );
    // Epoch seconds read as the same instant as the milliseconds.
    assert.equal(String(row.created_at), String(row.updated_at));
  });

  it('masks the personal fields on literal rows: hash, token and redaction as computed here, nothing raw', async () => {
    const spec = byId.get('customers.profiles_masked')!;
    const session = await flink.openSession('planner-sql-masking');
    await session.configure("SET 'table.local-time-zone' = 'UTC'");
    const people = [
      ['c-1', 'Ada Lovelace', 'ada@example.org', '+44 20 7946 0001', 'GB', true],
      ['c-2', 'Alan Turing', 'alan@example.org', '+44 20 7946 0002', 'GB', false],
    ] as const;
    const rows = people
      .map(
        ([id, name, email, phone, country, optIn]) =>
          `(${[id, name, email, phone, country].map(text).join(', ')}, ${optIn}, TO_TIMESTAMP_LTZ(1767225600000, 3))`,
      )
      .join(', ');
    // The input view as literal rows: same alias, same columns.
    await session.execute(
      `CREATE TEMPORARY VIEW ${inputAliasOf(spec.inputs[0]!)} AS SELECT * FROM (VALUES ${rows}) ` +
        'AS t(customer_id, full_name, email, phone, country, marketing_opt_in, updated_at)',
    );
    const result = await session.execute(spec.sql!, {
      executionConfig: literalRun,
    });
    flink.track(result.jobId);
    const byCustomer = new Map(result.rows.map((row) => [row.customer_id as string, row]));
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    for (const [id, name, email, phone] of people) {
      const row = byCustomer.get(id);
      assert.ok(row, `no row for ${id}`);
      assert.equal(row.email, sha256(email));
      assert.equal(row.full_name, `tok_${sha256(`customers.profiles_masked:${name}`).slice(0, 16)}`);
      assert.equal(row.phone, 'REDACTED');
      const text = JSON.stringify(row);
      for (const raw of [name, email, phone, phone.replace(/\D/g, '')])
        assert.ok(!text.includes(raw), `${raw} in ${text}`);
    }
  });

  it('joins an order with the payments made within ±1 h of it, and no other', async () => {
    const spec = byId.get('orders.orders_with_payments')!;
    const session = await flink.openSession('planner-sql-join');
    await session.configure("SET 'table.local-time-zone' = 'UTC'");
    const at = (minutes: number) => `TO_TIMESTAMP_LTZ(${1767225600000 + minutes * 60_000}, 3)`;
    await session.execute(
      'CREATE TEMPORARY VIEW orders AS SELECT * FROM (VALUES ' +
        ['o-1', 'o-2', 'o-3']
          .map(
            (id, i) =>
              `(${text(id)}, ${text(`c-${i}`)}, ${text('placed')}, CAST(${i + 1} AS BIGINT), CAST(${10 * (i + 1)} AS DOUBLE), ${text('EUR')}, ${at(0)})`,
          )
          .join(', ') +
        ') AS t(order_id, customer_id, status, items, total_amount, currency, order_ts)',
    );
    await session.execute(
      'CREATE TEMPORARY VIEW payments AS SELECT * FROM (VALUES ' +
        [
          ['p-1', 'o-1', 3],
          ['p-2', 'o-2', 61],
          ['p-9', 'o-9', 1],
        ]
          .map(
            ([payment, order, minutes]) =>
              `(${text(String(payment))}, ${text(String(order))}, ${text('c')}, CAST(10 AS DOUBLE), ${text('EUR')}, ${text('card')}, ${text('captured')}, ${at(Number(minutes))})`,
          )
          .join(', ') +
        ') AS t(`payment_id`, `order_id`, `customer_id`, `amount`, `currency`, `method`, `status`, `paid_at`)',
    );
    const result = await session.execute(spec.sql!, {
      executionConfig: literalRun,
    });
    flink.track(result.jobId);
    // o-1 paid after 3 min joins; o-2 paid after 61 min is outside the window; o-3 has no payment.
    assert.deepEqual(
      result.rows.map(
        (row) => `${String(row.order_id)}:${String(row.payment_id)}:${String(row.payments_status)}`,
      ),
      ['o-1:p-1:captured'],
    );
  });
});

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { translatingFailures } from '../../activities/failures';
import { createCreationActivities } from '../../activities/creation';
import { FlinkRestClient, SqlGatewayClient, terminalJobStates } from '../../src/adapters/flink';
import { ensureCatalogTopic, publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { MeshloopConfig } from '../../src/config';
import { ProductJobs } from '../../src/creation/product-jobs';
import type { ProductJobInput, ProductJobStatus } from '../../src/domain/creation';
import { productJobNameOf, rejectedTopicOf } from '../../src/domain/creation';
import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { SeedRecord, SeedTopicName } from '../../src/seed/generator';
import { generateSeedRecords, seedPartitions, seedTopics } from '../../src/seed/generator';
import { waitUntil } from '../../src/stack/probe';
import { FlinkTestContext } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';
import { committedRecords } from '../helpers/topic-records';

/**
 * Product jobs on the real platform (Kafka, the Flink session cluster and its SQL Gateway): the
 * seed's topics under a prefix of this run, products deployed over them, their topics read back and
 * compared with what the seed records say they must hold.
 */
describe('Creation: product Flink jobs on the real platform', function () {
  this.timeout(600_000);
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const prefix = `itc${run}.`;
  const domain = `itc${run}`;
  const catalogTopic = `${prefix}catalog`;
  const log = createLogger('creation-test', 'warn');
  let config: MeshloopConfig;
  let kafka: Kafka;
  let rest: FlinkRestClient;
  let activities: ReturnType<typeof createCreationActivities>;
  const deployed: ProductJobInput[] = [];
  /** Products read by other products, and their topics. */
  const productTopics = new Map<string, string>();
  const topics: string[] = [];
  let seeded: SeedRecord[] = [];
  const seededOn = (name: SeedTopicName) => seeded.filter((r) => r.topic === `${prefix}${seedTopics[name]}`);
  const json = (record: SeedRecord) => JSON.parse(String(record.value)) as Record<string, string>;
  const parse = (text: string | null) => JSON.parse(text ?? 'null') as Record<string, string>;

  const inputs = {
    orders: {
      topic: `${prefix}${seedTopics.orders}`,
      as: 'orders',
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'customer_id', type: 'string' },
          { name: 'status', type: 'string' },
          { name: 'items', type: 'int' },
          { name: 'total_amount', type: 'double' },
          { name: 'currency', type: 'string' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
    },
    payments: {
      topic: `${prefix}${seedTopics.payments}`,
      as: 'payments',
      schema: {
        fields: [
          { name: 'payment_id', type: 'string' },
          { name: 'order_id', type: 'string' },
          { name: 'amount', type: 'double' },
          { name: 'currency', type: 'string' },
          { name: 'method', type: 'string' },
          { name: 'status', type: 'string' },
          { name: 'paid_at', type: 'timestamp' },
        ],
        eventTimeField: 'paid_at',
      },
    },
    customers: {
      topic: `${prefix}${seedTopics.customers}`,
      as: 'profiles',
      schema: {
        fields: [
          { name: 'customer_id', type: 'string' },
          { name: 'full_name', type: 'string' },
          { name: 'email', type: 'string' },
          { name: 'phone', type: 'string' },
          { name: 'country', type: 'string' },
          { name: 'updated_at', type: 'timestamp' },
        ],
        eventTimeField: 'updated_at',
      },
    },
    clicks: {
      topic: `${prefix}${seedTopics.clicks}`,
      as: 'clicks',
      schema: {
        fields: [
          { name: 'click_id', type: 'string' },
          { name: 'session_id', type: 'string' },
          { name: 'customer_id', type: 'string' },
          { name: 'page', type: 'string' },
          { name: 'ts', type: 'timestamp' },
        ],
        eventTimeField: 'ts',
      },
    },
  } as const satisfies Record<string, NonNullable<ProductSpecInput['inputs']>[number]>;

  function product(name: string, rest: Omit<ProductSpecInput, 'name' | 'domain' | 'owner'>): ProductJobInput {
    const spec: ProductSpec = parseSpec({ name, domain, owner: 'alice', ...rest });
    return { productId: productIdOf(spec), revision: 1, spec };
  }

  /** A source-aligned copy of the orders (the shape most tests need). */
  const ordersCopy = (name: string) =>
    product(name, {
      kind: 'source-aligned',
      inputs: [inputs.orders],
      outputTopic: { partitions: 1 },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'total_amount', type: 'double' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
      sql: 'SELECT order_id, total_amount, order_ts FROM orders',
    });

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'creation-test' });
    rest = new FlinkRestClient({ url: config.flink.restUrl });
    const jobs = new ProductJobs({
      gateway: new SqlGatewayClient({ url: config.flink.sqlGatewayUrl }),
      rest,
      kafka,
      connectors: config.flink,
      flinkUiUrl: config.flink.restUrl,
      log,
    });
    activities = translatingFailures(createCreationActivities({ jobs, kafka, catalogTopic, log }));
    const only: SeedTopicName[] = ['orders', 'payments', 'customers', 'clicks'];
    const generator = generateSeedRecords({ topicPrefix: prefix, only, malformedEvery: 97 });
    seeded = Array.from({ length: 5000 }, () => generator.next().value as SeedRecord);
    await createTopics(
      only.map((name) => ({ topic: `${prefix}${seedTopics[name]}`, partitions: seedPartitions[name] })),
    );
    await produce(seeded);
  });

  after(async function () {
    this.timeout(180_000);
    for (const input of deployed.splice(0)) {
      for (const job of await rest.listJobs()) {
        if (
          job.name === productJobNameOf(input.productId, input.revision) &&
          !terminalJobStates.includes(job.state)
        ) {
          await rest.cancelJob(job.jid).catch(() => undefined);
        }
      }
    }
    const admin = kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: topics.filter((t) => existing.has(t)) }).catch(() => undefined);
    await admin.disconnect();
  });

  async function createTopics(wanted: Array<{ topic: string; partitions: number; compact?: boolean }>) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await createTopicsAndAwaitLeaders(
        admin,
        wanted.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions,
          configEntries: [{ name: 'cleanup.policy', value: t.compact ? 'compact' : 'delete' }],
        })),
      );
      topics.push(...wanted.map((t) => t.topic));
    } finally {
      await admin.disconnect();
    }
  }

  /** The product's topic, as provisioning creates it before deploying. */
  async function createOutputTopic(input: ProductJobInput) {
    const out = input.spec.outputTopic;
    await createTopics([
      { topic: out.name, partitions: out.partitions, compact: out.cleanupPolicy.includes('compact') },
    ]);
    topics.push(rejectedTopicOf(input.spec));
  }

  async function produce(records: readonly SeedRecord[]) {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const byTopic = new Map<string, Array<{ key: string | null; value: string | Buffer | null }>>();
      for (const record of records) {
        const list = byTopic.get(record.topic) ?? [];
        list.push({ key: record.key, value: record.value });
        byTopic.set(record.topic, list);
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } finally {
      await producer.disconnect();
    }
  }

  async function deploy(input: ProductJobInput, options: { savepoint?: string } = {}) {
    if (!deployed.includes(input)) deployed.push(input);
    return mock(() => activities.deployProductJob({ ...input, ...options }));
  }

  async function waitForStatus(
    input: ProductJobInput,
    done: (status: ProductJobStatus) => boolean,
    what: string,
    timeoutMs = 180_000,
  ): Promise<ProductJobStatus> {
    let status: ProductJobStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        status = await mock(() => activities.describeProductJob(input));
        return done(status);
      },
      { timeoutMs, intervalMs: 1000 },
    );
    assert.equal(outcome, 'ready', `${what}; last status ${JSON.stringify(status)}`);
    return status!;
  }

  async function endOffsets(topic: string): Promise<Map<number, number>> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    } finally {
      await admin.disconnect();
    }
  }

  async function endsAfterLastRecord(topic: string): Promise<Map<number, number>> {
    const ends = new Map<number, number>();
    for (const record of await committedRecords(kafka, topic)) {
      ends.set(record.partition, Math.max(ends.get(record.partition) ?? 0, Number(record.offset) + 1));
    }
    return ends;
  }

  const total = (offsets: Map<number, number>) => [...offsets.values()].reduce((a, b) => a + b, 0);

  /** True once the job's consumer group has committed the end of every input topic (a checkpoint). */
  async function consumedAll(input: ProductJobInput): Promise<boolean> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const source of input.spec.inputs) {
        const topic = 'topic' in source ? source.topic : productTopics.get(source.product)!;
        // A product topic's end offset counts its last commit marker, which Flink's committed
        // offset may stop short of: its end is the offset after its last committed record.
        const ends = 'topic' in source ? await endOffsets(topic) : await endsAfterLastRecord(topic);
        const [committed] = await admin.fetchOffsets({
          groupId: `meshloop-create.${input.productId}`,
          topics: [topic],
        });
        for (const partition of committed?.partitions ?? []) {
          if (Number(partition.offset) < (ends.get(partition.partition) ?? 0)) return false;
        }
        if ((committed?.partitions.length ?? 0) < ends.size) return false;
      }
      return true;
    } finally {
      await admin.disconnect();
    }
  }

  /** Every committed record of a topic up to its committed end (product topics hold transaction markers). */
  async function readAll(topic: string): Promise<Array<{ key: string | null; value: string | null }>> {
    return (await committedRecords(kafka, topic)).map(({ key, value }) => ({ key, value }));
  }

  /** Wait until the job has read its inputs to the end and its topic holds `count` records. */
  async function waitForOutput(input: ProductJobInput, count: number) {
    let seen = -1;
    const outcome = await waitUntil(
      async () => {
        seen = (await committedRecords(kafka, input.spec.outputTopic.name)).length;
        return seen >= count && (await consumedAll(input));
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    assert.equal(
      outcome,
      'ready',
      `${input.productId}: ${seen} of ${count} records, or inputs not read to the end`,
    );
  }

  const joined = product('orders_with_payments', {
    kind: 'consumer-aligned',
    inputs: [inputs.orders, inputs.payments],
    outputTopic: { partitions: 2 },
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'total_amount', type: 'double' },
        { name: 'currency', type: 'string' },
        { name: 'order_ts', type: 'timestamp' },
        { name: 'payment_id', type: 'string' },
        { name: 'method', type: 'string' },
        { name: 'paid_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'order_ts',
    },
    sql: `SELECT o.order_id, o.customer_id, o.total_amount, o.currency, o.order_ts,
       p.payment_id, p.\`method\`, p.paid_at
FROM orders AS o
JOIN payments AS p
  ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
  });

  it('a joined product (orders ⋈ payments, interval join) holds exactly the rows the seed implies', async () => {
    await createOutputTopic(joined);
    const result = await deploy(joined);
    assert.equal(result.started, true);
    assert.equal(result.jobName, productJobNameOf(joined.productId, 1));
    assert.match(result.url ?? '', new RegExp(`/#/job/running/${result.jobId}/overview$`));

    const expected = expectedJoinedRows();
    assert.ok(expected.size > 100, `the seed gives ${expected.size} joined rows`);

    await waitForOutput(joined, expected.size);
    const rows = (await readAll(joined.spec.outputTopic.name)).map((r) => parse(r.value));
    const got = new Set(rows.map((row) => `${row.order_id}|${row.payment_id}`));
    assert.equal(rows.length, got.size, 'no row twice');
    assert.deepEqual([...got].sort(), [...expected.keys()].sort());
    for (const row of rows.slice(0, 50)) {
      const want = expected.get(`${row.order_id}|${row.payment_id}`)!;
      assert.equal(row.total_amount, want.total_amount);
      assert.equal(row.currency, want.currency);
      assert.equal(row.method, want.method);
      assert.equal(row.customer_id, want.customer_id);
      assert.equal(Date.parse(row.paid_at as string), Date.parse(want.paid_at as string));
      assert.equal(Date.parse(row.order_ts as string), Date.parse(want.order_ts as string));
    }
    const status = await waitForStatus(joined, (s) => s.state === 'RUNNING', 'the joined job runs');
    assert.deepEqual([status.restarts, status.waitingForSlot, status.rejectedRecords], [0, false, 0]);
  });

  /** The joined product's rows, from the seed records alone: each payment within ±1 h of its order. */
  function expectedJoinedRows(): Map<string, Record<string, string>> {
    const orders = new Map(seededOn('orders').map((r) => [json(r).order_id!, json(r)]));
    const expected = new Map<string, Record<string, string>>();
    for (const record of seededOn('payments')) {
      const payment = json(record);
      const order = orders.get(payment.order_id!);
      if (!order) continue;
      const gap = Date.parse(payment.paid_at!) - Date.parse(order.order_ts!);
      if (Math.abs(gap) <= 3_600_000)
        expected.set(`${order.order_id}|${payment.payment_id}`, { ...order, ...payment });
    }
    return expected;
  }

  it('a product reading another product reads that product’s topic, with its schema from the catalog', async () => {
    if (!deployed.includes(joined)) {
      await createOutputTopic(joined);
      await deploy(joined);
    }
    await ensureCatalogTopic(kafka, catalogTopic);
    topics.push(catalogTopic);
    const producer = kafka.producer();
    await producer.connect();
    await publishCatalogRecord(
      producer,
      toCatalogDescriptor({
        spec: joined.spec,
        stage: 'active',
        // A live product carries the approval of its current spec: what a product input checks.
        decisions: [
          {
            by: 'alice',
            action: 'approve',
            at: new Date().toISOString(),
            revision: 1,
            stage: 'provisioning',
          },
        ],
        resources: [],
        updatedAt: new Date(),
      }),
      catalogTopic,
    );
    await producer.disconnect();
    const cards = product('card_payments', {
      kind: 'consumer-aligned',
      inputs: [{ product: joined.productId, as: 'paid' }],
      outputTopic: { partitions: 1 },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'payment_id', type: 'string' },
          { name: 'paid_at', type: 'timestamp' },
        ],
        eventTimeField: 'paid_at',
      },
      sql: "SELECT order_id, payment_id, paid_at FROM paid WHERE `method` = 'card'",
    });
    productTopics.set(joined.productId, joined.spec.outputTopic.name);
    await createOutputTopic(cards);
    await deploy(cards);
    const expected = [...expectedJoinedRows().values()].filter((row) => row.method === 'card');
    assert.ok(expected.length > 50);
    await waitForOutput(cards, expected.length);
    const rows = (await readAll(cards.spec.outputTopic.name)).map((r) => parse(r.value));
    assert.deepEqual(rows.map((row) => row.payment_id).sort(), expected.map((row) => row.payment_id).sort());
  });

  it('a masked product over customer profiles holds no raw e-mail, phone, name or customer id (every record scanned)', async () => {
    const masked = product('profiles_masked', {
      kind: 'source-aligned',
      inputs: [inputs.customers],
      outputTopic: { partitions: 1, cleanupPolicy: 'compact' },
      schema: {
        fields: [
          { name: 'customer_token', type: 'string', nullable: false },
          { name: 'name_token', type: 'string' },
          { name: 'email_sha256', type: 'string' },
          { name: 'phone', type: 'string' },
          { name: 'country', type: 'string' },
          { name: 'updated_at', type: 'timestamp' },
        ],
        key: ['customer_token'],
        eventTimeField: 'updated_at',
      },
      sql: `SELECT SUBSTR(SHA256(CONCAT('tok:', customer_id)), 1, 16) AS customer_token,
       SUBSTR(SHA256(CONCAT('tok:', full_name)), 1, 16) AS name_token,
       SHA256(email) AS email_sha256,
       REGEXP_REPLACE(phone, '[0-9]', '*') AS phone,
       country, updated_at
FROM profiles`,
    });
    await createOutputTopic(masked);
    await deploy(masked);
    const profiles = seededOn('customers').map(json);
    await waitForOutput(masked, profiles.length);
    const records = await readAll(masked.spec.outputTopic.name);
    assert.equal(records.length, profiles.length);
    const raw = profiles.flatMap((p) => [p.email, p.phone, p.full_name, p.customer_id] as string[]);
    // Phone digits alone are also a leak: compare them without their spacing.
    const digits = profiles.map((p) => String(p.phone).replace(/\D/g, ''));
    for (const record of records) {
      const text = `${record.key ?? ''} ${record.value ?? ''}`;
      for (const value of raw) assert.ok(!text.includes(value), `record leaks ${value}: ${text}`);
      for (const value of digits)
        assert.ok(!text.replace(/\D/g, '').includes(value), `record leaks ${value}`);
    }
    // Masked, not dropped: the hashes are those of the source's values.
    const emails = new Set(profiles.map((p) => createHash('sha256').update(String(p.email)).digest('hex')));
    for (const record of records) assert.ok(emails.has(String(parse(record.value).email_sha256)));
  });

  it('malformed click records neither stop the job nor vanish: counted as rejected, the good ones are in the topic', async () => {
    const clicks = product('clicks_curated', {
      kind: 'source-aligned',
      inputs: [inputs.clicks],
      outputTopic: { partitions: 3 },
      schema: {
        fields: [
          { name: 'click_id', type: 'string', nullable: false },
          { name: 'session_id', type: 'string' },
          { name: 'customer_id', type: 'string' },
          { name: 'page', type: 'string' },
          { name: 'ts', type: 'timestamp' },
        ],
        eventTimeField: 'ts',
      },
      sql: 'SELECT click_id, session_id, customer_id, page, ts FROM clicks',
    });
    await createOutputTopic(clicks);
    await deploy(clicks);
    const records = seededOn('clicks');
    const good = records.filter((r) => !r.malformed);
    const malformed = records.filter((r) => r.malformed);
    // Not JSON, truncated JSON, binary, and records without a value (tombstones).
    const tombstones = malformed.filter((r) => r.value === null).length;
    assert.ok(
      tombstones > 0 && malformed.length > tombstones,
      `the seed has ${malformed.length} malformed clicks`,
    );
    await waitForOutput(clicks, good.length);
    const status = await waitForStatus(
      clicks,
      (s) => s.rejectedRecords >= malformed.length,
      'the malformed clicks are counted',
    );
    assert.equal(status.state, 'RUNNING');
    assert.equal(status.restarts, 0);
    assert.equal(status.rejectedRecords, malformed.length);
    const out = await readAll(clicks.spec.outputTopic.name);
    assert.deepEqual(
      out.map((r) => parse(r.value).click_id!).sort(),
      good.map((r) => json(r).click_id as string).sort(),
    );
    const rejected = await readAll(rejectedTopicOf(clicks.spec));
    assert.equal(
      rejected.filter((r) => (JSON.parse(r.value!) as { reason: string }).reason === 'empty record').length,
      tombstones,
    );
    for (const r of rejected) {
      const reason = JSON.parse(r.value!) as { input: string; topic: string; reason: string };
      assert.equal(reason.input, 'clicks');
      assert.equal(reason.topic, inputs.clicks.topic);
      assert.match(reason.reason, /^(not a JSON object|empty record|\w+: (missing|not a) .*)$/);
    }
  });

  it('deploying again, or twice at once, leaves exactly one job', async () => {
    const again = await deploy(joined);
    assert.equal(again.started, false);
    const live = async (input: ProductJobInput) =>
      (await rest.listJobs()).filter(
        (job) => job.name === productJobNameOf(input.productId, 1) && !terminalJobStates.includes(job.state),
      );
    assert.deepEqual(
      (await live(joined)).map((j) => j.jid),
      [again.jobId],
    );

    const twice = ordersCopy('orders_twice');
    await createOutputTopic(twice);
    const [a, b] = await Promise.all([deploy(twice), deploy(twice)]);
    assert.equal(a.jobId, b.jobId, 'both deployments name the same job');
    // A racer's job may register with Flink after both deployments looked: the next looks at the
    // product (the workflow looks right after deploying) cancel it, and it ends.
    let remaining = await live(twice);
    await waitUntil(
      async () => {
        await mock(() => activities.describeProductJob(twice));
        remaining = await live(twice);
        return remaining.length === 1;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    assert.deepEqual(
      remaining.map((j) => j.jid),
      [a.jobId],
    );
    await waitForStatus(twice, (s) => s.state === 'RUNNING' && s.jobId === a.jobId, 'the one job runs');
  });

  it('a job whose topic is deleted keeps failing with Flink’s root exception naming it; stopped and deployed again, it resumes from its last checkpoint', async () => {
    const failing = ordersCopy('orders_failing');
    await createOutputTopic(failing);
    const first = await deploy(failing);
    // A checkpoint stuck behind the deleted topic fails in two minutes, not Flink's ten.
    const checkpoints = (await (
      await fetch(`${config.flink.restUrl}/jobs/${first.jobId}/checkpoints/config`)
    ).json()) as { timeout: number };
    assert.equal(checkpoints.timeout, 120_000);
    await waitForOutput(failing, seededOn('orders').length);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [failing.spec.outputTopic.name] });
    await admin.disconnect();
    const more = generateSeedRecords({ topicPrefix: prefix, only: ['orders'], seed: 7 });
    const lost = Array.from({ length: 20 }, () => more.next().value as SeedRecord);
    await produce(lost);
    // Flink restarts it with growing pauses before it gives up (src/domain/recovery.ts).
    const failed = await waitForStatus(
      failing,
      (s) => s.restarts >= 3 && s.failure !== undefined,
      'the job keeps failing',
      300_000,
    );
    assert.match(failed.failure ?? '', new RegExp(failing.spec.outputTopic.name.replace(/\./g, '\\.')));
    assert.ok(['RESTARTING', 'FAILING', 'FAILED', 'RUNNING'].includes(failed.state), failed.state);
    // Stopped while failing: cancelled, its last checkpoint retained.
    assert.deepEqual(await mock(() => activities.stopProductJob(failing)), { stopped: true });

    await createOutputTopic(failing);
    const redeployed = await deploy(failing);
    assert.equal(redeployed.started, true);
    // From the cancelled job's last checkpoint: the orders it could not write are written now.
    assert.match(redeployed.fromSavepoint ?? '', /\/chk-\d+$/);
    await waitForStatus(
      failing,
      (s) => s.state === 'RUNNING' && s.jobId === redeployed.jobId,
      'it runs again',
    );
    await waitForOutput(failing, lost.length);
    const written = new Set(
      (await readAll(failing.spec.outputTopic.name)).map((r) => parse(r.value).order_id),
    );
    for (const record of lost)
      assert.ok(written.has(json(record).order_id), `${json(record).order_id} written`);
  });

  it('stop takes a savepoint; deploying from it resumes without writing a row twice', async () => {
    const copy = ordersCopy('orders_resumed');
    await createOutputTopic(copy);
    await deploy(copy);
    const before = total(await endOffsets(inputs.orders.topic));
    await waitForOutput(copy, before);
    const stopped = await mock(() => activities.stopProductJob(copy));
    assert.equal(stopped.stopped, true);
    assert.match(stopped.savepoint ?? '', /savepoint-/);
    assert.equal((await mock(() => activities.describeProductJob(copy))).state, 'FINISHED');

    const resumed = await deploy(copy, { savepoint: stopped.savepoint });
    assert.deepEqual([resumed.started, resumed.fromSavepoint], [true, stopped.savepoint]);
    const more = generateSeedRecords({ topicPrefix: prefix, only: ['orders'], seed: 8 });
    await produce(Array.from({ length: 30 }, () => more.next().value as SeedRecord));
    const after = total(await endOffsets(inputs.orders.topic));
    await waitForStatus(copy, (s) => s.state === 'RUNNING', 'the resumed job runs');
    await waitForOutput(copy, after);
    const ids = (await readAll(copy.spec.outputTopic.name)).map((r) => parse(r.value).order_id!);
    assert.equal(ids.length, new Set(ids).size, 'no order twice');
    assert.equal(ids.length, after);
    assert.deepEqual(await mock(() => activities.stopProductJob({ ...copy, revision: 9 })), {
      stopped: false,
    });
  });

  it('capacity: twelve product jobs at once all run (TaskManager memory measured); a product without a slot says it waits for one', async () => {
    const twelve = Array.from({ length: 12 }, (_, i) => ordersCopy(`orders_capacity_${i}`));
    const taskManager = async () => {
      const { taskmanagers } = (await (await fetch(`${config.flink.restUrl}/taskmanagers`)).json()) as {
        taskmanagers: Array<{ id: string }>;
      };
      const id = taskmanagers[0]!.id;
      const names = [
        'Status.JVM.Memory.Heap.Used',
        'Status.JVM.Memory.Heap.Max',
        'Status.JVM.Memory.NonHeap.Used',
        'Status.JVM.Memory.Direct.MemoryUsed',
        'Status.Shuffle.Netty.UsedMemory',
        'Status.Shuffle.Netty.TotalMemory',
        'Status.JVM.GarbageCollector.Copy.Count',
        'Status.JVM.GarbageCollector.Copy.Time',
        'Status.JVM.GarbageCollector.MarkSweepCompact.Count',
        'Status.JVM.GarbageCollector.MarkSweepCompact.Time',
      ];
      const metrics = (await (
        await fetch(`${config.flink.restUrl}/taskmanagers/${id}/metrics?get=${names.join(',')}`)
      ).json()) as Array<{ id: string; value: string }>;
      return Object.fromEntries(metrics.map((m) => [m.id, Number(m.value)]));
    };
    // The TaskManager process as the OS sees it (resident memory, threads).
    const record = JSON.parse(
      await readFile(path.join(config.stack.dataDir, 'run', 'flink-taskmanager.json'), 'utf8'),
    ) as { pid: number };
    const processStatus = async () => {
      const status = await readFile(`/proc/${record.pid}/status`, 'utf8');
      const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
      return { rssMb: Math.round(field('VmRSS') / 1024), threads: field('Threads') };
    };
    const overviewBefore = await rest.overview();
    const memoryBefore = await taskManager();
    const osBefore = await processStatus();
    for (const input of twelve) await createOutputTopic(input);
    // Submitted together, as a restarted platform would resume every product at once.
    await Promise.all(twelve.map((input) => deploy(input)));
    for (const input of twelve) {
      await waitForStatus(
        input,
        (s) => s.state === 'RUNNING' && !s.waitingForSlot,
        `${input.productId} runs`,
      );
    }
    const orders = total(await endOffsets(inputs.orders.topic));
    for (const input of twelve) await waitForOutput(input, orders);
    for (const input of twelve) {
      const detail = await rest.job((await mock(() => activities.describeProductJob(input))).jobId!);
      assert.ok(
        detail.vertices.every((v) => v.status === 'RUNNING'),
        `${input.productId}: every task runs`,
      );
    }
    const memoryAfter = await taskManager();
    const overviewAfter = await rest.overview();
    const osAfter = await processStatus();
    const mb = (bytes: number | undefined) => `${((bytes ?? 0) / 2 ** 20).toFixed(0)} MB`;
    process.stderr.write(
      `      [capacity] TaskManager RSS ${osBefore.rssMb} MB → ${osAfter.rssMb} MB, threads ${osBefore.threads} → ${osAfter.threads}\n` +
        `      [capacity] slots ${overviewAfter['slots-total']}, free ${overviewBefore['slots-available']} → ${overviewAfter['slots-available']}, jobs running ${overviewAfter['jobs-running']}\n` +
        `      [capacity] heap used ${mb(memoryBefore['Status.JVM.Memory.Heap.Used'])} → ${mb(memoryAfter['Status.JVM.Memory.Heap.Used'])} of ${mb(memoryAfter['Status.JVM.Memory.Heap.Max'])}; ` +
        `non-heap ${mb(memoryBefore['Status.JVM.Memory.NonHeap.Used'])} → ${mb(memoryAfter['Status.JVM.Memory.NonHeap.Used'])}; ` +
        `direct ${mb(memoryBefore['Status.JVM.Memory.Direct.MemoryUsed'])} → ${mb(memoryAfter['Status.JVM.Memory.Direct.MemoryUsed'])}; ` +
        `network ${mb(memoryAfter['Status.Shuffle.Netty.UsedMemory'])} of ${mb(memoryAfter['Status.Shuffle.Netty.TotalMemory'])}\n` +
        `      [capacity] GC young ${memoryAfter['Status.JVM.GarbageCollector.Copy.Count']} (${memoryAfter['Status.JVM.GarbageCollector.Copy.Time']} ms), old ${memoryAfter['Status.JVM.GarbageCollector.MarkSweepCompact.Count']} (${memoryAfter['Status.JVM.GarbageCollector.MarkSweepCompact.Time']} ms)\n`,
    );
    assert.ok(overviewBefore['slots-available'] - overviewAfter['slots-available'] >= 12);

    // The cluster full: one more product waits for a slot, and says so; it runs once one is free.
    const flink = new FlinkTestContext(config);
    try {
      const free = (await rest.overview())['slots-available'];
      const session = await flink.openSession('slot-filler');
      await session.configure(
        "CREATE TEMPORARY TABLE filler_in (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '1')",
      );
      await session.configure(
        "CREATE TEMPORARY TABLE filler_out (n BIGINT) WITH ('connector' = 'blackhole')",
      );
      const filler = flink.track(
        (
          await session.execute('INSERT INTO filler_out SELECT n FROM filler_in', {
            executionConfig: { 'parallelism.default': String(free), 'pipeline.name': 'slot-filler' },
          })
        ).jobId,
      );
      await waitUntil(async () => (await rest.overview())['slots-available'] === 0, { timeoutMs: 60_000 });
      const waiting = ordersCopy('orders_waiting');
      await createOutputTopic(waiting);
      await deploy(waiting);
      const began = Date.now();
      // The standalone cluster refuses a slot it does not have at once: the job restarts, then
      // fails, saying why; the product can say so within seconds.
      const waitingSeen = await waitForStatus(
        waiting,
        (s) => s.waitingForSlot,
        'the product has no slot',
        30_000,
      );
      const seenAfter = Date.now() - began;
      const status = await waitForStatus(
        waiting,
        (s) => s.waitingForSlot && s.state === 'FAILED',
        'the product fails for want of a slot',
        60_000,
      );
      process.stderr.write(
        `      [capacity] no slot: seen after ${seenAfter} ms (${waitingSeen.state}), FAILED after ${Date.now() - began} ms: ${status.failure}\n`,
      );
      assert.match(status.failure ?? '', /^no free task slot/);
      assert.match(status.failure ?? '', /NoResourceAvailableException/);
      await rest.cancelJob(filler);
      await rest.waitForJobState(filler, ['CANCELED']);
      const again = await deploy(waiting);
      assert.equal(again.started, true);
      await waitForStatus(
        waiting,
        (s) => s.state === 'RUNNING' && !s.waitingForSlot && s.jobId === again.jobId,
        'the product runs once a slot is free',
      );
      await mock(() => activities.stopProductJob(waiting));
    } finally {
      await flink.cleanUp();
    }
    for (const input of twelve) await mock(() => activities.stopProductJob(input));
  });
});

async function mock<T>(fn: () => Promise<T>): Promise<T> {
  const { MockActivityEnvironment } = await import('@temporalio/testing');
  return new MockActivityEnvironment().run(fn);
}

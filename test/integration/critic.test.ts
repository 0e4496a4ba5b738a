import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { createCriticActivities } from '../../activities/critic';
import { translatingFailures } from '../../activities/failures';
import { SqlGatewayClient } from '../../src/adapters/flink';
import type { MeshloopActivities } from '../../activities';
import type { DiscoveryActivities } from '../../activities/discovery';
import { ensureCatalogTopic, publishCatalogRecord, readCatalog } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { createLlmClient } from '../../src/adapters/llm/client';
import type { MeshloopConfig } from '../../src/config';
import { inputsFingerprintOf, sortOutProposals } from '../../src/creation/inputs-fingerprint';
import type { CatalogDescriptor } from '../../src/domain/catalog';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { ProductJobInput } from '../../src/domain/creation';
import type { ProposalPreview } from '../../src/domain/critique';
import type { ProposalStart } from '../../src/domain/proposals';
import { withReproposal } from '../../src/domain/proposals';
import type { ProductSpec, ProductSpecInput } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { loadMeshConfig } from '../../src/specs/load';
import { waitUntil } from '../../src/stack/probe';
import { FakeOpenAi } from '../helpers/fake-openai';
import { testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';
import type { WorkflowTestContext } from '../helpers/workflows';
import type { dataProductWorkflow } from '../../workflows/data-product';
import type { discoveryWorkflow } from '../../workflows/discovery';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  stageIs,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/**
 * The critic and the preview on the real platform (Kafka, Flink's SQL Gateway, Temporal): a
 * hand-made orders domain under a prefix of this run, two live products in the catalog
 * (orders_curated from the orders topic, orders_with_payments from orders and payments), and
 * proposals over them reviewed by the real activities.
 */
type TopicInput = NonNullable<ProductSpecInput['inputs']>[number];

describe('Critic: a review and a preview before approval, on the real platform', function () {
  this.timeout(600_000);
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const prefix = `icr${run}.`;
  const domain = `icr${run}`;
  const catalogTopic = `${prefix}catalog`;
  const log = createLogger('critic-test', 'warn');
  const goal = 'Know daily revenue per channel and region within the hour.';
  const topics = {
    orders: `${prefix}orders`,
    payments: `${prefix}payments`,
    curated: `${domain}.orders_curated`,
    withPayments: `${domain}.orders_with_payments`,
  };
  const channels = ['web', 'app', 'partner'];
  const base = Date.parse('2026-01-05T10:00:00Z');
  /** 40 orders over two hours, three channels; 30 of them paid. */
  const orders = Array.from({ length: 40 }, (_, i) => ({
    order_id: `o-${i}`,
    customer_id: `c-${i % 7}`,
    channel: channels[i % 3]!,
    region: i % 2 === 0 ? 'north' : 'south',
    items: 1 + (i % 4),
    total_amount: 10 + i * 1.25,
    currency: 'EUR',
    order_ts: new Date(base + i * 3 * 60_000).toISOString(),
  }));
  const payments = orders.slice(0, 30).map((o, i) => ({
    payment_id: `p-${i}`,
    order_id: o.order_id,
    method: i % 2 === 0 ? 'card' : 'paypal',
    amount: o.total_amount,
    paid_at: new Date(Date.parse(o.order_ts) + 60_000).toISOString(),
  }));

  const ordersInput = {
    topic: topics.orders,
    as: 'orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string' },
        { name: 'customer_id', type: 'string' },
        { name: 'channel', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'items', type: 'int' },
        { name: 'total_amount', type: 'double' },
        { name: 'order_ts', type: 'timestamp' },
      ],
      eventTimeField: 'order_ts',
    },
  } satisfies TopicInput;
  const paymentsInput = {
    topic: topics.payments,
    as: 'payments',
    schema: {
      fields: [
        { name: 'payment_id', type: 'string' },
        { name: 'order_id', type: 'string' },
        { name: 'method', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'paid_at', type: 'timestamp' },
      ],
      eventTimeField: 'paid_at',
    },
  } satisfies TopicInput;

  const spec = (name: string, rest: Omit<ProductSpecInput, 'name' | 'domain' | 'owner'>) =>
    parseSpec({
      name,
      domain,
      owner: 'alice',
      description: `The ${name} product of the critic test.`,
      ...rest,
    });
  const jobInput = (s: ReturnType<typeof spec>): ProductJobInput => ({
    productId: productIdOf(s),
    revision: 1,
    spec: s,
  });

  const curated = spec('orders_curated', {
    kind: 'source-aligned',
    inputs: [ordersInput],
    outputTopic: { name: topics.curated, partitions: 1 },
    schema: {
      fields: [
        { name: 'order_id', type: 'string' },
        { name: 'channel', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'total_amount', type: 'double' },
        { name: 'order_ts', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'order_ts',
    },
    sql: 'SELECT order_id, channel, region, total_amount, order_ts FROM orders',
  });
  const withPayments = spec('orders_with_payments', {
    kind: 'consumer-aligned',
    inputs: [ordersInput, paymentsInput],
    outputTopic: { name: topics.withPayments, partitions: 1 },
    schema: {
      fields: [
        { name: 'order_id', type: 'string' },
        { name: 'total_amount', type: 'double' },
        { name: 'order_ts', type: 'timestamp' },
        { name: 'payment_id', type: 'string' },
        { name: 'method', type: 'string' },
      ],
      key: ['order_id'],
      eventTimeField: 'order_ts',
    },
    sql: `SELECT o.order_id, o.total_amount, o.order_ts, p.payment_id, p.\`method\`
FROM orders AS o JOIN payments AS p ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
  });
  /** The redundant join: two products from the same orders topic. */
  const redundantJoin = spec('curated_with_payments', {
    kind: 'consumer-aligned',
    inputs: [
      { product: productIdOf(curated), as: 'c' },
      { product: productIdOf(withPayments), as: 'w' },
    ],
    schema: {
      fields: [
        { name: 'order_id', type: 'string' },
        { name: 'channel', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'total_amount', type: 'double' },
        { name: 'payment_id', type: 'string' },
        { name: 'method', type: 'string' },
      ],
      key: ['order_id'],
    },
    sql: `SELECT c.order_id, c.channel, c.region, w.total_amount, w.payment_id, w.\`method\`
FROM c JOIN w ON c.order_id = w.order_id
 AND w.order_ts BETWEEN c.order_ts - INTERVAL '1' HOUR AND c.order_ts + INTERVAL '1' HOUR`,
  });
  /** Revenue per hour and channel: serves the goal. */
  const hourlyRevenue = spec('hourly_revenue', {
    kind: 'aggregate',
    inputs: [ordersInput],
    schema: {
      fields: [
        { name: 'window_start', type: 'timestamp' },
        { name: 'channel', type: 'string' },
        { name: 'revenue', type: 'double' },
        { name: 'orders', type: 'long' },
      ],
      key: [],
    },
    sql: `SELECT window_start, channel, SUM(total_amount) AS revenue, COUNT(*) AS orders
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(order_ts), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, channel`,
  });

  let config: MeshloopConfig;
  let kafka: Kafka;
  let dir: string;
  let meshFile: string;
  let activities: ReturnType<typeof createCriticActivities>;
  const created: string[] = [];

  before(async function () {
    this.timeout(10 * 60_000);
    config = await testPlatform();
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'critic-test' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'meshloop-critic-'));
    meshFile = path.join(dir, 'mesh.yaml');
    await writeFile(
      meshFile,
      `domains:\n  ${domain}:\n    approvers: [alice]\n    businessGoals:\n      - ${goal}\n      - Spot cancelled orders early.\n`,
    );
    activities = criticActivities();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const wanted = [
        { topic: topics.orders, numPartitions: 2 },
        { topic: topics.payments, numPartitions: 1 },
        { topic: topics.curated, numPartitions: 1 },
        { topic: topics.withPayments, numPartitions: 1 },
      ];
      await createTopicsAndAwaitLeaders(admin, wanted);
      created.push(...wanted.map((w) => w.topic));
    } finally {
      await admin.disconnect();
    }
    await ensureCatalogTopic(kafka, catalogTopic);
    const paid = new Map(payments.map((p) => [p.order_id, p]));
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const json = (key: string, value: unknown) => ({ key, value: JSON.stringify(value) });
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          { topic: topics.orders, messages: orders.map((o) => json(o.order_id, o)) },
          { topic: topics.payments, messages: payments.map((p) => json(p.order_id, p)) },
          {
            topic: topics.curated,
            messages: orders.map((o) =>
              json(o.order_id, {
                order_id: o.order_id,
                channel: o.channel,
                region: o.region,
                total_amount: o.total_amount,
                order_ts: o.order_ts,
              }),
            ),
          },
          {
            topic: topics.withPayments,
            messages: orders
              .filter((o) => paid.has(o.order_id))
              .map((o) =>
                json(o.order_id, {
                  order_id: o.order_id,
                  total_amount: o.total_amount,
                  order_ts: o.order_ts,
                  payment_id: paid.get(o.order_id)!.payment_id,
                  method: paid.get(o.order_id)!.method,
                }),
              ),
          },
        ],
      });
      // Both upstream products are live, with the approval of their current spec.
      for (const live of [curated, withPayments])
        await publishCatalogRecord(producer, liveDescriptor(live), catalogTopic);
    } finally {
      await producer.disconnect();
    }
  });

  after(async function () {
    this.timeout(60_000);
    const admin = kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    await admin
      .deleteTopics({ topics: [...created, catalogTopic].filter((t) => existing.has(t)) })
      .catch(() => undefined);
    await admin.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  /** A live product in the catalog, with the approval of its current spec. */
  function liveDescriptor(live: ProductSpec): CatalogDescriptor {
    return toCatalogDescriptor({
      spec: live,
      stage: 'active',
      decisions: [
        { by: 'alice', action: 'approve', at: new Date().toISOString(), revision: 1, stage: 'provisioning' },
      ],
      resources: [],
      updatedAt: new Date(),
    });
  }

  async function publishToCatalog(descriptor: CatalogDescriptor | undefined): Promise<void> {
    assert.ok(descriptor, 'a descriptor to publish');
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await publishCatalogRecord(producer, descriptor, catalogTopic);
    } finally {
      await producer.disconnect();
    }
  }

  function criticActivities(llm?: ReturnType<typeof createLlmClient>) {
    return translatingFailures(
      createCriticActivities({
        kafka,
        gateway: new SqlGatewayClient({ url: config.flink.sqlGatewayUrl }),
        connectors: config.flink,
        meshFile,
        catalogTopic,
        log,
        ...(llm ? { llm } : {}),
      }),
    );
  }

  let revenuePreview: ProposalPreview;

  it('previews the rows the SQL yields over a sample: as computed from the records produced', async () => {
    revenuePreview = await activities.previewProposal(jobInput(hourlyRevenue));
    assert.equal(revenuePreview.outcome, 'rows', revenuePreview.failure);
    const expected = new Map<string, { revenue: number; orders: number }>();
    for (const o of orders) {
      const hour = new Date(Math.floor(Date.parse(o.order_ts) / 3_600_000) * 3_600_000).toISOString();
      const key = `${hour}|${o.channel}`;
      const sum = expected.get(key) ?? { revenue: 0, orders: 0 };
      expected.set(key, { revenue: sum.revenue + o.total_amount, orders: sum.orders + 1 });
    }
    assert.equal(revenuePreview.rowCount, expected.size);
    assert.deepEqual(revenuePreview.columns, ['window_start', 'channel', 'revenue', 'orders']);
    assert.deepEqual(revenuePreview.sampled, [
      { input: 'orders', topic: topics.orders, records: orders.length },
    ]);
    const got = new Map(
      revenuePreview.rows.map((row) => {
        const start = new Date(`${row[0]!.replace(' ', 'T').replace(/Z?$/, 'Z')}`).toISOString();
        return [`${start}|${row[1]}`, { revenue: Number(row[2]), orders: Number(row[3]) }];
      }),
    );
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [key, sum] of expected) {
      assert.ok(
        Math.abs(got.get(key)!.revenue - sum.revenue) < 1e-6,
        `${key}: ${got.get(key)!.revenue} ≠ ${sum.revenue}`,
      );
      assert.equal(got.get(key)!.orders, sum.orders, key);
    }
  });

  it('puts a revenue rollup forward with its measured cost: rates from Kafka, state from the key counts', async () => {
    const review = await activities.critiqueProposal({ ...jobInput(hourlyRevenue), preview: revenuePreview });
    assert.equal(review.verdict, 'propose', review.reasons.join('; '));
    assert.equal(review.value.goal, goal);
    assert.match(review.value.how, /sums total_amount \(an amount\) by channel/);
    const [rate] = review.cost.inputs;
    // All 40 orders were produced moments ago: the window is the topic's own age.
    assert.ok(rate && rate.recordsPerSecond > 0, JSON.stringify(rate));
    assert.ok(rate.bytesPerRecord > 100 && rate.bytesPerRecord < 400, JSON.stringify(rate));
    assert.equal(review.cost.stateKeys, 3); // three channels in an hourly window
    assert.equal(review.cost.flinkSlots, 2);
    // The overlap with the live products over the same topic is named, not held against it.
    assert.ok(review.redundancy.some((o) => o.productId === productIdOf(curated)));
  });

  it('dismisses the join of orders_curated with orders_with_payments (both from the orders topic), with its reason', async () => {
    const context: WorkflowTestContext & { close: () => Promise<void> } = await openWorkflowTestContext();
    const fakes = fakesWith({ knownDomains: [domain] });
    fakes.replaced = {
      previewProposal: (input) => activities.previewProposal(input),
      critiqueProposal: (input) => activities.critiqueProposal(input),
    };
    try {
      await withWorker(context, fakes, async ({ start }) => {
        const handle = await start(productInput(redundantJoin));
        const status = await waitForStatus(handle, stageIs('dismissed'), 180_000);
        const reasons = status.critique?.reasons.join('; ') ?? '';
        assert.match(
          reasons,
          new RegExp(
            `joins ${domain}\\.orders_with_payments with ${domain}\\.orders_curated, but ${domain}\\.orders_with_payments is already derived from every topic it reads \\(${prefix.replace('.', '\\.')}orders, ${prefix.replace('.', '\\.')}payments\\)`,
          ),
        );
        assert.match(
          status.decisions.at(-1)?.comment ?? '',
          /^dismissed by the critic \(rules\): redundant:/,
        );
        // Its preview ran over both products' topics: 30 orders have a payment.
        assert.equal(status.preview?.outcome, 'rows', status.preview?.failure);
        assert.equal(status.preview?.rowCount, 30);
        assert.equal(fakes.callsOf('sendApprovalReminder').length, 0);
        // A dismissed product's workflow ends there.
        assert.equal((await handle.result()).stage, 'dismissed');
        await recordHistory(handle, 'critic-dismissed');
        // `meshloop list --stage dismissed` shows it with the critic's verdict (from the memo).
        let listed: Array<{ productId: string; stage: string; critic: { verdict: string } | null }> = [];
        const outcome = await waitUntil(
          async () => {
            const result = await runCli(['list', '--stage', 'dismissed', '--domain', domain, '--json']);
            listed = result.code === 0 ? (JSON.parse(result.stdout) as typeof listed) : [];
            return listed.some((p) => p.productId === productIdOf(redundantJoin));
          },
          { timeoutMs: 60_000, intervalMs: 2000 },
        );
        assert.equal(outcome, 'ready', JSON.stringify(listed));
        assert.equal(
          listed.find((p) => p.productId === productIdOf(redundantJoin))?.critic?.verdict,
          'dismiss',
        );
        const shown = await runCli(['show', productIdOf(redundantJoin)]);
        assert.match(shown.stdout, /stage\s+dismissed/);
        assert.match(shown.stdout, /critic\s+dismiss \(rules\)/);
        assert.match(shown.stdout, /preview\s+rows: 30 rows/);
        // The dismissed descriptor carries the critic's reasons and fingerprint: into the real catalog.
        const dismissedDescriptor = fakes
          .callsOf('publishCatalogDescriptor')
          .map((c) => c.descriptor)
          .find((d) => d.stage === 'dismissed');
        assert.equal(dismissedDescriptor?.dismissal?.inputsFingerprint, status.critique?.inputsFingerprint);
        await publishToCatalog(dismissedDescriptor);
      });
    } finally {
      await context.close();
    }
  });

  it('proposes the dismissed join again only once its inputs changed: not while unchanged, then with both fingerprints', async () => {
    const context: WorkflowTestContext & { close: () => Promise<void> } = await openWorkflowTestContext();
    const fakes = fakesWith({ knownDomains: [domain] });
    const productId = productIdOf(redundantJoin);
    const domainConfig = (await loadMeshConfig(meshFile)).domains[domain]!;
    // As discovery drafts it: an agent's proposal, with its reasoning, evidence and confidence.
    const drafted: ProductSpec = {
      ...redundantJoin,
      proposal: {
        proposedBy: { kind: 'agent', name: 'planner' },
        reasoning: 'Orders with their payments, curated.',
        evidence: [{ summary: 'order_id joins both products' }],
        confidence: 0.6,
      },
    };
    const proposal = { proposalId: `critic-test-${run}`, spec: drafted };
    /** What discovery proposes: this one idea, sorted as proposeProducts does, over the real catalog. */
    let extra: ProposalStart[] = [];
    const discovery: Pick<MeshloopActivities, keyof DiscoveryActivities> = {
      profileKafkaTopics: (request) => Promise.resolve({ runKey: request.runKey, file: 'none', topics: [] }),
      proposeDataProducts: async () => {
        const { view } = await readCatalog(kafka, { topic: catalogTopic, log });
        const sorted = sortOutProposals([proposal], new Set([proposal.proposalId]), view);
        const starts = sorted.fresh.map((p) => {
          const reproposal = sorted.reproposals.get(p.proposalId);
          return {
            proposalId: p.proposalId,
            productId,
            workflowId: `data-product:${productId}`,
            spec: reproposal ? withReproposal(p.spec, reproposal) : p.spec,
            domain: domainConfig,
            ...(reproposal ? { reproposal } : {}),
          };
        });
        return {
          agent: 'planner',
          reportFile: 'none',
          starts: [...starts, ...extra],
          knownDomains: [domain],
          alreadyProposed: 0,
          dismissedUnchanged: sorted.dismissedUnchanged,
          dropped: 0,
          skipped: 0,
        };
      },
      readProposalStarts: () => Promise.resolve([]),
      recordProposalOutcomes: () => Promise.resolve(),
    };
    Object.assign(fakes.replaced, discovery, {
      previewProposal: (input: ProductJobInput) => activities.previewProposal(input),
      critiqueProposal: (input: Parameters<typeof activities.critiqueProposal>[0]) =>
        activities.critiqueProposal(input),
    });
    const discover = (taskQueue: string) =>
      context.client.workflow.execute<typeof discoveryWorkflow>('discoveryWorkflow', {
        taskQueue,
        workflowId: `critic-test-discovery-${randomUUID()}`,
        args: [{ agent: 'planner' }],
      });
    try {
      await withWorker(context, fakes, async ({ taskQueue }) => {
        const before = await context.client.workflow.getHandle(`data-product:${productId}`).describe();
        // Inputs unchanged: not proposed, with the dismissal's date and reason.
        const unchanged = await discover(taskQueue);
        assert.deepEqual(unchanged.started, []);
        assert.equal(unchanged.dismissedUnchanged?.length, 1, JSON.stringify(unchanged));
        assert.match(
          unchanged.dismissedUnchanged?.[0] ?? '',
          new RegExp(
            `^${productId.replace('.', '\\.')}: dismissed on \\d{4}-\\d\\d-\\d\\dT[^ ]+ by the critic \\(rules\\): redundant: .*; inputs unchanged$`,
          ),
        );
        // A start that does not come from changed inputs still finds the id taken (REJECT_DUPLICATE).
        extra = [
          {
            proposalId: proposal.proposalId,
            productId,
            workflowId: `data-product:${productId}`,
            spec: drafted,
            domain: domainConfig,
          },
        ];
        const duplicate = await discover(taskQueue);
        assert.deepEqual([duplicate.started, duplicate.existing], [[], [productId]]);
        extra = [];

        const old = (await readCatalog(kafka, { topic: catalogTopic, log })).view.get(productId)?.dismissal
          ?.inputsFingerprint;
        assert.ok(old);
        // orders_with_payments' SQL changes (approved again): the join's inputs changed.
        const changed = { ...withPayments, sql: `${withPayments.sql}\n WHERE p.amount > 0` };
        await publishToCatalog({ ...liveDescriptor(changed), version: 1 });
        const { view } = await readCatalog(kafka, { topic: catalogTopic, log });
        const now = inputsFingerprintOf(redundantJoin, view);
        const again = await discover(taskQueue);
        assert.deepEqual(again.started, [productId], JSON.stringify(again));
        assert.equal(again.dismissedUnchanged?.length ?? 0, 0);
        const handle = context.client.workflow.getHandle<typeof dataProductWorkflow>(
          `data-product:${productId}`,
        );
        const description = await handle.describe();
        assert.notEqual(description.runId, before.runId);
        // The new proposal says why it is back; the critic reviews it over the new inputs.
        const status = await waitForStatus(handle, stageIs('dismissed'), 180_000);
        const reasoning = status.spec.proposal?.reasoning ?? '';
        assert.match(reasoning, /^Proposed again: its inputs changed since the critic dismissed it on /);
        assert.ok(reasoning.includes(`then, ${now} now`), reasoning);
        assert.equal(status.critique?.inputsFingerprint, now);
        assert.match(reasoning, /Orders with their payments, curated\.$/);
        assert.ok(reasoning.includes(`inputs fingerprint ${old} then`), reasoning);
        assert.notEqual(old, now);
      });
    } finally {
      // The run proposed again ends dismissed; should an assertion fail first, it is stopped here.
      await context.client.workflow
        .getHandle(`data-product:${productId}`)
        .terminate('test finished')
        .catch(() => undefined);
      await context.close();
    }
  });

  it('with an LLM, a figure that disagrees with the measured one is corrected, a reason citing made-up figures dropped', async () => {
    const fake = await FakeOpenAi.start();
    try {
      fake.answer({
        content: {
          verdict: 'propose',
          reasons: ['It reads 5000 records/s, a heavy job.', 'It serves the revenue goal by channel.'],
          goal,
          value: 'revenue per hour and channel',
          figures: {
            inputRecordsPerSecond: null,
            outputRecordsPerSecond: 9999,
            stateBytes: null,
            icebergBytesPerDay: null,
            flinkSlots: 2,
          },
        },
      });
      const llm = createLlmClient({
        apiKey: 'sk-test',
        baseURL: fake.baseURL,
        model: 'gpt-test',
        timeoutMs: 10_000,
      });
      const review = await criticActivities(llm).critiqueProposal({
        ...jobInput(hourlyRevenue),
        preview: revenuePreview,
      });
      assert.equal(review.by, 'llm');
      assert.equal(review.verdict, 'propose');
      const corrections = review.corrections?.join('\n') ?? '';
      assert.match(
        corrections,
        /outputRecordsPerSecond: the model said 9999, measured [0-9.]+: corrected to the measured figure/,
      );
      assert.match(corrections, /dropped a reason citing figures nobody measured \(5000\)/);
      assert.deepEqual(review.reasons, ['It serves the revenue goal by channel.']);
      assert.ok(review.cost.outputRecordsPerSecond < 9999);
      // The model saw the measured figures, not the records.
      assert.match(fake.requests[0]?.messages[1]?.content ?? '', /"outputRecordsPerSecond"/);
    } finally {
      await fake.close();
    }
  });
});

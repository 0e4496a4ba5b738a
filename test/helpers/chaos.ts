import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Consumer, Kafka, Message, Producer } from 'kafkajs';
import { planProposals } from '../../src/agents/planner';
import { FlinkRestClient } from '../../src/adapters/flink';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createIdempotentProducer } from '../../src/adapters/kafka/producer';
import { proposeProduct } from '../../src/cli/product-commands';
import { temporalConnectOptions } from '../../src/config';
import type { MeshloopConfig } from '../../src/config';
import { SYSTEM } from '../../src/domain/product-state';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf, workflowIdOf } from '../../src/domain/spec';
import { queryProduct } from '../../src/query/product-query';
import { ensureSeedTopics } from '../../src/seed/seed';
import type { SeedRecord, SeedTopicName } from '../../src/seed/generator';
import { generateSeedRecords, seedTopics } from '../../src/seed/generator';
import { domainConfigOf } from '../../src/domain/mesh-config';
import { loadMeshConfig } from '../../src/specs/load';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, reviewUpdate } from '../../workflows/definitions';
import type { ChaosPlatform } from './chaos-platform';
import {
  bringPlatformBack,
  ChaosWorker,
  delay,
  killService,
  servicePid,
  stopService,
} from './chaos-platform';
import { demoMesh, demoProfiles } from './demo-profiles';

/**
 * The chaos scenario, shared by test/integration/chaos.test.ts and bench/chaos: real demo products
 * (the discovery planner's proposals for the demo seed, approved by their domains' approvers) running
 * on the chaos platform while a feed writes demo records at a few per second; then one fault after
 * another. After each fault, with no command from anyone, every product must be `active` again with
 * both its jobs running, and each product's table must hold exactly the records of its topic, each
 * once, and its topic each record of its input once (no duplicates, no gaps).
 */

/** The demo products the scenario runs: source-aligned, each from one clean demo topic. */
export const CHAOS_PRODUCTS = [
  'orders.orders_curated',
  'payments.payments_curated',
  'customers.profiles_masked',
] as const;
/** Deployed during the worker fault (the worker is killed while it provisions this one). */
export const DEPLOYED_DURING_WORKER_FAULT = 'customers.profiles_masked';
const FEED_TOPICS: readonly SeedTopicName[] = ['orders', 'payments', 'customers'];

/** Bounded waits (ms), each overridable for slow machines. */
export const chaosLimits = {
  /** From the platform being back to every product active with its jobs running. */
  recoveryMs: Number(process.env.MESHLOOP_CHAOS_RECOVERY_TIMEOUT_S ?? 240) * 1000,
  /** From the feed pausing to every table equal to its topic. */
  settleMs: Number(process.env.MESHLOOP_CHAOS_SETTLE_TIMEOUT_S ?? 90) * 1000,
  /** How long a fault may wait for Flink to notice it (the outage lasts until it does, or this). */
  noticeMs: 60_000,
};

/** The records the feed writes: a few per second across the products' demo topics, event times now. */
export const FEED_RATE_PER_SECOND = Number(process.env.MESHLOOP_CHAOS_FEED_RATE ?? 5);

/** The planner's proposal for each chaos product, with a short commit interval so tables follow quickly. */
export function chaosSpecs(): Map<string, ProductSpec> {
  const planned = planProposals(demoProfiles(), demoMesh).proposals.map((proposal) => proposal.spec);
  const specs = new Map<string, ProductSpec>();
  for (const productId of CHAOS_PRODUCTS) {
    const spec = planned.find((candidate) => productIdOf(candidate) === productId);
    if (!spec) throw new Error(`the planner no longer proposes ${productId} for the demo seed`);
    specs.set(productId, parseSpec({ ...spec, materialization: { commitInterval: '2s' } }));
  }
  return specs;
}

/**
 * Demo records into the chaos platform's demo topics at a steady rate, event times from now. Paused
 * while counts are compared and while Kafka itself is down (a send whose outcome is unknown could land
 * twice, which would be the feed's duplicate, not the platform's).
 */
export class DemoFeed {
  private producer: Producer | undefined;
  private readonly records: Iterator<SeedRecord>;
  private running: Promise<void> | undefined;
  private paused = true;
  private stopped = false;
  readonly sent: Record<string, number> = {};
  lastError: string | undefined;

  constructor(private readonly kafka: Kafka) {
    this.records = generateSeedRecords({
      seed: Date.now() % 100_000,
      startTime: Date.now(),
      only: FEED_TOPICS,
    })[Symbol.iterator]();
  }

  /** Writes `count` records at once (the products' first data), then keeps feeding at the rate. */
  async start(initial: number): Promise<void> {
    await ensureSeedTopics(this.kafka, { only: FEED_TOPICS });
    await this.send(initial);
    this.resume();
  }

  resume(): void {
    if (this.stopped || !this.paused) return;
    this.paused = false;
    this.running = this.loop();
  }

  /** Stops feeding; resolves once no send is in flight. */
  async pause(): Promise<void> {
    this.paused = true;
    await this.running;
    this.running = undefined;
  }

  async stop(): Promise<void> {
    await this.pause();
    this.stopped = true;
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  private async loop(): Promise<void> {
    const everyMs = 250;
    const perBatch = Math.max(1, Math.round((FEED_RATE_PER_SECOND * everyMs) / 1000));
    while (!this.paused) {
      try {
        await this.send(perBatch);
        this.lastError = undefined;
      } catch (error) {
        // The next batch waits; the records of this one were not acknowledged (and are not counted).
        this.lastError = (error as Error).message;
      }
      await delay(everyMs);
    }
  }

  private async send(count: number): Promise<void> {
    if (!this.producer) {
      this.producer = createIdempotentProducer(this.kafka);
      await this.producer.connect();
    }
    const byTopic = new Map<string, Message[]>();
    for (let i = 0; i < count; i++) {
      const record = this.records.next().value as SeedRecord;
      const messages = byTopic.get(record.topic) ?? [];
      messages.push({ key: record.key, value: record.value });
      byTopic.set(record.topic, messages);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    for (const [topic, messages] of byTopic) this.sent[topic] = (this.sent[topic] ?? 0) + messages.length;
  }
}

/**
 * Every record of a product's topic a read-committed consumer sees (aborted transactions never
 * count), by partition and offset so a consumer that restarts and reads again counts nothing twice.
 * A crashed consumer (Kafka down) is replaced by a fresh one reading from the beginning.
 */
export class TopicTally {
  private consumer: Consumer | undefined;
  private readonly seen = new Map<string, string>();
  private closed = false;
  private lastReadAt = Date.now();
  private reviving = false;
  /** Consumers re-created because the one before had stopped reading (see `reviveIfStalled`). */
  revivals = 0;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  async start(): Promise<void> {
    if (this.closed) return;
    const consumer = this.kafka.consumer({
      groupId: `chaos-tally-${randomUUID()}`,
      readUncommitted: false,
      retry: { retries: 8 },
    });
    this.consumer = consumer;
    this.lastReadAt = Date.now();
    consumer.on(consumer.events.CRASH, (event) => {
      if (event.payload.restart || this.closed || this.consumer !== consumer) return;
      void consumer.disconnect().catch(() => undefined);
      setTimeout(() => void this.start().catch(() => undefined), 2000);
    });
    await consumer.connect();
    // Stopped while this consumer was being made (a revival racing the end of the run): leave no reader behind.
    if (this.closed) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ partition, message }) => {
        const at = `${partition}:${message.offset}`;
        if (!this.seen.has(at)) this.lastReadAt = Date.now();
        this.seen.set(at, message.key?.toString('base64') ?? '');
        return Promise.resolve();
      },
    });
  }

  /**
   * After a broker restart a kafkajs consumer can stop fetching without crashing, so its own restart
   * never runs (a chaos run saw a tally stay at 288 records through three more faults while its
   * topic's table reached 385). When the tally trails the `expected` records and has read nothing
   * new for `stallMs`, a fresh consumer reads the topic again from its beginning: records are kept
   * by their offsets, so reading one twice counts it once.
   */
  reviveIfStalled(expected: number, stallMs = 20_000): void {
    if (this.closed || this.reviving || this.seen.size >= expected) return;
    if (Date.now() - this.lastReadAt < stallMs) return;
    this.reviving = true;
    this.revivals++;
    const stalled = this.consumer;
    this.consumer = undefined;
    void (async () => {
      // A stalled consumer may not even disconnect: give it a while, then start the next regardless.
      await Promise.race([stalled?.disconnect().catch(() => undefined), delay(10_000)]);
      await this.start();
    })()
      .catch(() => undefined)
      .finally(() => {
        this.reviving = false;
      });
  }

  /** The consumer reading now; a test stalls it to check `reviveIfStalled`. */
  get reader(): Consumer | undefined {
    return this.consumer;
  }

  /** Records seen, and how many distinct keys they carry. */
  counts(): { records: number; keys: number } {
    return { records: this.seen.size, keys: new Set(this.seen.values()).size };
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

export type ProductCounts = Readonly<{
  productId: string;
  /** Records in the product's input topic (the feed's, all acknowledged). */
  input: number;
  topic: number;
  topicKeys: number;
  /** Times the topic's tally re-read the topic because its consumer had stalled (0 mostly). */
  topicRereads: number;
  table: number;
  tableKeys: number;
  /** Why the table could not be counted (then `table` is -1). */
  tableError?: string;
}>;

export type FaultResult = Readonly<{
  fault: string;
  /** What the fault did and how the platform came back. */
  detail: string;
  /** From the fault's end (the platform healthy again) to every product active with its jobs running. */
  secondsToActive: number;
  /** Stages each product went through while recovering (e.g. degraded(job) → active). */
  stages: Readonly<Record<string, string[]>>;
  /** Decisions the workflows recorded while recovering (what failed, what was done). */
  decisions: Readonly<Record<string, string[]>>;
  counts: ProductCounts[];
}>;

export type Fault = Readonly<{
  name: string;
  /** A product the fault deploys (its approvals are not a person's recovery command). */
  deploys?: string;
  /** Break something, wait until the platform notices, bring it back; resolves when the fault is over. */
  inject: (scenario: ChaosScenario) => Promise<string>;
}>;

/** The products, the feed, the worker and the clients of one chaos run. */
export class ChaosScenario {
  readonly kafka: Kafka;
  readonly flink: FlinkRestClient;
  readonly worker: ChaosWorker;
  readonly feed: DemoFeed;
  readonly specs = chaosSpecs();
  readonly tallies = new Map<string, TopicTally>();
  /** The products deployed so far. */
  readonly products: string[] = [];
  private connection: Connection | undefined;
  private client: Client | undefined;

  constructor(readonly platform: ChaosPlatform) {
    this.kafka = createKafkaClient({
      connection: platform.config.kafka,
      clientId: 'chaos-suite',
      retries: 5,
    });
    this.flink = new FlinkRestClient({ url: platform.config.flink.restUrl, requestTimeoutMs: 3000 });
    this.worker = new ChaosWorker(platform.env);
    this.feed = new DemoFeed(this.kafka);
  }

  get config(): MeshloopConfig {
    return this.platform.config;
  }

  async temporal(): Promise<Client> {
    if (!this.client) {
      this.connection = await Connection.connect(temporalConnectOptions(this.config.temporal.connection));
      this.client = new Client({ connection: this.connection, namespace: this.config.temporal.namespace });
    }
    return this.client;
  }

  /**
   * The worker, the feed, and every chaos product (but the one the worker fault deploys, unless
   * `deployAll`) active with its jobs running; seconds from the approvals to that (the bench's baseline).
   */
  async setUp(options: { deployAll?: boolean } = {}): Promise<number> {
    await this.worker.start();
    await this.feed.start(600);
    const first = CHAOS_PRODUCTS.filter((id) => options.deployAll || id !== DEPLOYED_DURING_WORKER_FAULT);
    await Promise.all(first.map((productId) => this.propose(productId)));
    const approved = Date.now();
    await Promise.all(first.map((productId) => this.approve(productId)));
    await this.awaitAllActive('while setting up', chaosLimits.recoveryMs);
    const seconds = (Date.now() - approved) / 1000;
    await Promise.all(first.map((productId) => this.tally(productId)));
    return seconds;
  }

  async tearDown(): Promise<void> {
    await this.feed.stop().catch(() => undefined);
    await Promise.all([...this.tallies.values()].map((tally) => tally.stop()));
    await this.worker.stop().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }

  /** Proposes a product (it then waits for approval), and starts counting its topic. */
  async propose(productId: string): Promise<void> {
    const spec = this.specs.get(productId)!;
    await proposeProduct(await this.temporal(), this.config, spec);
    this.products.push(productId);
    await this.status(
      productId,
      (s) => s.stage === 'awaitingApproval',
      'awaiting approval',
      chaosLimits.recoveryMs,
    );
  }

  /** Every approval the product's domain requires, from its approvers in mesh.yaml. */
  async approve(productId: string): Promise<void> {
    const spec = this.specs.get(productId)!;
    const domain = domainConfigOf(await loadMeshConfig(this.config.meshFile), spec.domain);
    const handle = (await this.temporal()).workflow.getHandle(workflowIdOf(productId));
    for (const by of domain.approvers.slice(0, domain.requiredApprovals)) {
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by }] });
    }
  }

  /** Starts counting the product's topic (read committed), from its beginning. */
  async tally(productId: string): Promise<void> {
    if (this.tallies.has(productId)) return;
    const tally = new TopicTally(this.kafka, productId);
    this.tallies.set(productId, tally);
    await tally.start();
  }

  /** The product's status once `done` holds; a clear failure naming what was awaited otherwise. */
  async status(
    productId: string,
    done: (status: ProductStatus) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<ProductStatus> {
    const handle = (await this.temporal()).workflow.getHandle(workflowIdOf(productId));
    let last: ProductStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        last = await handle.query(getStatusQuery).catch(() => last);
        return last !== undefined && done(last);
      },
      { timeoutMs, intervalMs: 250 },
    );
    if (outcome !== 'ready') {
      throw new Error(`${productId}: not ${what} within ${timeoutMs / 1000} s; ${describeStatus(last)}`);
    }
    return last!;
  }

  /** The kinds of job (`meshloop-create`, `meshloop-materialize`) Flink runs now, by product. */
  async runningJobsByProduct(): Promise<Map<string, string[]>> {
    const byProduct = new Map<string, string[]>();
    for (const job of await this.flink.listJobs().catch(() => [])) {
      const [kind, productId] = job.name.split(':');
      if (job.state !== 'RUNNING' || !kind || !productId) continue;
      byProduct.set(productId, [...(byProduct.get(productId) ?? []), kind].sort());
    }
    return byProduct;
  }

  /**
   * Every product `active` with both its jobs running; the stages each went through on the way. Fails
   * saying `when` (after which fault), and each product that is not there with its stage and reason.
   */
  async awaitAllActive(
    when: string,
    timeoutMs: number,
  ): Promise<{ stages: Record<string, string[]>; lastStatus: Map<string, ProductStatus> }> {
    const client = await this.temporal();
    const stages: Record<string, string[]> = {};
    const lastStatus = new Map<string, ProductStatus>();
    const jobs = new Map<string, string[]>();
    const recovered = async (productId: string, running: string[]): Promise<boolean> => {
      jobs.set(productId, running);
      const status = await client.workflow
        .getHandle(workflowIdOf(productId))
        .query(getStatusQuery)
        .catch(() => undefined);
      if (!status) return false;
      lastStatus.set(productId, status);
      const seen = (stages[productId] ??= []);
      const now = status.stage === 'degraded' ? `degraded(${status.degradedBy ?? '?'})` : status.stage;
      if (seen.at(-1) !== now) seen.push(now);
      return (
        status.stage === 'active' &&
        running.includes('meshloop-create') &&
        running.includes('meshloop-materialize')
      );
    };
    const outcome = await waitUntil(
      async () => {
        const running = await this.runningJobsByProduct();
        const all = await Promise.all(
          this.products.map((productId) => recovered(productId, running.get(productId) ?? [])),
        );
        return all.every(Boolean);
      },
      { timeoutMs, intervalMs: 500 },
    );
    if (outcome !== 'ready') {
      const behind = this.products
        .map((productId) => {
          const status = lastStatus.get(productId);
          const running = jobs.get(productId) ?? [];
          if (status?.stage === 'active' && running.length === 2) return undefined;
          return `${productId}: ${describeStatus(status)}; Flink runs [${running.join(', ')}]; stages seen ${(stages[productId] ?? []).join(' → ')}`;
        })
        .filter(Boolean);
      const worker = this.worker.alive()
        ? ''
        : `\n  the worker is not running; its log ends:\n${this.worker.tail()}`;
      throw new Error(
        `${when}: not every product active with its jobs running within ${timeoutMs / 1000} s:\n  ${behind.join('\n  ')}${worker}`,
      );
    }
    return { stages, lastStatus };
  }

  /** Records in the product's input topic (the feed's only writer; offsets without gaps). */
  private async inputRecords(topics: readonly string[]): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      let total = 0;
      for (const topic of topics) {
        const offsets = await admin.fetchTopicOffsets(topic);
        total += offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
      }
      return total;
    } finally {
      await admin.disconnect();
    }
  }

  async counts(productId: string): Promise<ProductCounts> {
    const spec = this.specs.get(productId)!;
    const inputs = spec.inputs.flatMap((input) => ('topic' in input ? [input.topic] : []));
    const key = spec.schema.key.map((field) => `CAST("${field}" AS VARCHAR)`).join(" || '|' || ");
    const [input, answer] = await Promise.all([
      this.inputRecords(inputs),
      queryProduct(this.config, productId, {
        sql: `SELECT count(*) AS n, count(DISTINCT ${key}) AS k FROM t`,
      }).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
    ]);
    const tally = this.tallies.get(productId);
    tally?.reviveIfStalled(input);
    const topic = tally?.counts() ?? { records: 0, keys: 0 };
    if (answer instanceof Error) {
      return {
        productId,
        input,
        topic: topic.records,
        topicKeys: topic.keys,
        topicRereads: tally?.revivals ?? 0,
        table: -1,
        tableKeys: -1,
        tableError: answer.message.slice(0, 300),
      };
    }
    const row = answer.rows[0] as { n?: unknown; k?: unknown } | undefined;
    return {
      productId,
      input,
      topic: topic.records,
      topicKeys: topic.keys,
      topicRereads: tally?.revivals ?? 0,
      table: row ? Number(row.n) : -1,
      tableKeys: row ? Number(row.k) : -1,
    };
  }

  /**
   * With the feed paused: every product's topic holds each input record once, and its table each
   * topic record once. Waits (bounded) for the jobs and the commits to catch up.
   */
  async settledCounts(fault: string): Promise<ProductCounts[]> {
    await this.feed.pause();
    try {
      let last: ProductCounts[] = [];
      const outcome = await waitUntil(
        async () => {
          last = await Promise.all(this.products.map((productId) => this.counts(productId)));
          return last.every(exact);
        },
        { timeoutMs: chaosLimits.settleMs, intervalMs: 1000 },
      );
      if (outcome !== 'ready') {
        throw new Error(
          `after ${fault}: the counts did not settle exactly once within ${chaosLimits.settleMs / 1000} s:\n  ` +
            last.map(describeCounts).join('\n  '),
        );
      }
      return last;
    } finally {
      this.feed.resume();
    }
  }

  /**
   * Decisions recorded after `since` by anyone but the workflow itself: commands from a person. The
   * proposal and approvals of a product the fault deploys (`deployed`) are the deployment, not a recovery.
   */
  personsDecisions(statuses: Map<string, ProductStatus>, since: string, deployed?: string): string[] {
    return [...statuses].flatMap(([productId, status]) =>
      status.decisions
        .filter((decision) => decision.at > since && decision.by !== SYSTEM)
        .filter((decision) => !(productId === deployed && deploymentActions.has(decision.action)))
        .map((decision) => `${productId}: ${decision.action} by ${decision.by}`),
    );
  }

  /** One fault: inject it, then await recovery and exact counts. */
  async run(fault: Fault): Promise<FaultResult> {
    await this.awaitAllActive(`before ${fault.name} (an earlier fault left the mesh so)`, 60_000);
    const since = new Date().toISOString();
    const detail = await fault.inject(this);
    const endedAt = Date.now();
    const { stages, lastStatus } = await this.awaitAllActive(`after ${fault.name}`, chaosLimits.recoveryMs);
    const secondsToActive = (Date.now() - endedAt) / 1000;
    const persons = this.personsDecisions(lastStatus, since, fault.deploys);
    if (persons.length > 0) throw new Error(`after ${fault.name}: a person acted: ${persons.join('; ')}`);
    const decisions = Object.fromEntries(
      [...lastStatus].map(([productId, status]) => [
        productId,
        status.decisions
          .filter((decision) => decision.at > since)
          .map((decision) => `${decision.action}${decision.comment ? `: ${decision.comment}` : ''}`),
      ]),
    );
    if (fault.deploys) await this.tally(fault.deploys);
    const counts = await this.settledCounts(fault.name);
    return { fault: fault.name, detail, secondsToActive, stages, decisions, counts };
  }
}

const deploymentActions: ReadonlySet<string> = new Set(['propose', 'approve']);

export function exact(counts: ProductCounts): boolean {
  return (
    counts.topic > 0 &&
    counts.topic === counts.input &&
    counts.topicKeys === counts.topic &&
    counts.table === counts.topic &&
    counts.tableKeys === counts.table
  );
}

export function describeCounts(c: ProductCounts): string {
  const table = c.tableError ? `table unreadable: ${c.tableError}` : `table ${c.table} (${c.tableKeys} keys)`;
  const rereads = c.topicRereads > 0 ? `, topic read again ${c.topicRereads}× after its reader stalled` : '';
  return `${c.productId}: input ${c.input}, topic ${c.topic} (${c.topicKeys} keys)${rereads}, ${table}`;
}

function describeStatus(status: ProductStatus | undefined): string {
  if (!status) return 'no status (the workflow did not answer)';
  const causes = (status.degradeCauses ?? []).map((cause) => `${cause.by}: ${cause.type}: ${cause.message}`);
  const reason = causes.length > 0 ? causes.join('; ') : status.lastError?.message;
  return `stage ${status.stage}${reason ? ` (${reason.slice(0, 300)})` : ''}, job ${status.job?.state ?? 'none'}, table ${status.materialization?.state ?? 'none'}`;
}

/** Until Flink shows some product job not running (the fault noticed), or `noticeMs`. */
async function untilJobsAffected(scenario: ChaosScenario): Promise<boolean> {
  const outcome = await waitUntil(
    async () => {
      const running = await scenario.runningJobsByProduct();
      return scenario.products.some((id) => (running.get(id) ?? []).length < 2);
    },
    { timeoutMs: chaosLimits.noticeMs, intervalMs: 500 },
  );
  return outcome === 'ready';
}

/** The faults, in the order the suite runs them. */
export const chaosFaults: readonly Fault[] = [
  {
    name: 'kill -9 the worker during a deployment',
    deploys: DEPLOYED_DURING_WORKER_FAULT,
    async inject(scenario) {
      const productId = DEPLOYED_DURING_WORKER_FAULT;
      await scenario.propose(productId);
      await scenario.approve(productId);
      await scenario.status(
        productId,
        (s) => s.stage === 'provisioning',
        'provisioning',
        chaosLimits.recoveryMs,
      );
      await scenario.worker.kill();
      await scenario.worker.start();
      return `killed the worker while ${productId} was provisioning; a new worker started at once`;
    },
  },
  {
    name: 'kill -9 the TaskManager',
    async inject(scenario) {
      await killService(scenario.config, 'flink-taskmanager');
      const noticed = await untilJobsAffected(scenario);
      const started = await bringPlatformBack(scenario.config);
      return `TaskManager killed; ${noticed ? 'jobs failed' : 'no job failed'} before \`stack up\` started ${started.join(', ')}`;
    },
  },
  {
    name: 'stop and restart Kafka',
    async inject(scenario) {
      await scenario.feed.pause();
      await stopService(scenario.config, 'kafka');
      const noticed = await untilJobsAffected(scenario);
      const started = await bringPlatformBack(scenario.config);
      scenario.feed.resume();
      return `Kafka stopped; ${noticed ? 'jobs failed' : `no job failed in ${chaosLimits.noticeMs / 1000} s`} before \`stack up\` started ${started.join(', ')}`;
    },
  },
  {
    name: 'restart the Temporal server',
    async inject(scenario) {
      await stopService(scenario.config, 'temporal');
      const started = await bringPlatformBack(scenario.config);
      // The dev server keeps its history in a SQLite file: every product's workflow is still there.
      const client = await scenario.temporal();
      for (const productId of scenario.products) {
        const description = await client.workflow.getHandle(workflowIdOf(productId)).describe();
        if (description.status.name !== 'RUNNING') {
          throw new Error(`after the Temporal restart ${productId}'s workflow is ${description.status.name}`);
        }
      }
      return `Temporal stopped and \`stack up\` started ${started.join(', ')}; every product workflow still running`;
    },
  },
  {
    name: 'restart the JobManager (its jobs are lost)',
    async inject(scenario) {
      const pid = await servicePid(scenario.config, 'flink-jobmanager');
      await stopService(scenario.config, 'flink-jobmanager');
      const started = await bringPlatformBack(scenario.config);
      return `JobManager (pid ${pid}) stopped and \`stack up\` started ${started.join(', ')}: it knows no job`;
    },
  },
  {
    name: 'restart the Iceberg REST catalog',
    async inject(scenario) {
      await stopService(scenario.config, 'iceberg');
      const noticed = await untilJobsAffected(scenario);
      const started = await bringPlatformBack(scenario.config);
      return `catalog stopped; ${noticed ? 'jobs failed' : `no job failed in ${chaosLimits.noticeMs / 1000} s`} before \`stack up\` started ${started.join(', ')}`;
    },
  },
];

export { seedTopics };

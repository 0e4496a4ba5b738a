/**
 * bench/capacity: how many products the default local stack runs at once, and what each costs.
 *
 * Starts a local stack of its own with the default sizes (ports shifted, see ./platform.ts), the
 * orchestration worker, and a feed writing demo records at a steady rate to every input topic. Measures
 * the idle stack (the baseline, same run), then proposes N products (copies of the discovery planner's
 * demo proposals, round robin: five source-aligned and two joins), approves each by its domain's
 * approvers in mesh.yaml, waits until every one is `active` with both its jobs RUNNING, lets them run,
 * and measures again over a window: Flink slots used and free, resident memory and CPU of every process
 * (from /proc), the lag of every job (input end offsets minus the job's committed offsets), and each
 * table's rows against its topic's records (growing over the window). Reports the per-product cost:
 * (loaded − idle) / N.
 *
 *   npm run bench:capacity                          24 products, 5 records/s per input topic
 *   npm run bench:capacity -- --products 30 --rate 5 --window 60 --json
 *   npm run bench:capacity -- --keep               leave the platform running (purged otherwise)
 */
import os from 'node:os';
import type { Kafka } from 'kafkajs';
import { Client, Connection } from '@temporalio/client';
import { planProposals } from '../../src/agents/planner';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { domainConfigOf } from '../../src/domain/mesh-config';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf, workflowIdOf } from '../../src/domain/spec';
import { queryProduct } from '../../src/query/product-query';
import type { SeedTopicName } from '../../src/seed/generator';
import { seedTopics } from '../../src/seed/generator';
import { loadMeshConfig } from '../../src/specs/load';
import { waitUntil } from '../../src/stack/probe';
import { ChaosWorker } from '../../test/helpers/chaos-platform';
import { TopicTally } from '../../test/helpers/chaos';
import { demoMesh, demoProfiles } from '../../test/helpers/demo-profiles';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, reviewUpdate } from '../../workflows/definitions';
import { SteadyFeed } from './feed';
import type { ProcSample, TreeUsage } from './proc';
import { allProcesses, cpuPercent, treeUsage } from './proc';
import {
  capacityEnvironment,
  capacityOffset,
  servicePids,
  startCapacityPlatform,
  stopCapacityPlatform,
} from './platform';
import type { CapacityOptions } from './products';
import { parseCapacityArgs, productCopies } from './products';

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`[bench:capacity] ${line}\n`);
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Usage = Readonly<{ rssMb: number; cpuPercent: number; threads: number }>;
type Measurement = Readonly<{
  processes: Record<string, Usage>;
  totalRssMb: number;
  totalCpuPercent: number;
  slotsTotal: number;
  slotsFree: number;
  jobsRunning: number;
  jvm: Record<string, JvmMemory>;
}>;
/** MB, from Flink's own metrics: what the JVM uses of what it was given. */
type JvmMemory = Readonly<{
  heapUsed: number;
  heapMax: number;
  metaspaceUsed: number;
  metaspaceMax: number;
  directUsed: number;
  threads: number;
}>;
const jvmMetrics = {
  heapUsed: 'Status.JVM.Memory.Heap.Used',
  heapMax: 'Status.JVM.Memory.Heap.Max',
  metaspaceUsed: 'Status.JVM.Memory.Metaspace.Used',
  metaspaceMax: 'Status.JVM.Memory.Metaspace.Max',
  directUsed: 'Status.JVM.Memory.Direct.MemoryUsed',
  threads: 'Status.JVM.Threads.Count',
} as const;

async function jvmMemory(url: string): Promise<JvmMemory> {
  const answer = (await (
    await fetch(`${url}/metrics?get=${Object.values(jvmMetrics).join(',')}`, {
      signal: AbortSignal.timeout(10_000),
    })
  ).json()) as Array<{ id: string; value: string }>;
  const value = (id: string) => Number(answer.find((m) => m.id === id)?.value ?? NaN);
  const mb = (id: string) => Math.round(value(id) / 2 ** 20);
  return {
    heapUsed: mb(jvmMetrics.heapUsed),
    heapMax: mb(jvmMetrics.heapMax),
    metaspaceUsed: mb(jvmMetrics.metaspaceUsed),
    metaspaceMax: mb(jvmMetrics.metaspaceMax),
    directUsed: mb(jvmMetrics.directUsed),
    threads: value(jvmMetrics.threads),
  };
}

/** The JobManager's and every TaskManager's JVM memory, as Flink reports it. */
async function flinkJvms(restUrl: string): Promise<Record<string, JvmMemory>> {
  const { taskmanagers } = (await (await fetch(`${restUrl}/taskmanagers`)).json()) as {
    taskmanagers: Array<{ id: string }>;
  };
  const out: Record<string, JvmMemory> = { 'flink-jobmanager': await jvmMemory(`${restUrl}/jobmanager`) };
  for (const [i, tm] of taskmanagers.entries()) {
    out[i === 0 ? 'flink-taskmanager' : `flink-taskmanager-${i + 1}`] = await jvmMemory(
      `${restUrl}/taskmanagers/${tm.id}`,
    );
  }
  return out;
}

type JobLag = Readonly<{ productId: string; job: 'create' | 'materialize'; lag: number }>;
type TableGrowth = Readonly<{
  productId: string;
  rowsBefore: number;
  rowsAfter: number;
  topicRecords: number;
  error?: string;
}>;

/** Resident memory now and CPU over `seconds`, for each measured process tree. */
async function measure(
  config: MeshloopConfig,
  roots: Map<string, number>,
  seconds: number,
): Promise<Measurement> {
  const usageOf = (snapshot: ProcSample[]) =>
    new Map([...roots].map(([name, pid]) => [name, treeUsage(pid, snapshot)] as const));
  const before = usageOf(await allProcesses());
  const began = Date.now();
  await delay(seconds * 1000);
  const after = usageOf(await allProcesses());
  const elapsed = (Date.now() - began) / 1000;
  const processes: Record<string, Usage> = {};
  for (const [name, end] of after) {
    const start: TreeUsage = before.get(name) ?? end;
    processes[name] = {
      rssMb: end.rssMb,
      cpuPercent: cpuPercent(start, end, elapsed),
      threads: end.threads,
    };
  }
  const overview = (await (await fetch(`${config.flink.restUrl}/overview`)).json()) as Record<string, number>;
  const values = Object.values(processes);
  return {
    processes,
    totalRssMb: values.reduce((sum, u) => sum + u.rssMb, 0),
    totalCpuPercent: values.reduce((sum, u) => sum + u.cpuPercent, 0),
    slotsTotal: overview['slots-total'] ?? NaN,
    slotsFree: overview['slots-available'] ?? NaN,
    jobsRunning: overview['jobs-running'] ?? NaN,
    jvm: await flinkJvms(config.flink.restUrl).catch(() => ({})),
  };
}

/** End offsets minus the group's committed offsets over the topics (an uncommitted partition counts whole). */
async function groupLag(kafka: Kafka, groupId: string, topics: readonly string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let lag = 0;
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const end of ends) {
        const at = Number(mine.find((p) => p.partition === end.partition)?.offset ?? -1);
        lag += Number(end.high) - (at >= 0 ? at : Number(end.low));
      }
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

async function tableRows(config: MeshloopConfig, productId: string): Promise<number> {
  const answer = await queryProduct(config, productId, { sql: 'SELECT count(*) AS n FROM t' });
  return Number((answer.rows[0] as { n?: unknown } | undefined)?.n ?? NaN);
}

/**
 * The table's rows once they exceed `before`, or at `deadline`: rows appear on the materialization's
 * commits (every MESHLOOP_MATERIALIZE_COMMIT_INTERVAL, 60 s by default), not continuously.
 */
async function rowsAfter(
  config: MeshloopConfig,
  productId: string,
  before: number | Error | undefined,
  deadline: number,
): Promise<number | Error> {
  for (;;) {
    const rows = await tableRows(config, productId).catch((e: Error) => e);
    if (typeof rows !== 'number' || typeof before !== 'number' || rows > before || Date.now() >= deadline) {
      return rows;
    }
    await delay(5000);
  }
}

class Bench {
  private connection: Connection | undefined;
  private client: Client | undefined;
  readonly tallies = new Map<string, TopicTally>();
  /** Each product's last answered status: a query that times out on a loaded machine keeps the last one. */
  private readonly lastStatus = new Map<string, ProductStatus>();

  constructor(
    readonly config: MeshloopConfig,
    readonly kafka: Kafka,
  ) {}

  async temporal(): Promise<Client> {
    if (!this.client) {
      this.connection = await Connection.connect(temporalConnectOptions(this.config.temporal.connection));
      this.client = new Client({ connection: this.connection, namespace: this.config.temporal.namespace });
    }
    return this.client;
  }

  /** Starts counting the product's topic (read committed), from its beginning. */
  async tally(productId: string): Promise<void> {
    if (this.tallies.has(productId)) return;
    const tally = new TopicTally(this.kafka, productId);
    this.tallies.set(productId, tally);
    await tally.start();
  }

  async close(): Promise<void> {
    await Promise.all([...this.tallies.values()].map((tally) => tally.stop()));
    await this.connection?.close().catch(() => undefined);
  }

  /** Proposed, then approved by every approver its domain requires (as a person would). */
  async deploy(spec: ProductSpec, timeoutMs: number): Promise<void> {
    const client = await this.temporal();
    const productId = productIdOf(spec);
    await proposeProduct(client, this.config, spec);
    await this.awaitStatus(productId, (s) => s.stage === 'awaitingApproval', 'awaiting approval', timeoutMs);
    const domain = domainConfigOf(await loadMeshConfig(this.config.meshFile), spec.domain);
    const handle = client.workflow.getHandle(workflowIdOf(productId));
    for (const by of domain.approvers.slice(0, domain.requiredApprovals)) {
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by }] });
    }
  }

  async status(productId: string): Promise<ProductStatus | undefined> {
    const status = await (
      await this.temporal()
    ).workflow
      .getHandle(workflowIdOf(productId))
      .query(getStatusQuery)
      .catch(() => undefined);
    if (status) this.lastStatus.set(productId, status);
    return status ?? this.lastStatus.get(productId);
  }

  async awaitStatus(
    productId: string,
    done: (s: ProductStatus) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> {
    let last: ProductStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        last = (await this.status(productId)) ?? last;
        return last !== undefined && done(last);
      },
      { timeoutMs, intervalMs: 500 },
    );
    if (outcome !== 'ready') {
      throw new Error(`${productId}: not ${what} within ${timeoutMs / 1000} s (stage ${last?.stage ?? '?'})`);
    }
  }

  /** Products active with both their jobs RUNNING in Flink. */
  async activeProducts(productIds: readonly string[]): Promise<{ active: string[]; behind: string[] }> {
    const jobs = (await (await fetch(`${this.config.flink.restUrl}/jobs/overview`)).json()) as {
      jobs: Array<{ name: string; state: string }>;
    };
    const running = new Map<string, Set<string>>();
    for (const job of jobs.jobs) {
      const [kind, productId] = job.name.split(':');
      if (job.state !== 'RUNNING' || !kind || !productId) continue;
      running.set(productId, (running.get(productId) ?? new Set()).add(kind));
    }
    const active: string[] = [];
    const behind: string[] = [];
    await Promise.all(
      productIds.map(async (productId) => {
        const status = await this.status(productId);
        const kinds = running.get(productId) ?? new Set();
        const ok =
          status?.stage === 'active' && kinds.has('meshloop-create') && kinds.has('meshloop-materialize');
        if (ok) active.push(productId);
        else
          behind.push(
            `${productId}: stage ${status?.stage ?? '?'}${status?.lastError ? ` (${status.lastError.message.slice(0, 160)})` : ''}, Flink runs [${[...kinds].join(', ')}]`,
          );
      }),
    );
    return { active, behind };
  }
}

function usageTable(idle: Measurement, loaded: Measurement, products: number): string[] {
  const lines = [
    '| process | idle RSS (MB) | loaded RSS (MB) | per product (MB) | idle CPU (% core) | loaded CPU (% core) | per product (% core) | threads idle → loaded |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const names = Object.keys(loaded.processes);
  const row = (name: string, a: Usage, b: Usage) =>
    `| ${name} | ${a.rssMb.toFixed(0)} | ${b.rssMb.toFixed(0)} | ${((b.rssMb - a.rssMb) / products).toFixed(1)} | ${a.cpuPercent.toFixed(1)} | ${b.cpuPercent.toFixed(1)} | ${((b.cpuPercent - a.cpuPercent) / products).toFixed(2)} | ${a.threads} → ${b.threads} |`;
  for (const name of names) {
    lines.push(row(name, idle.processes[name] ?? loaded.processes[name]!, loaded.processes[name]!));
  }
  lines.push(
    row(
      '**all**',
      { rssMb: idle.totalRssMb, cpuPercent: idle.totalCpuPercent, threads: 0 },
      { rssMb: loaded.totalRssMb, cpuPercent: loaded.totalCpuPercent, threads: 0 },
    ),
  );
  return lines;
}

type Report = Readonly<{
  products: number;
  activeWithJobsRunning: number;
  tablesGrowing: number;
  secondsToActive: number;
  ratePerInputTopic: number;
  inputTopics: string[];
  recordsSent: number;
  feedErrors: number;
  taskSlots: number;
  windowSeconds: number;
  idle: Measurement;
  loaded: Measurement;
  perProduct: Readonly<{ slots: number; rssMb: number; cpuPercent: number }>;
  lag: Readonly<{ maxCreate: number; maxMaterialize: number; jobs: JobLag[] }>;
  tables: TableGrowth[];
  behind: string[];
  machine: Readonly<{ cores: number; memoryGb: number; load: number }>;
  totalSeconds: number;
}>;

/** Every job's lag and every table's rows against its topic's records, at the end of the window. */
async function jobsAndTables(
  bench: Bench,
  specs: readonly ProductSpec[],
  rowsBefore: ReadonlyMap<string, number | Error>,
  growthDeadline: number,
): Promise<{ lags: JobLag[]; tables: TableGrowth[] }> {
  const lags: JobLag[] = [];
  const tables: TableGrowth[] = [];
  for (const spec of specs) {
    const productId = productIdOf(spec);
    const inputs = spec.inputs.flatMap((i) => ('topic' in i ? [i.topic] : []));
    const lag = (groupId: string, topics: readonly string[]) =>
      groupLag(bench.kafka, groupId, topics).catch(() => NaN);
    lags.push({ productId, job: 'create', lag: await lag(`meshloop-create.${productId}`, inputs) });
    lags.push({
      productId,
      job: 'materialize',
      lag: await lag(`meshloop-materialize.${productId}`, [spec.outputTopic.name]),
    });
    const before = rowsBefore.get(productId);
    const rows = await rowsAfter(bench.config, productId, before, growthDeadline);
    tables.push({
      productId,
      rowsBefore: typeof before === 'number' ? before : -1,
      rowsAfter: typeof rows === 'number' ? rows : -1,
      topicRecords: bench.tallies.get(productId)?.counts().records ?? 0,
      ...(rows instanceof Error ? { error: rows.message.slice(0, 200) } : {}),
    });
  }
  return { lags, tables };
}

function printReport(report: Report): void {
  const { idle, loaded, lag } = report;
  out(
    `${report.activeWithJobsRunning}/${report.products} products active with both jobs RUNNING; ${report.tablesGrowing} tables growing over ${report.windowSeconds} s; ` +
      `all active ${report.secondsToActive.toFixed(0)} s after the first approval`,
  );
  out(
    `slots: ${loaded.slotsTotal} total, ${loaded.slotsFree} free (idle: ${idle.slotsFree} free); ${loaded.jobsRunning} jobs running; ` +
      `${report.perProduct.slots.toFixed(1)} slots per product`,
  );
  out(
    `feed: ${report.ratePerInputTopic} records/s to each of ${report.inputTopics.join(', ')} (${report.recordsSent} sent, ${report.feedErrors} failed sends)\n`,
  );
  const running = Math.max(1, (loaded.jobsRunning - idle.jobsRunning) / 2);
  for (const line of usageTable(idle, loaded, running)) out(line);
  out('');
  out(
    '| Flink JVM | heap used idle → loaded (MB) | heap max | metaspace used idle → loaded | metaspace max | direct used idle → loaded |',
  );
  out('| --- | --- | --- | --- | --- | --- |');
  for (const [name, jvm] of Object.entries(loaded.jvm)) {
    const was = idle.jvm[name];
    out(
      `| ${name} | ${was?.heapUsed ?? '?'} → ${jvm.heapUsed} | ${jvm.heapMax} | ${was?.metaspaceUsed ?? '?'} → ${jvm.metaspaceUsed} | ${jvm.metaspaceMax} | ${was?.directUsed ?? '?'} → ${jvm.directUsed} |`,
    );
  }
  out(
    '(heap used is live data plus garbage not yet collected; the serial GC collects when the young generation fills)\n',
  );
  out(
    `per product: ${report.perProduct.rssMb.toFixed(1)} MB resident, ${report.perProduct.cpuPercent.toFixed(2)} % of a core, ${report.perProduct.slots.toFixed(1)} slots`,
  );
  out(
    `lag (end offset − committed offset): creation jobs max ${lag.maxCreate}, materialization jobs max ${lag.maxMaterialize} records`,
  );
  out('\n| product | table rows before → after | topic records | create lag | materialize lag |');
  out('| --- | --- | --- | --- | --- |');
  for (const t of report.tables) {
    const of = (job: string) =>
      lag.jobs.find((l) => l.productId === t.productId && l.job === job)?.lag ?? '?';
    out(
      `| ${t.productId} | ${t.rowsBefore} → ${t.rowsAfter}${t.error ? ` (${t.error})` : ''} | ${t.topicRecords} | ${of('create')} | ${of('materialize')} |`,
    );
  }
  for (const line of report.behind) out(`behind: ${line}`);
  out(
    `\n(whole run ${report.totalSeconds.toFixed(0)} s, platform start included; load ${report.machine.load.toFixed(2)})`,
  );
}

/**
 * Proposed and approved two at a time: the SQL Gateway plans one statement at a time per session, and on
 * a loaded 2-core machine more at once made provisioning activities time out.
 */
async function deployAll(bench: Bench, specs: readonly ProductSpec[], timeoutS: number) {
  const queue = [...specs];
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) await bench.deploy(spec, timeoutS * 1000);
    }),
  );
  const productIds = specs.map(productIdOf);
  let state = await bench.activeProducts(productIds);
  await waitUntil(
    async () => {
      state = await bench.activeProducts(productIds);
      return state.behind.length === 0;
    },
    { timeoutMs: timeoutS * 1000, intervalMs: 2000 },
  );
  return state;
}

async function run(
  options: CapacityOptions,
  config: MeshloopConfig,
  bench: Bench,
  worker: ChaosWorker,
  feed: SteadyFeed,
  specs: readonly ProductSpec[],
): Promise<Report> {
  const began = Date.now();
  await worker.start();
  const roots = await servicePids(config);
  await delay(15_000); // the worker connected, the stack settled after its start
  roots.set('worker', worker.pid!);
  note(`idle stack: measuring ${options.window} s`);
  const idle = await measure(config, roots, options.window);
  await feed.start();
  note(
    `feeding ${options.rate} records/s to each of ${feed.topicNames.join(', ')}; deploying ${specs.length} products`,
  );
  const approvedAt = Date.now();
  const state = await deployAll(bench, specs, options.activeTimeoutS);
  const secondsToActive = (Date.now() - approvedAt) / 1000;
  note(
    `${state.active.length}/${specs.length} active with both jobs running after ${secondsToActive.toFixed(0)} s`,
  );
  for (const line of state.behind) note(`  behind: ${line}`);
  // Every deployed product, active or not yet: a product the worker is slow to report still runs.
  for (const spec of specs) await bench.tally(productIdOf(spec));
  await delay(options.settle * 1000);
  const rowsBefore = new Map<string, number | Error>();
  // Two commits of every table after the first count, whatever the window.
  const growthDeadline = Date.now() + 2 * config.materialize.commitIntervalMs + 30_000;
  await Promise.all(
    specs
      .map(productIdOf)
      .map(async (id) => rowsBefore.set(id, await tableRows(config, id).catch((e: Error) => e))),
  );
  note(`loaded stack: measuring ${options.window} s`);
  const loaded = await measure(config, roots, options.window);
  const after = await bench.activeProducts(specs.map(productIdOf));
  const { lags, tables } = await jobsAndTables(bench, specs, rowsBefore, growthDeadline);
  const running = Math.max(1, (loaded.jobsRunning - idle.jobsRunning) / 2);
  const createLags = lags.filter((l) => l.job === 'create').map((l) => l.lag);
  const materializeLags = lags.filter((l) => l.job === 'materialize').map((l) => l.lag);
  return {
    products: specs.length,
    activeWithJobsRunning: after.active.length,
    tablesGrowing: tables.filter((t) => t.rowsBefore >= 0 && t.rowsAfter > t.rowsBefore).length,
    secondsToActive,
    ratePerInputTopic: options.rate,
    inputTopics: feed.topicNames,
    recordsSent: Object.values(feed.sent).reduce((a, b) => a + b, 0),
    feedErrors: feed.errors,
    taskSlots: config.stack.flink.taskSlots,
    windowSeconds: options.window,
    idle,
    loaded,
    // Per product running (two jobs each), not per product asked for: some may not have started.
    perProduct: {
      slots: (idle.slotsFree - loaded.slotsFree) / running,
      rssMb: (loaded.totalRssMb - idle.totalRssMb) / running,
      cpuPercent: (loaded.totalCpuPercent - idle.totalCpuPercent) / running,
    },
    lag: { maxCreate: Math.max(...createLags), maxMaterialize: Math.max(...materializeLags), jobs: lags },
    tables,
    behind: after.behind,
    machine: { cores: os.cpus().length, memoryGb: os.totalmem() / 2 ** 30, load: os.loadavg()[0] ?? 0 },
    totalSeconds: (Date.now() - began) / 1000,
  };
}

async function main(): Promise<void> {
  const options = parseCapacityArgs(process.argv.slice(2));
  const offset = capacityOffset();
  const env = capacityEnvironment(offset);
  note(`starting a local stack of its own on port offset ${offset} (${env.MESHLOOP_DATA_DIR})`);
  const started = Date.now();
  const config = await startCapacityPlatform(env);
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-capacity', retries: 5 });
  const worker = new ChaosWorker(env);
  const bench = new Bench(config, kafka);
  const planned = planProposals(demoProfiles(), demoMesh).proposals.map((proposal) => proposal.spec);
  const specs = productCopies(planned, options.products).map((spec) => parseSpec(spec));
  const feed = new SteadyFeed(kafka, feedTopicsOf(specs), options.rate);
  try {
    const report = await run(options, config, bench, worker, feed, specs);
    const withStart = { ...report, totalSeconds: (Date.now() - started) / 1000 };
    if (options.json) out(JSON.stringify(withStart, null, 2));
    else printReport(withStart);
    if (report.activeWithJobsRunning < report.products || report.tablesGrowing < report.products) {
      process.exitCode = 1;
    }
  } finally {
    await feed.stop().catch(() => undefined);
    await bench.close();
    await worker.stop().catch(() => undefined);
    if (options.keep) note(`the platform keeps running (offset ${offset}); stop it with stack down --purge`);
    else await stopCapacityPlatform(config);
  }
}

/** The demo topics the products read. */
function feedTopicsOf(specs: readonly ProductSpec[]): SeedTopicName[] {
  const inputs = new Set(specs.flatMap((s) => s.inputs.flatMap((i) => ('topic' in i ? [i.topic] : []))));
  return (Object.keys(seedTopics) as SeedTopicName[]).filter((name) => inputs.has(seedTopics[name]));
}

// Interrupted: exit so the worker child is killed (the platform stays; `meshloop stack down --purge` with
// the bench's ports and data directory removes it, or the next run does).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().catch((error: unknown) => {
  note(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});

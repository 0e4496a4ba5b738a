/**
 * bench/materialize: Kafka → Iceberg on the real platform, each figure beside a baseline measured
 * in the same run (our machines are noisy: only the ratios are comparable).
 *
 * 1. Throughput: the same topic of BENCH_ROWS order records (default 4,000,000: a job of 10 to 15 s,
 *    where a product's long-running job is, rather than its start-up and JIT warm-up) read to its end by
 *    bounded Flink jobs: Flink's own JSON format into a blackhole (the baseline, as Flink runs a job
 *    by default; and again with object reuse, the setting our materializations run with), our
 *    materialization's parsing into a blackhole, the whole materialization into Iceberg, and for
 *    comparison the per-field JSON functions used before the one-pass parser (and, with
 *    BENCH_WRITER_OPTIONS, the Iceberg job with those Iceberg write options). Rows/s from each job's RUNNING time to its end; each job
 *    BENCH_REPEAT times (default 3), interleaved, medians reported.
 * 2. Latency: one record every 100 ms into a running materialization (commit interval
 *    BENCH_COMMIT_INTERVAL, default 5s); for each, the time from the produce acknowledgement to the
 *    first snapshot in the catalog that holds it. p50/p95 against the commit interval + 2 s.
 * 3. A contract check (null count, distinct keys, min/max event time) on the ≥ 1 M-row table: in
 *    DuckDB against the same query in Flink batch, medians of three runs each.
 *
 *   npm run bench:materialize
 *   BENCH_ROWS=1000000 BENCH_PER_FIELD=0 npm run bench:materialize   # a quicker run
 *   BENCH_PER_FIELD=1 npm run bench:materialize   # with the per-field parsing used before (slow)
 */
import { randomUUID } from 'node:crypto';
import { FlinkRestClient, SqlGatewayClient } from '../../src/adapters/flink';
import type { SqlGatewaySession } from '../../src/adapters/flink';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLake } from '../../src/adapters/duckdb/lake';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import type { MeshloopConfig } from '../../src/config';
import { parseDuration } from '../../src/domain/duration';
import { quoteLiteral } from '../../src/domain/flink-types';
import { materializationPlanOf } from '../../src/domain/materialization';
import type { MaterializationPlan } from '../../src/domain/materialization';
import { parseSpec } from '../../src/domain/spec';
import {
  materializationInsertStatement,
  materializationJobConfig,
  materializationSetupStatements,
  tableSql,
} from '../../src/materialize/flink-sql';
import type { MaterializationSqlOptions } from '../../src/materialize/flink-sql';
import { parserJarOf } from '../../src/materialize';
import { catalogNameOf, ensureProductTable } from '../../src/materialize/iceberg-table';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';

const rows = Number(process.env.BENCH_ROWS ?? 4_000_000);
const commitIntervalMs = parseDuration(process.env.BENCH_COMMIT_INTERVAL ?? '5s') ?? 5000;
const latencySeconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 30);
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
/** e.g. `'compression-codec' = 'snappy'`: adds an Iceberg run with these write options. */
const writerOptions = process.env.BENCH_WRITER_OPTIONS;
/** A parser jar to compare (say, an earlier build of src/materialize/udf): its parsing → blackhole too. */
const compareJar = process.env.BENCH_COMPARE_JAR;
/**
 * The per-field parsing used before the one-pass parser runs at a tenth of its speed: by default it
 * is measured up to 1,000,000 rows (where the "before" figures were taken) and left out beyond.
 * BENCH_PER_FIELD=1 measures it at any size, BENCH_PER_FIELD=0 never.
 */
const perField =
  process.env.BENCH_PER_FIELD === undefined || process.env.BENCH_PER_FIELD === ''
    ? rows <= 1_000_000
    : process.env.BENCH_PER_FIELD !== '0';
const out = (line: string) => process.stdout.write(`${line}\n`);
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const median = (values: number[]) => percentile(values, 50);

function specFor(name: string, topic: string) {
  return parseSpec({
    name,
    domain: 'bench',
    owner: 'bench',
    kind: 'source-aligned',
    outputTopic: { name: topic, partitions: 1 },
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'status', type: 'string' },
        { name: 'placed_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    materialization: { errorMode: 'skip', commitInterval: `${commitIntervalMs}ms` },
  });
}

const order = (i: number) =>
  JSON.stringify({
    order_id: `ord-${i}`,
    customer_id: `cus-${i % 50_000}`,
    amount: (i % 10_000) / 100,
    status: ['placed', 'paid', 'shipped'][i % 3],
    placed_at: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
  });

async function produceRows(config: MeshloopConfig, topic: string, count: number): Promise<void> {
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-materialize' });
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.fetchTopicOffsets(topic).catch(() => undefined);
  // What the topic holds now: retention may have deleted its oldest records on a long-lived platform.
  const have =
    existing?.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0) ?? 0;
  if (!existing) await createTopicsAndAwaitLeaders(admin, [{ topic, numPartitions: 1 }]);
  await admin.disconnect();
  if (have >= count) {
    out(`topic ${topic} already holds ${have} records`);
    return;
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const began = Date.now();
  for (let from = have; from < count; from += 5_000) {
    const messages = [];
    for (let i = from; i < Math.min(count, from + 5_000); i++) messages.push({ value: order(i) });
    await producer.send({ topic, acks: 1, messages });
  }
  await producer.disconnect();
  out(`produced ${count - have} records into ${topic} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

/** The one-pass parser's jar, as the materializer loads it (built on first use). */
async function parserJarFor(config: MeshloopConfig): Promise<string> {
  const jar = await parserJarOf(config).parserJar?.();
  if (!jar)
    throw new Error('the bench runs the one-pass parser: leave MESHLOOP_MATERIALIZE_PARSER_JAR unset');
  return jar;
}

class Flink {
  readonly gateway: SqlGatewayClient;
  readonly rest: FlinkRestClient;
  constructor(readonly config: MeshloopConfig) {
    this.gateway = new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, headers: config.flink.headers });
    this.rest = new FlinkRestClient({ url: config.flink.restUrl, headers: config.flink.headers });
  }

  /** Run a bounded INSERT to its end; rows/s over the job's RUNNING time. */
  async timedJob(
    label: string,
    setup: string[],
    insert: string,
    config: Record<string, string>,
    count: number,
  ) {
    const session = await this.gateway.openSession({ name: label });
    try {
      for (const statement of setup) await session.configure(statement);
      const { jobId } = await session.execute(insert, { executionConfig: config, timeoutMs: 120_000 });
      if (!jobId) throw new Error(`${label}: no job`);
      const detail = await this.rest.waitForJobState(jobId, ['FINISHED'], { timeoutMs: 30 * 60_000 });
      if (detail.state !== 'FINISHED') throw new Error(`${label}: job ${detail.state}`);
      const seconds = (detail['end-time'] - (detail.timestamps.RUNNING ?? detail['start-time'])) / 1000;
      return { label, seconds, perSecond: count / seconds };
    } finally {
      await session.close().catch(() => undefined);
    }
  }
}

type Timed = Awaited<ReturnType<Flink['timedJob']>>;

/**
 * Each job BENCH_REPEAT times (default 3), interleaved, and the median of each: one run of a short
 * job on a shared machine is noise. `tableFor(i)` is a fresh table for each Iceberg run.
 */
async function throughput(
  config: MeshloopConfig,
  flink: Flink,
  plan: MaterializationPlan,
  tableFor: (run: number) => Promise<MaterializationPlan>,
) {
  const parserJar = await parserJarFor(config);
  const options = {
    kafka: config.flink.kafka,
    icebergCatalogUri: config.flink.icebergCatalogUri,
    bounded: true,
    parserJar,
  };
  const jobConfig = {
    ...materializationJobConfig(plan),
    'pipeline.name': `bench-${randomUUID().slice(0, 6)}`,
  };
  const blackhole = `CREATE TEMPORARY TABLE bench_sink (order_id STRING, customer_id STRING, amount DOUBLE, status STRING, placed_at TIMESTAMP_LTZ(3)) WITH ('connector' = 'blackhole')`;
  const jsonSource = `CREATE TEMPORARY TABLE bench_json (order_id STRING, customer_id STRING, amount DOUBLE, status STRING, placed_at TIMESTAMP_LTZ(3)) WITH (
        'connector' = 'kafka', 'topic' = ${quoteLiteral(plan.topic)},
        'properties.bootstrap.servers' = ${quoteLiteral(options.kafka.bootstrapServers)},
        'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
        'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601')`;
  // The baseline as Flink runs a job by default (no object reuse), and with our jobs' settings.
  const baseline = (reuse: boolean) =>
    flink.timedJob(
      reuse ? 'Flink JSON format → blackhole, object reuse' : 'Flink JSON format → blackhole (baseline)',
      [jsonSource, blackhole],
      'INSERT INTO bench_sink SELECT * FROM bench_json',
      reuse ? jobConfig : { ...jobConfig, 'pipeline.object-reuse': 'false' },
      rows,
    );
  // Iceberg's writer behind Flink's own JSON format (no error routing): what writing costs by itself.
  const icebergCeiling = async (table: MaterializationPlan) =>
    flink.timedJob(
      'Flink JSON format → Iceberg (the writer alone)',
      [materializationSetupStatements(table, options)[0]!, jsonSource],
      `INSERT INTO ${tableSql(table.table)} SELECT * FROM bench_json`,
      jobConfig,
      rows,
    );
  const parse = (label: string, parser: MaterializationSqlOptions) =>
    flink.timedJob(
      label,
      [...materializationSetupStatements(plan, parser).slice(1), blackhole],
      `INSERT INTO bench_sink SELECT order_id, customer_id, amount, status, placed_at FROM meshloop_parsed WHERE error = ''`,
      jobConfig,
      rows,
    );
  // The parsing materializations used before the one-pass parser: a JSON function call per field.
  const { parserJar: _onePass, ...perFieldOptions } = options;
  const iceberg = async (
    label: string,
    table: MaterializationPlan,
    writeOptions?: string,
    parser: MaterializationSqlOptions = options,
  ) =>
    flink.timedJob(
      label,
      materializationSetupStatements(table, parser),
      writeOptions
        ? materializationInsertStatement(table).replace(
            `INSERT INTO ${tableSql(table.table)} SELECT`,
            `INSERT INTO ${tableSql(table.table)} /*+ OPTIONS(${writeOptions}) */ SELECT`,
          )
        : materializationInsertStatement(table),
      jobConfig,
      rows,
    );
  // Each job's runs, by name; a job not asked for (per-field, a writer variant, a jar to compare) has none.
  const runs = {
    baseline: [] as Timed[],
    baselineReuse: [] as Timed[],
    parsing: [] as Timed[],
    iceberg: [] as Timed[],
    ceiling: [] as Timed[],
    perField: [] as Timed[],
    perFieldIceberg: [] as Timed[],
    variant: [] as Timed[],
    compared: [] as Timed[],
  };
  for (let run = 0; run < repeat; run++) {
    runs.baseline.push(await baseline(false));
    runs.baselineReuse.push(await baseline(true));
    runs.parsing.push(await parse('materialization parsing → blackhole', options));
    runs.iceberg.push(
      await iceberg('materialization → Iceberg (as run)', run === 0 ? plan : await tableFor(run)),
    );
    if (compareJar)
      runs.compared.push(
        await parse(`parsing with ${compareJar} → blackhole`, { ...options, parserJar: compareJar }),
      );
    runs.ceiling.push(await icebergCeiling(await tableFor(2 * repeat + run)));
    if (perField) {
      runs.perField.push(await parse('per-field JSON functions → blackhole (before)', perFieldOptions));
      runs.perFieldIceberg.push(
        await iceberg(
          'per-field JSON functions → Iceberg (before)',
          await tableFor(3 * repeat + run),
          undefined,
          perFieldOptions,
        ),
      );
    }
    // A writer setting to try (Iceberg's Flink write options, as a hint), beside the table's own.
    if (writerOptions) {
      runs.variant.push(
        await iceberg(
          `materialization → Iceberg with ${writerOptions}`,
          await tableFor(repeat + run),
          writerOptions,
        ),
      );
    }
  }
  const medianOf = (timed: Timed[]) => {
    if (timed.length === 0) return undefined;
    const seconds = median(timed.map((r) => r.seconds));
    return { label: timed[0]!.label, seconds, perSecond: rows / seconds };
  };
  return {
    baseline: medianOf(runs.baseline)!,
    baselineReuse: medianOf(runs.baselineReuse)!,
    parsing: medianOf(runs.parsing)!,
    iceberg: medianOf(runs.iceberg)!,
    ceiling: medianOf(runs.ceiling)!,
    perField: medianOf(runs.perField),
    perFieldIceberg: medianOf(runs.perFieldIceberg),
    variant: medianOf(runs.variant),
    compared: medianOf(runs.compared),
  };
}

async function latency(config: MeshloopConfig, flink: Flink, plan: MaterializationPlan) {
  const catalog = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
  await ensureProductTable(catalog, plan);
  const session = await flink.gateway.openSession({ name: plan.jobName });
  let jobId: string | undefined;
  try {
    for (const statement of materializationSetupStatements(plan, {
      kafka: config.flink.kafka,
      icebergCatalogUri: config.flink.icebergCatalogUri,
      parserJar: await parserJarFor(config),
    }))
      await session.configure(statement);
    ({ jobId } = await session.execute(materializationInsertStatement(plan), {
      executionConfig: materializationJobConfig(plan),
      timeoutMs: 120_000,
    }));
    if (!jobId) throw new Error('no job');
    await flink.rest.waitForJobState(jobId, ['RUNNING']);
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-latency' });
    const producer = kafka.producer();
    await producer.connect();
    const ackedAt: number[] = [];
    const visibleAt: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling || visibleAt.length < ackedAt.length) {
        const loaded = await catalog.loadTable(catalogNameOf(plan.table));
        const total = Number(loaded.currentSnapshot?.summary['total-records'] ?? 0);
        const now = Date.now();
        while (visibleAt.length < Math.min(total, ackedAt.length)) visibleAt.push(now);
        await delay(100);
        if (!polling && Date.now() - (ackedAt.at(-1) ?? 0) > commitIntervalMs * 4) break;
      }
    })();
    const end = Date.now() + latencySeconds * 1000;
    for (let i = 0; Date.now() < end; i++) {
      await producer.send({ topic: plan.topic, acks: -1, messages: [{ value: order(i) }] });
      ackedAt.push(Date.now());
      await delay(100);
    }
    polling = false;
    await poller;
    await producer.disconnect();
    const latencies = visibleAt.map((seen, i) => seen - ackedAt[i]!);
    return {
      records: ackedAt.length,
      visible: visibleAt.length,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
    };
  } finally {
    if (jobId) await flink.rest.cancelJob(jobId).catch(() => undefined);
    await session.close().catch(() => undefined);
  }
}

async function contractCheck(config: MeshloopConfig, flink: Flink, plan: MaterializationPlan) {
  const catalog = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
  const loaded = await catalog.loadTable(catalogNameOf(plan.table));
  const snapshotId = loaded.currentSnapshot?.snapshotId;
  if (!snapshotId) throw new Error('the bench table has no snapshot');
  const check = (table: string) =>
    `SELECT COUNT(*) AS row_count, COUNT(*) - COUNT(amount) AS null_amount, COUNT(DISTINCT order_id) AS distinct_keys, MIN(placed_at) AS first_event, MAX(placed_at) AS last_event FROM ${table}`;

  const lake = await IcebergLake.open({
    extensionDir: await ensureDuckDbExtensions(config.stack.cacheDir),
    catalog: config.iceberg,
    tables: [{ ref: plan.table, location: loaded.metadata.location }],
  });
  const duck: number[] = [];
  let duckAnswer: unknown;
  try {
    for (let i = 0; i < 3; i++) {
      const began = performance.now();
      duckAnswer = (await lake.queryAtSnapshot(plan.table, snapshotId, check('t'))).rows[0];
      duck.push(performance.now() - began);
    }
  } finally {
    lake.close();
  }

  const session: SqlGatewaySession = await flink.gateway.openSession({ name: 'bench-contract' });
  const batch: number[] = [];
  let flinkAnswer: unknown;
  try {
    await session.configure(
      materializationSetupStatements(plan, {
        kafka: config.flink.kafka,
        icebergCatalogUri: config.flink.icebergCatalogUri,
      })[0]!,
    );
    for (let i = 0; i < 3; i++) {
      const began = performance.now();
      const result = await session.execute(
        `${check(tableSql(plan.table))} /*+ OPTIONS('snapshot-id' = '${snapshotId}') */`,
        { executionConfig: { 'execution.runtime-mode': 'batch' }, timeoutMs: 10 * 60_000 },
      );
      flinkAnswer = result.rows[0];
      batch.push(performance.now() - began);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
  return { duckMs: median(duck), flinkMs: median(batch), duckAnswer, flinkAnswer };
}

async function main() {
  const config = await testPlatform();
  const flink = new Flink(config);
  const topic = `bench.materialize_${rows}`;
  await produceRows(config, topic, rows);
  const catalog = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
  const defaults = {
    provider: 'flink' as const,
    errorMode: 'skip' as const,
    commitIntervalMs,
    catalog: config.materialize.catalog,
  };

  // A fresh table per run, so the throughput job writes every row once.
  const runId = randomUUID().slice(0, 6);
  const plan = materializationPlanOf(specFor(`orders_${runId}`, topic), 1, defaults);
  await ensureProductTable(catalog, plan);
  out(`\nthroughput (${rows} rows, 1 partition, 1 slot each; medians of ${repeat} runs)`);
  if (!perField)
    out(
      `  (the per-field parsing used before is left out${rows > 1_000_000 ? ' beyond 1,000,000 rows' : ''}; BENCH_PER_FIELD=1 adds it)`,
    );
  const extraTables: MaterializationPlan[] = [];
  const results = await throughput(config, flink, plan, async (run) => {
    const extra = materializationPlanOf(specFor(`orders_${runId}_${run}`, topic), 1, defaults);
    await ensureProductTable(catalog, extra);
    extraTables.push(extra);
    return extra;
  });
  for (const r of Object.values(results).filter((r) => r !== undefined))
    out(
      `  ${r.label.padEnd(44)} ${r.seconds.toFixed(1).padStart(6)} s  ${Math.round(r.perSecond).toLocaleString('en').padStart(9)} rows/s`,
    );
  const {
    baseline,
    baselineReuse,
    parsing,
    iceberg,
    perField: perFieldResult,
    variant,
    ceiling,
    compared,
    perFieldIceberg,
  } = results;
  const ratio = (r: { perSecond: number }) => (r.perSecond / baseline.perSecond).toFixed(2);
  out(
    `  ratio to the JSON blackhole: Iceberg ${ratio(iceberg)} (aim ≥ 0.8), parsing ${ratio(parsing)}${perFieldResult ? `, per-field parsing ${ratio(perFieldResult)}` : ''}${perFieldIceberg ? `, per-field → Iceberg ${ratio(perFieldIceberg)}` : ''}${variant ? `, Iceberg with ${writerOptions} ${ratio(variant)}` : ''}${compared ? `, parsing with ${compareJar} ${ratio(compared)}` : ''}; Iceberg / parsing: ${(iceberg.perSecond / parsing.perSecond).toFixed(2)}`,
  );
  const ratioReuse = (r: { perSecond: number }) => (r.perSecond / baselineReuse.perSecond).toFixed(2);
  out(
    `  ratio to the JSON blackhole with object reuse (the same settings as ours): Iceberg ${ratioReuse(iceberg)}, parsing ${ratioReuse(parsing)}, the writer alone ${ratioReuse(ceiling)}`,
  );
  out(
    `  the writer alone (Flink JSON format → Iceberg) ${ratio(ceiling)} of the blackhole; our materialization → Iceberg is ${(iceberg.perSecond / ceiling.perSecond).toFixed(2)} of it`,
  );
  for (const extra of extraTables) {
    await catalog.dropTable(catalogNameOf(extra.table), { purge: true }).catch(() => undefined);
    await catalog.dropTable(catalogNameOf(extra.deadLetterTable), { purge: true }).catch(() => undefined);
  }

  const latencyPlan = materializationPlanOf(
    specFor(`latency_${runId}`, `bench.latency_${runId}`),
    1,
    defaults,
  );
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench' });
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndAwaitLeaders(admin, [{ topic: latencyPlan.topic, numPartitions: 1 }]);
  const lat = await latency(config, flink, latencyPlan);
  await admin.deleteTopics({ topics: [latencyPlan.topic] }).catch(() => undefined);
  await admin.disconnect();
  out(
    `\nproduce → queryable (commit interval ${commitIntervalMs} ms, ${lat.records} records, ${lat.visible} seen)`,
  );
  out(
    `  p50 ${lat.p50} ms, p95 ${lat.p95} ms; aim ≤ ${commitIntervalMs + 2000} ms: ${lat.p95 <= commitIntervalMs + 2000 ? 'met' : 'not met'}`,
  );

  const contract = await contractCheck(config, flink, plan);
  out(`\ncontract check on ${rows} rows (null count, distinct keys, min/max event time; median of 3)`);
  out(`  DuckDB ${contract.duckMs.toFixed(0)} ms: ${JSON.stringify(contract.duckAnswer)}`);
  out(`  Flink batch ${contract.flinkMs.toFixed(0)} ms: ${JSON.stringify(contract.flinkAnswer)}`);
  out(`  DuckDB is ${(contract.flinkMs / contract.duckMs).toFixed(1)}× faster (aim ≥ 10×)`);
  await catalog.dropTable(catalogNameOf(plan.table), { purge: true }).catch(() => undefined);
  await catalog.dropTable(catalogNameOf(plan.deadLetterTable), { purge: true }).catch(() => undefined);
}

main()
  .then(() => stopTestPlatform())
  .then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );

/**
 * bench/analysis: one analysis cycle on product tables of 100 k and 1 M rows, each beside a baseline
 * measured in the same run on the same table (our machines are noisy: only the ratios compare).
 *
 * - Cycle: `runAnalysisCycle` as the worker runs it (catalog read, results table read and write,
 *   DuckDB over the Iceberg table): four quality rules, the SLA freshness, volume, and drift against
 *   the previous cycle's snapshot (time travel), each time on a new snapshot (1 % more rows).
 * - Baselines, in the same locked reader (opened and closed each time, as the cycle does): a plain
 *   `SELECT count(*), max(placed_at) FROM t`, which DuckDB answers mostly from metadata and column
 *   statistics, and a scan that reads every value of every column once.
 * - The checks alone (`measureCycle` on an open reader: the rules, freshness and the two profiles)
 *   against the all-column scan query alone on the same reader: how the DuckDB work itself grows.
 * - Once per size: `proposeFromAnalysis` (profile, the analyst, the SQL guard in Flink).
 * Medians of BENCH_REPEAT (default 3) runs.
 *
 *   npm run bench:analysis
 *   BENCH_SIZES=100000,1000000,3000000 npm run bench:analysis
 */
import { randomUUID } from 'node:crypto';
import { createAnalysisCycleActivities } from '../../activities/analysis-cycle';
import { measureCycle } from '../../src/analysis/cycle';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLake } from '../../src/adapters/duckdb/lake';
import { SqlGatewayClient } from '../../src/adapters/flink/sql-gateway';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { ensureCatalogTopic } from '../../src/adapters/kafka/catalog';
import { createKafkaClient, MESHLOOP_TOPIC_PREFIX } from '../../src/adapters/kafka/client';
import type { ProductSpec } from '../../src/domain/spec';
import { parseSpec, productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { productTableOf } from '../../src/query/product-query';
import {
  createProductTable,
  lakeTableSql,
  openLakeWriter,
  publishProduct,
} from '../../test/helpers/lake-tables';
import { stopTestPlatform, testPlatform } from '../../test/helpers/platform';

const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const out = (line: string) => process.stdout.write(`${line}\n`);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function specFor(name: string): ProductSpec {
  return parseSpec({
    name,
    domain: 'orders',
    owner: 'bench',
    kind: 'source-aligned',
    inputs: [
      {
        topic: 'orders.orders',
        as: 'orders',
        schema: {
          fields: [
            { name: 'order_id', type: 'string' },
            { name: 'customer_id', type: 'string' },
            { name: 'status', type: 'string' },
            { name: 'channel', type: 'string' },
            { name: 'total_amount', type: 'double' },
            { name: 'order_ts', type: 'timestamp' },
          ],
          eventTimeField: 'order_ts',
        },
      },
    ],
    sql: 'SELECT order_id, customer_id, status, channel, total_amount AS amount, order_ts AS placed_at FROM orders',
    schema: {
      fields: [
        { name: 'order_id', type: 'string', nullable: false },
        { name: 'customer_id', type: 'string' },
        { name: 'status', type: 'string' },
        { name: 'channel', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'placed_at', type: 'timestamp' },
      ],
      key: ['order_id'],
      eventTimeField: 'placed_at',
    },
    quality: [
      { rule: 'notNull', field: 'customer_id' },
      { rule: 'unique', fields: ['order_id'] },
      { rule: 'range', field: 'amount', min: 0, max: 10_000 },
      { rule: 'allowedValues', field: 'status', values: ['created', 'paid', 'shipped', 'cancelled'] },
    ],
  });
}

/** `count` order rows numbered from `from`: 50 k customers, 4 statuses, 3 channels, the last hour. */
const ALL_COLUMNS =
  'SELECT count(*), max(placed_at), sum(amount), max(length(order_id)), max(length(customer_id)), ' +
  'max(length(status)), max(length(channel)) FROM t';

const rowsSql = (spec: ProductSpec, from: number, count: number) =>
  `INSERT INTO ${lakeTableSql(spec)} SELECT 'o-' || i, 'c-' || (i % 50000), ` +
  `['created', 'paid', 'shipped', 'cancelled'][1 + i % 4], ['web', 'app', 'store'][1 + i % 3], ` +
  `(i % 1000) * 1.25, now() - to_milliseconds(i % 3600000) FROM range(${from}, ${from + count}) r(i)`;

async function main() {
  const config = await testPlatform();
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const log = createLogger('bench-analysis', 'warn');
  const kafka = createKafkaClient({ connection: config.kafka, clientId: 'bench-analysis' });
  const producer = kafka.producer();
  await producer.connect();
  const catalogTopic = `${MESHLOOP_TOPIC_PREFIX}catalog-bench-${suffix}`;
  const proposalsTopic = `${MESHLOOP_TOPIC_PREFIX}proposals-bench-${suffix}`;
  await ensureCatalogTopic(kafka, catalogTopic);
  const iceberg = new IcebergCatalogClient({ url: config.iceberg.catalogUrl });
  const extensionDir = await ensureDuckDbExtensions(config.stack.cacheDir);
  const resultsTable = {
    catalog: config.materialize.catalog,
    namespace: 'meshloop',
    name: `bench_results_${suffix}`,
  };
  const activities = createAnalysisCycleActivities({
    kafka,
    producer,
    log,
    iceberg,
    icebergConnection: config.iceberg,
    catalogName: config.materialize.catalog,
    extensionDir: () => Promise.resolve(extensionDir),
    meshFile: config.meshFile,
    sqlGuard: {
      gateway: new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, headers: config.flink.headers }),
      connectors: config.flink,
    },
    catalogTopic,
    proposalsTopic,
    resultsTable,
  });

  const figures: Array<{
    rows: number;
    cycleMs: number;
    scanMs: number;
    proposeMs: number;
    fullScanMs: number;
    checksMs: number;
    scanAloneMs: number;
  }> = [];
  const cleanup: ProductSpec[] = [];
  for (const size of sizes) {
    const spec = specFor(`bench_${suffix}_${size}`);
    cleanup.push(spec);
    const productId = productIdOf(spec);
    const ref = productTableOf(productId, config.materialize.catalog);
    await createProductTable(config, spec);
    await publishProduct(producer, spec, 'active', catalogTopic);
    const writer = await openLakeWriter(config);
    let total = size;
    const began = Date.now();
    await writer.connection.run(rowsSql(spec, 0, size));
    out(`\n${productId}: ${size} rows written in ${Date.now() - began} ms`);
    // The first cycle: no previous snapshot yet (untimed); later cycles compare with it.
    await activities.runAnalysisCycle({ productId, cycleKey: `bench-${size}-0` });

    const cycles: number[] = [];
    const scans: number[] = [];
    const fullScans: number[] = [];
    const timedQuery = async (sql: string) => {
      const t = performance.now();
      const loaded = await iceberg.loadTable({ namespace: [ref.namespace], name: ref.name });
      const lake = await IcebergLake.open({
        extensionDir,
        catalog: config.iceberg,
        tables: [{ ref, location: loaded.metadata.location }],
      });
      try {
        await lake.query(sql, { table: ref, maxRows: 1 });
      } finally {
        lake.close();
      }
      return performance.now() - t;
    };
    let last;
    for (let i = 1; i <= repeat; i++) {
      const more = Math.max(1, Math.round(size / 100));
      await writer.connection.run(rowsSql(spec, total, more));
      total += more;
      const t = performance.now();
      last = await activities.runAnalysisCycle({ productId, cycleKey: `bench-${size}-${i}` });
      cycles.push(performance.now() - t);
      scans.push(await timedQuery('SELECT count(*) AS n, max(placed_at) AS newest FROM t'));
      fullScans.push(await timedQuery(ALL_COLUMNS));
    }
    writer.close();

    // The DuckDB work alone, on one open reader: the checks against the scan.
    const loaded = await iceberg.loadTable({ namespace: [ref.namespace], name: ref.name });
    const snapshots = loaded.snapshots;
    const current = snapshots[snapshots.length - 1];
    const previous = snapshots[snapshots.length - 2];
    if (!current || !previous) throw new Error('two snapshots expected');
    const lake = await IcebergLake.open({
      extensionDir,
      catalog: config.iceberg,
      tables: [{ ref, location: loaded.metadata.location }],
    });
    const checks: number[] = [];
    const scansAlone: number[] = [];
    try {
      for (let i = 0; i < repeat; i++) {
        let t = performance.now();
        await measureCycle({
          lake,
          table: ref,
          spec,
          cycleKey: `bench-alone-${i}`,
          snapshot: current,
          past: [{ cycleKey: 'previous', snapshotId: previous.snapshotId, rows: 0, at: '' }],
          snapshotIds: new Set(snapshots.map((s) => s.snapshotId)),
          now: new Date(),
        });
        checks.push(performance.now() - t);
        t = performance.now();
        await lake.query(ALL_COLUMNS, { table: ref, snapshotId: current.snapshotId, maxRows: 1 });
        scansAlone.push(performance.now() - t);
      }
    } finally {
      lake.close();
    }
    out(
      `  checks alone ${median(checks).toFixed(0)} ms, all-column scan alone ${median(scansAlone).toFixed(0)} ms: ` +
        `${(median(checks) / median(scansAlone)).toFixed(1)}× the scan`,
    );
    if (last?.outcome !== 'pass' || last.rows !== total)
      throw new Error(`the cycle did not see a clean table of ${total} rows: ${JSON.stringify(last)}`);
    const t = performance.now();
    const proposed = await activities.proposeFromAnalysis({
      productId,
      cycleKey: `bench-${size}-${repeat}`,
      snapshotId: last.snapshotId as string,
    });
    const proposeMs = performance.now() - t;
    figures.push({
      rows: total,
      cycleMs: median(cycles),
      scanMs: median(scans),
      fullScanMs: median(fullScans),
      checksMs: median(checks),
      scanAloneMs: median(scansAlone),
      proposeMs,
    });
    out(
      `  cycle ${median(cycles).toFixed(0)} ms (runs ${cycles.map((c) => c.toFixed(0)).join(', ')}), ` +
        `count/max ${median(scans).toFixed(0)} ms (runs ${scans.map((c) => c.toFixed(0)).join(', ')}), ` +
        `all-column scan ${median(fullScans).toFixed(0)} ms (runs ${fullScans.map((c) => c.toFixed(0)).join(', ')}); ` +
        `findings ${JSON.stringify(last.findings)}`,
    );
    out(
      `  proposeFromAnalysis ${proposeMs.toFixed(0)} ms, ${proposed.starts.length} proposals (SQL guard included)`,
    );
  }

  out(
    '\nrows        cycle ms   count/max ms   all-column scan ms   cycle / scan   checks alone ms   scan alone ms   propose ms',
  );
  for (const f of figures)
    out(
      `${String(f.rows).padEnd(11)} ${f.cycleMs.toFixed(0).padStart(8)}   ${f.scanMs.toFixed(0).padStart(12)}   ` +
        `${f.fullScanMs.toFixed(0).padStart(18)}   ${(f.cycleMs / f.fullScanMs).toFixed(1).padStart(11)}×   ` +
        `${f.checksMs.toFixed(0).padStart(15)}   ${f.scanAloneMs.toFixed(0).padStart(13)}   ${f.proposeMs.toFixed(0).padStart(10)}`,
    );
  const [small, large] = [figures[0], figures[figures.length - 1]];
  if (small && large && small !== large) {
    out(
      `\nfrom ${small.rows} to ${large.rows} rows (${(large.rows / small.rows).toFixed(1)}×): the cycle takes ` +
        `${(large.cycleMs / small.cycleMs).toFixed(1)}× longer, count/max ${(large.scanMs / small.scanMs).toFixed(1)}×, ` +
        `the all-column scan ${(large.fullScanMs / small.fullScanMs).toFixed(1)}×; the checks alone ` +
        `${(large.checksMs / small.checksMs).toFixed(1)}×, the scan alone ${(large.scanAloneMs / small.scanAloneMs).toFixed(1)}×`,
    );
  }

  for (const spec of cleanup) {
    await iceberg
      .dropTable({ namespace: [spec.domain], name: spec.name }, { purge: true })
      .catch(() => undefined);
  }
  await iceberg
    .dropTable({ namespace: ['meshloop'], name: resultsTable.name }, { purge: true })
    .catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [catalogTopic, proposalsTopic] }).catch(() => undefined);
  await admin.disconnect();
  await producer.disconnect();
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

import assert from 'node:assert/strict';
import path from 'node:path';
import type { CycleMeasurement } from '../../src/analysis/cycle';
import { ConfigError, loadConfig, projectRoot } from '../../src/config';
import { LineageEmitter, qualityOf } from '../../src/lineage/emitter';
import { createLogger } from '../../src/log';
import type { LineageNaming } from '../../src/lineage/events';
import {
  columnLineageFacet,
  eventTypeOfJobState,
  FACET_SCHEMAS,
  icebergDataset,
  icebergDatasetId,
  kafkaDatasetId,
  runEvent,
  stableRunId,
} from '../../src/lineage/events';

const naming: LineageNaming = {
  namespace: 'meshloop',
  producer: 'https://github.com/meshloop/meshloop',
  kafkaBootstrap: 'broker-1:9092',
  iceberg: { catalogUri: 'http://127.0.0.1:8181', catalogName: 'lake', warehouse: 's3://lake/warehouse' },
};

describe('OpenLineage events (pure)', () => {
  it('run ids: a UUID the same parts always give, another for other parts', () => {
    const id = stableRunId('creation', 'orders.paid', 1, 'a'.repeat(32));
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(stableRunId('creation', 'orders.paid', 1, 'a'.repeat(32)), id);
    assert.notEqual(stableRunId('creation', 'orders.paid', 2, 'a'.repeat(32)), id);
    assert.notEqual(stableRunId('creation', 'orders.paid', 1, 'b'.repeat(32)), id);
    // Parts are separated, not concatenated: ('ab', 'c') is not ('a', 'bc').
    assert.notEqual(stableRunId('ab', 'c'), stableRunId('a', 'bc'));
  });

  it('Kafka datasets: kafka://{bootstrap host}:{port} and the topic', () => {
    assert.deepEqual(kafkaDatasetId(naming, 'orders.orders'), {
      namespace: 'kafka://broker-1:9092',
      name: 'orders.orders',
    });
  });

  it('Iceberg datasets: named by their location (s3 bucket + key, file + path), else by the catalog', () => {
    const table = { namespace: 'orders', name: 'paid' };
    assert.deepEqual(icebergDatasetId(naming, table, 's3://lake/warehouse/orders/paid'), {
      namespace: 's3://lake',
      name: 'warehouse/orders/paid',
    });
    assert.deepEqual(icebergDatasetId(naming, table, 's3a://lake/w/orders/paid').namespace, 's3://lake');
    assert.deepEqual(icebergDatasetId(naming, table, 'file:/tmp/wh/orders/paid'), {
      namespace: 'file',
      name: '/tmp/wh/orders/paid',
    });
    assert.deepEqual(icebergDatasetId(naming, table, '/tmp/wh/orders/paid'), {
      namespace: 'file',
      name: '/tmp/wh/orders/paid',
    });
    assert.deepEqual(icebergDatasetId(naming, table, undefined), {
      namespace: 'http://127.0.0.1:8181',
      name: 'orders.paid',
    });
    const dataset = icebergDataset(naming, table, 's3://lake/warehouse/orders/paid', [
      { name: 'id', type: 'string' },
    ]);
    assert.deepEqual(dataset.facets.symlinks?.identifiers, [
      { namespace: 'http://127.0.0.1:8181', name: 'orders.paid', type: 'TABLE' },
    ]);
    assert.equal(dataset.facets.catalog?.warehouseUri, 's3://lake/warehouse');
    // Named by the catalog already: no symlink to itself.
    assert.equal(icebergDataset(naming, table, undefined, []).facets.symlinks, undefined);
  });

  it('column lineage: each origin resolved through its input alias; an unknown alias is left out, never guessed', () => {
    const facet = columnLineageFacet(
      naming,
      [
        { column: 'id', from: [{ input: 'o', field: 'order_id' }] },
        {
          column: 'both',
          from: [
            { input: 'o', field: 'order_id' },
            { input: 'p', field: 'payment_id' },
            { input: 'x', field: 'ghost' },
          ],
        },
      ],
      new Map([
        ['o', { namespace: 'kafka://b:1', name: 'orders' }],
        ['p', { namespace: 'kafka://b:1', name: 'payments' }],
      ]),
    );
    assert.equal(facet._schemaURL, FACET_SCHEMAS.columnLineage);
    assert.deepEqual(facet.fields, {
      id: { inputFields: [{ namespace: 'kafka://b:1', name: 'orders', field: 'order_id' }] },
      both: {
        inputFields: [
          { namespace: 'kafka://b:1', name: 'orders', field: 'order_id' },
          { namespace: 'kafka://b:1', name: 'payments', field: 'payment_id' },
        ],
      },
    });
  });

  it('materialization runs: a Flink job per deployment; a Tableflow topic (no job id) per revision', () => {
    const emitter = new LineageEmitter({
      naming,
      transport: { counts: { sent: 0, failed: 0 }, send: () => Promise.resolve(true) },
      log: createLogger('lineage-unit', 'error'),
    });
    const flink = { productId: 'orders.paid', revision: 1, provider: 'flink', topic: 'orders.paid' } as const;
    assert.notEqual(emitter.materializationRunId(flink, 'a'), emitter.materializationRunId(flink, 'b'));
    const tableflow = { ...flink, provider: 'tableflow' } as const;
    assert.equal(
      emitter.materializationRunId(tableflow, undefined),
      emitter.materializationRunId(tableflow, 'x'),
    );
    assert.notEqual(
      emitter.materializationRunId(tableflow, undefined),
      emitter.materializationRunId({ ...tableflow, revision: 2 }, undefined),
    );
  });

  it('records read per input: a joined job’s metric list is remembered only once every input’s source has its metric', async () => {
    const sent: Array<Array<number | undefined>> = [];
    // Flink as a joined job shows it while starting: the writer and the orders source have
    // registered their metrics, the payments source not yet; on the next look it has.
    const registered = {
      orders: ['Source__meshloop_source_orders[1].numRecordsIn'],
      payments: [] as string[],
      sink: ['meshloop_sink[4]__Writer.numRecordsSend'],
    };
    const rest = {
      job: () => Promise.resolve({ vertices: [{ id: 'orders' }, { id: 'payments' }, { id: 'sink' }] }),
      vertexMetricIds: (_job: string, vertex: keyof typeof registered) => Promise.resolve(registered[vertex]),
      vertexMetricSums: (_job: string, _vertex: string, ids: readonly string[]) =>
        Promise.resolve(Object.fromEntries(ids.map((id) => [id, id.includes('orders') ? 306 : 94]))),
    };
    const emitter = new LineageEmitter({
      naming,
      transport: {
        counts: { sent: 0, failed: 0 },
        send: (event) => {
          sent.push([
            ...event.inputs.map((d) => d.inputFacets?.inputStatistics?.rowCount as number | undefined),
            event.outputs[0]?.outputFacets?.outputStatistics?.rowCount as number | undefined,
          ]);
          return Promise.resolve(true);
        },
      },
      log: createLogger('lineage-unit', 'error'),
      flinkRest: rest as never,
    });
    const run = {
      productId: 'orders.paid',
      revision: 1,
      spec: { outputTopic: { name: 'orders.paid' }, schema: { fields: [], key: [] }, sql: '' } as never,
      bindings: ['orders', 'payments'].map((alias) => ({ alias, topic: alias, fields: [] })),
      lineage: [],
    };
    const running = {
      state: 'RUNNING' as const,
      jobId: 'a'.repeat(32),
      waitingForSlot: false,
      restarts: 0,
      rejectedRecords: 0,
    };
    await emitter.creationLooked(run, running);
    registered.payments = ['Source__meshloop_source_payments[2].numRecordsIn'];
    await emitter.creationLooked(run, running);
    assert.deepEqual(sent, [
      [306, undefined, 94],
      [306, 94, 94],
    ]);
  });

  it('job states: RUNNING, FAILED → FAIL, FINISHED → COMPLETE, CANCELED → ABORT; others say nothing', () => {
    assert.deepEqual(
      ['RUNNING', 'FAILED', 'FINISHED', 'CANCELED', 'RESTARTING', 'INITIALIZING', 'NOT_FOUND'].map(
        eventTypeOfJobState,
      ),
      ['RUNNING', 'FAIL', 'COMPLETE', 'ABORT', undefined, undefined, undefined],
    );
  });

  it('an event leaves out empty facet maps and names the job in the configured namespace', () => {
    const event = runEvent(naming, {
      eventType: 'START',
      eventTime: new Date('2026-12-05T10:00:00Z'),
      runId: stableRunId('x'),
      jobName: 'orders.paid.creation',
      runFacets: {},
    });
    assert.deepEqual(event.run, { runId: stableRunId('x') });
    assert.deepEqual(event.job, { namespace: 'meshloop', name: 'orders.paid.creation' });
    assert.equal(event.eventTime, '2026-12-05T10:00:00.000Z');
  });

  it('quality: one assertion per rule (failed when rows fail), freshness, volume with history; metrics per column', () => {
    const measurement = {
      productId: 'orders.paid',
      cycleKey: 'c1',
      snapshotId: '1',
      at: '2026-12-05T10:00:00Z',
      rows: 10,
      rules: [
        { rule: 'notNull:payment_id', failing: 0, examples: [] },
        { rule: 'unique:order_id', failing: 2, examples: ['a'] },
      ],
      uncheckable: [],
      freshness: { outcome: 'fail', limitMs: 1, basis: 'lastCommit', summary: 'stale by 3h' },
      volume: { outcome: 'insufficientHistory', added: 10, summary: 'first cycles' },
      drift: { findings: [] },
      profile: {
        snapshotId: '1',
        rows: 10,
        fields: [{ name: 'payment_id', type: 'string', rows: 10, nulls: 0, distinct: 10 }],
      },
    } as unknown as CycleMeasurement;
    const outcome = {
      productId: 'orders.paid',
      cycleKey: 'c1',
      snapshotId: '1',
      at: '2026-12-05T10:00:00Z',
      outcome: 'breach' as const,
      rows: 10,
      breaches: [{ rule: 'unique:order_id', failing: 2, examples: ['a'], summary: '2 rows' }],
      findings: [],
    };
    const { assertions, metrics } = qualityOf(outcome, measurement);
    assert.deepEqual(assertions, [
      { assertion: 'notNull:payment_id', success: true, column: 'payment_id', actual: '0' },
      { assertion: 'unique:order_id', success: false, actual: '2' },
      { assertion: 'freshness', success: false, description: 'stale by 3h' },
    ]);
    assert.deepEqual(metrics, { rowCount: 10, columns: { payment_id: { nullCount: 0, distinctCount: 10 } } });
    // Without a measurement (a cycle without data): the breaches the summary names.
    assert.deepEqual(qualityOf(outcome, undefined).assertions, [
      { assertion: 'unique:order_id', success: false, description: '2 rows', actual: '2' },
    ]);
  });
});

describe('OpenLineage settings', () => {
  const env = (extra: Record<string, string>) => ({ HOME: process.env.HOME ?? '/tmp', ...extra });
  const problemsOf = (extra: Record<string, string>) => {
    try {
      loadConfig(env(extra));
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.filter((p) => p.includes('OPENLINEAGE'));
      throw error;
    }
    return [];
  };

  it('off unless an endpoint or a file is set; the namespace defaults to meshloop', () => {
    assert.equal(loadConfig(env({})).lineage, undefined);
    assert.deepEqual(
      loadConfig(env({ MESHLOOP_OPENLINEAGE_URL: 'http://marquez:5000/api/v1/lineage' })).lineage,
      {
        namespace: 'meshloop',
        url: 'http://marquez:5000/api/v1/lineage',
      },
    );
    assert.deepEqual(
      loadConfig(
        env({
          MESHLOOP_OPENLINEAGE_URL: 'https://lineage.example/api/v1/lineage',
          MESHLOOP_OPENLINEAGE_API_KEY: 'k',
          MESHLOOP_OPENLINEAGE_NAMESPACE: 'mesh-prod',
        }),
      ).lineage,
      { namespace: 'mesh-prod', url: 'https://lineage.example/api/v1/lineage', apiKey: 'k' },
    );
    assert.deepEqual(loadConfig(env({ MESHLOOP_OPENLINEAGE_FILE: 'data/lineage.jsonl' })).lineage, {
      namespace: 'meshloop',
      file: path.resolve(projectRoot, 'data/lineage.jsonl'),
    });
  });

  it('refuses both at once, a key without an endpoint, a URL that is not http(s), a bad namespace', () => {
    assert.equal(
      problemsOf({ MESHLOOP_OPENLINEAGE_URL: 'http://m:5000/api/v1/lineage', MESHLOOP_OPENLINEAGE_FILE: 'x' })
        .length,
      1,
    );
    assert.match(problemsOf({ MESHLOOP_OPENLINEAGE_API_KEY: 'k' })[0] ?? '', /set the URL too/);
    assert.match(
      problemsOf({ MESHLOOP_OPENLINEAGE_URL: 'ftp://m/x' })[0] ?? '',
      /^MESHLOOP_OPENLINEAGE_URL: /,
    );
    assert.match(
      problemsOf({ MESHLOOP_OPENLINEAGE_NAMESPACE: 'a b' })[0] ?? '',
      /^MESHLOOP_OPENLINEAGE_NAMESPACE: /,
    );
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { runAnalysisNow } from '../../src/cli/analysis-commands';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { parseSpec } from '../../src/domain/spec';
import { LineageEmitter } from '../../src/lineage';
import type { RunEvent } from '../../src/lineage/events';
import { MESHLOOP_PRODUCER, stableRunId } from '../../src/lineage/events';
import { FileLineageTransport, HttpLineageTransport } from '../../src/lineage/transport';
import { createLogger } from '../../src/log';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import type { OpenLineageSchema } from '../helpers/openlineage-schema';
import { openLineageSchema, schemaProblems, unvalidatedFacets } from '../helpers/openlineage-schema';
import { testPlatform } from '../helpers/platform';
import { committedCount } from '../helpers/topic-records';

/** An HTTP endpoint on 127.0.0.1 that takes events as Marquez does, answering as it is told. */
class Collector {
  readonly events: RunEvent[] = [];
  readonly requests: Array<{ path: string; authorization?: string; contentType?: string }> = [];
  /** Status codes to answer next (then 201). */
  readonly answers: number[] = [];
  private server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      this.requests.push({
        path: request.url ?? '',
        ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
        ...(request.headers['content-type'] ? { contentType: request.headers['content-type'] } : {}),
      });
      const status = this.answers.shift() ?? 201;
      if (status === 201 && request.method === 'POST') this.events.push(JSON.parse(body) as RunEvent);
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(status === 201 ? '' : `refused with ${status}`);
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1/lineage`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  of(job: string, type?: RunEvent['eventType']): RunEvent[] {
    return this.events.filter((e) => e.job.name === job && (!type || e.eventType === type));
  }
}

const seedPrefix = `ol${randomUUID().slice(0, 8)}.`;
const ordersTopic = `${seedPrefix}orders.orders`;
const paymentsTopic = `${seedPrefix}payments.payments`;

/**
 * OpenLineage events of a real product's life on the real platform, through the real worker with
 * MESHLOOP_OPENLINEAGE_URL set to an HTTP endpoint in this test: a joined product (orders ⋈
 * payments) is approved, runs, is analysed and retires. Every event is validated against the
 * schema of openlineage-python (PyPI); names, run ids, progress, quality facets and the column
 * lineage are checked against what happened.
 */
describe('OpenLineage events of product jobs and analysis cycles (real worker, real platform)', function () {
  this.timeout(600_000);
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let schema: OpenLineageSchema;
  const collector = new Collector();
  const taskQueue = `lineage-${randomUUID()}`;
  const log = createLogger('lineage-test', 'error');
  let seeded: Readonly<Record<string, number>> = {};

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    schema = await openLineageSchema(config.stack.cacheDir);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'lineage-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    seeded = (await seedKafka(kafka, { count: 400, topicPrefix: seedPrefix, only: ['orders', 'payments'] }))
      .byTopic;
    await collector.start();
    // The job and table are looked at every 2 s (the default is a minute): RUNNING events come soon.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-lineage-'));
    const meshFile = path.join(dir, 'mesh.yaml');
    await fs.writeFile(
      meshFile,
      (await fs.readFile(config.meshFile, 'utf8')).replace(
        /^defaults:\n/m,
        'defaults:\n  jobWatchInterval: 2s\n',
      ),
    );
    worker = await startOrchestrationWorker(
      { ...config, meshFile, lineage: { namespace: 'meshloop', url: collector.url, apiKey: 'test-key' } },
      log,
      { taskQueue },
    );
  });

  after(async () => {
    await worker?.shutdown();
    await connection?.close();
    await collector.stop();
  });

  function joinedSpec() {
    const name = `paid_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
    const spec = parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders with the payment made within an hour of each, for payment analysis.',
      kind: 'consumer-aligned',
      inputs: [
        {
          topic: ordersTopic,
          as: 'orders',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'customer_id', type: 'string' },
              { name: 'total_amount', type: 'double' },
              { name: 'order_ts', type: 'timestamp' },
            ],
            eventTimeField: 'order_ts',
          },
        },
        {
          topic: paymentsTopic,
          as: 'payments',
          schema: {
            fields: [
              { name: 'payment_id', type: 'string' },
              { name: 'order_id', type: 'string' },
              { name: 'method', type: 'string' },
              { name: 'paid_at', type: 'timestamp' },
            ],
            eventTimeField: 'paid_at',
          },
        },
      ],
      sql: `SELECT o.order_id, o.customer_id, o.total_amount, p.payment_id, p.\`method\`, p.paid_at,
       CONCAT(o.order_id, '/', p.payment_id) AS order_payment
FROM orders AS o
JOIN payments AS p
  ON o.order_id = p.order_id
 AND p.paid_at BETWEEN o.order_ts - INTERVAL '1' HOUR AND o.order_ts + INTERVAL '1' HOUR`,
      outputTopic: { partitions: 1, retentionMs: 86_400_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false, description: 'the order paid' },
          { name: 'customer_id', type: 'string' },
          { name: 'total_amount', type: 'double' },
          { name: 'payment_id', type: 'string' },
          { name: 'method', type: 'string' },
          { name: 'paid_at', type: 'timestamp', nullable: false },
          { name: 'order_payment', type: 'string' },
        ],
        key: ['order_id'],
        eventTimeField: 'paid_at',
      },
      quality: [
        { rule: 'notNull', field: 'payment_id' },
        { rule: 'range', field: 'total_amount', min: 0 },
      ],
      materialization: { commitInterval: '2s', errorMode: 'log' },
      // Seeded events are dated in the past: the SLA would breach; the quality rules are what is checked.
      sla: { freshness: '100000h' },
      tags: ['test'],
    });
    return { productId: `orders.${name}`, spec };
  }

  it('a joined product: START, RUNNING with records, an analysis cycle with its quality results, ABORT on retirement; every event valid, column lineage field by field', async () => {
    const { productId, spec } = joinedSpec();
    const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
    const handle = client.workflow.getHandle(workflowId);
    const statusWhen = async (ready: (s: ProductStatus) => boolean, what: string) => {
      let last: ProductStatus | undefined;
      const outcome = await waitUntil(async () => ready((last = await handle.query(getStatusQuery))), {
        timeoutMs: 180_000,
        intervalMs: 300,
      });
      assert.equal(outcome, 'ready', `${what}; last: ${JSON.stringify([last?.stage, last?.lastError])}`);
      return last!;
    };
    await statusWhen((s) => s.stage === 'awaitingApproval', 'awaiting approval');
    await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const active = await statusWhen((s) => s.stage === 'active', 'active');
    const jobId = active.job?.id ?? '';
    assert.match(jobId, /^[0-9a-f]{32}$/);

    const creation = `${productId}.creation`;
    const materialization = `${productId}.materialization`;
    const analysis = `${productId}.analysis`;
    // Progress: the watch looks every 2 s; wait for a RUNNING event that counts written records.
    /** The collector's events so far, as a probe for waitUntil. */
    const seen = (test: () => boolean) => () => Promise.resolve(test());
    const written = (e: RunEvent) =>
      e.outputs[0]?.outputFacets?.outputStatistics?.rowCount as number | undefined;
    assert.equal(
      await waitUntil(
        seen(() => collector.of(creation, 'RUNNING').some((e) => (written(e) ?? 0) > 0)),
        {
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      ),
      'ready',
      `a creation RUNNING event with records written; got ${JSON.stringify(collector.of(creation, 'RUNNING').map(written))}`,
    );
    assert.equal(
      await waitUntil(
        seen(() => collector.of(materialization, 'RUNNING').some((e) => (written(e) ?? 0) > 0)),
        {
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      ),
      'ready',
      'a materialization RUNNING event with the table’s rows',
    );

    // Once the job has read everything: records read per input and written are what Kafka holds.
    const inTopic = () => committedCount(kafka, productId);
    const progressOf = (e: RunEvent) => [
      ...e.inputs.map((d) => d.inputFacets?.inputStatistics?.rowCount as number | undefined),
      written(e),
    ];
    let lastProgress: unknown[] = [];
    let expectedProgress: unknown[] = [];
    const caughtUp = await waitUntil(
      async () => {
        expectedProgress = [seeded[ordersTopic], seeded[paymentsTopic], await inTopic()];
        lastProgress = progressOf(collector.of(creation, 'RUNNING').at(-1)!);
        return JSON.stringify(lastProgress) === JSON.stringify(expectedProgress);
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    assert.equal(
      caughtUp,
      'ready',
      `records read per input and written: ${JSON.stringify(lastProgress)}, Kafka holds ${JSON.stringify(expectedProgress)}`,
    );
    assert.ok((expectedProgress[2] as number) > 0, 'the join wrote records');

    const { result } = await runAnalysisNow(client, { productId, taskQueue, progress: () => undefined });
    assert.notEqual(result.summary.outcome, 'noData', JSON.stringify(result.summary));
    const cycleRun = stableRunId('analysis', productId, result.summary.cycleKey);
    assert.equal(
      await waitUntil(
        seen(() => collector.of(analysis, 'COMPLETE').some((e) => e.run.runId === cycleRun)),
        {
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      ),
      'ready',
    );

    await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
    const retired = (await handle.result()) as ProductStatus;
    assert.equal(retired.stage, 'retired');
    await waitUntil(
      seen(
        () => collector.of(creation, 'ABORT').length > 0 && collector.of(materialization, 'ABORT').length > 0,
      ),
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    // Every event, as the endpoint received it: valid, with every facet checked by its own schema.
    const mine = collector.events.filter((e) => e.job.name.startsWith(`${productId}.`));
    for (const event of mine) {
      assert.deepEqual(schemaProblems(schema, event), [], `${event.job.name} ${event.eventType}`);
      assert.deepEqual(unvalidatedFacets(schema, event), [], `${event.job.name} ${event.eventType}`);
      assert.equal(event.producer, MESHLOOP_PRODUCER);
      assert.equal(event.job.namespace, 'meshloop');
    }
    assert.ok(collector.requests.every((r) => r.authorization === 'Bearer test-key'));
    assert.ok(
      collector.requests.every((r) => r.path === '/api/v1/lineage' && r.contentType === 'application/json'),
    );

    // The creation job's run: START, RUNNING..., ABORT with one run id, derived from the deployment.
    const creationRun = stableRunId('creation', productId, 1, jobId);
    const creationEvents = collector.of(creation);
    assert.equal(creationEvents[0]?.eventType, 'START');
    assert.equal(creationEvents.at(-1)?.eventType, 'ABORT');
    assert.deepEqual([...new Set(creationEvents.map((e) => e.run.runId))], [creationRun]);
    assert.equal(creationEvents.filter((e) => e.eventType === 'ABORT').length, 1);
    assert.deepEqual(
      creationEvents.filter((e) => ['COMPLETE', 'FAIL'].includes(e.eventType)),
      [],
      'a retired job is aborted, not completed',
    );

    // Names: Kafka topics under kafka://<bootstrap>, the table by its location with its catalog name.
    const kafkaNs = `kafka://${config.kafka.brokers[0]}`;
    const start = creationEvents[0];
    assert.deepEqual(
      start.inputs.map((d) => [d.namespace, d.name]),
      [
        [kafkaNs, ordersTopic],
        [kafkaNs, paymentsTopic],
      ],
    );
    assert.deepEqual(
      start.outputs.map((d) => [d.namespace, d.name]),
      [[kafkaNs, productId]],
    );
    assert.deepEqual(
      (start.outputs[0]!.facets.schema as unknown as { fields: unknown[] }).fields,
      spec.schema.fields.map((f) => ({
        name: f.name,
        type: f.type,
        ...(f.description ? { description: f.description } : {}),
      })),
    );
    assert.deepEqual(
      (start.inputs[1]!.facets.schema as unknown as { fields: Array<{ name: string }> }).fields.map(
        (f) => f.name,
      ),
      ['payment_id', 'order_id', 'method', 'paid_at'],
    );
    assert.equal((start.job.facets?.sql as unknown as { query: string }).query, spec.sql);

    // Column lineage, field by field, as the SQL guard traced it through the join.
    const orders = (field: string) => ({ namespace: kafkaNs, name: ordersTopic, field });
    const payments = (field: string) => ({ namespace: kafkaNs, name: paymentsTopic, field });
    const lineage = (
      start.outputs[0]!.facets.columnLineage as unknown as {
        fields: Record<string, { inputFields: Array<{ namespace: string; name: string; field: string }> }>;
      }
    ).fields;
    const sorted = (fields: Array<{ name: string; field: string }>) =>
      [...fields].sort((a, b) => `${a.name}.${a.field}`.localeCompare(`${b.name}.${b.field}`));
    const expected: Record<string, Array<{ namespace: string; name: string; field: string }>> = {
      order_id: [orders('order_id')],
      customer_id: [orders('customer_id')],
      total_amount: [orders('total_amount')],
      payment_id: [payments('payment_id')],
      method: [payments('method')],
      paid_at: [payments('paid_at')],
      order_payment: [orders('order_id'), payments('payment_id')],
    };
    assert.deepEqual(Object.keys(lineage).sort(), Object.keys(expected).sort());
    for (const [column, origins] of Object.entries(expected)) {
      assert.deepEqual(sorted(lineage[column]!.inputFields), sorted(origins), column);
    }
    // RUNNING and ABORT carry the same lineage.
    assert.deepEqual(
      creationEvents.at(-1)!.outputs[0]!.facets.columnLineage,
      start.outputs[0]!.facets.columnLineage,
    );

    // The materialization: topic → table, the table named by its location, the catalog's name a symlink.
    const table = await IcebergCatalogClient.of(config.iceberg).loadTable({
      namespace: ['orders'],
      name: productId.split('.')[1]!,
    });
    const location = table.metadata.location;
    const matStart = collector.of(materialization, 'START')[0]!;
    assert.deepEqual(
      matStart.inputs.map((d) => [d.namespace, d.name]),
      [[kafkaNs, productId]],
    );
    const tableDataset = matStart.outputs[0]!;
    assert.deepEqual(
      [tableDataset.namespace, tableDataset.name],
      location.startsWith('s3')
        ? [
            location.replace(/^(s3[an]?:\/\/[^/]+).*$/, '$1').replace(/^s3[an]:/, 's3:'),
            location.replace(/^s3[an]?:\/\/[^/]+\//, ''),
          ]
        : ['file', location.replace(/^file:(\/\/)?/, '')],
    );
    assert.deepEqual((tableDataset.facets.symlinks as unknown as { identifiers: unknown[] }).identifiers, [
      { namespace: config.iceberg.catalogUrl, name: productId, type: 'TABLE' },
    ]);
    const identity = (
      tableDataset.facets.columnLineage as unknown as {
        fields: Record<string, { inputFields: unknown[] }>;
      }
    ).fields;
    assert.deepEqual(identity.payment_id?.inputFields, [
      { namespace: kafkaNs, name: productId, field: 'payment_id' },
    ]);
    const matRuns = new Set(collector.of(materialization).map((e) => e.run.runId));
    assert.equal(matRuns.size, 1, 'one run for the materialization');
    assert.equal(collector.of(materialization).at(-1)?.eventType, 'ABORT');

    // Progress only grows: records written by the job, rows of the (append) table.
    for (const job of [creation, materialization]) {
      const counts = collector
        .of(job, 'RUNNING')
        .map(written)
        .filter((n): n is number => n !== undefined);
      assert.deepEqual(
        counts,
        [...counts].sort((a, b) => a - b),
        `${job}: ${counts.join(', ')}`,
      );
    }

    // The analysis cycle: START then COMPLETE, the table an input with the cycle's quality results.
    const cycle = collector.of(analysis).filter((e) => e.run.runId === cycleRun);
    assert.deepEqual(
      cycle.map((e) => e.eventType),
      ['START', 'COMPLETE'],
    );
    const analysed = cycle[1]!.inputs[0]!;
    assert.deepEqual([analysed.namespace, analysed.name], [tableDataset.namespace, tableDataset.name]);
    const assertions = (
      analysed.inputFacets?.dataQualityAssertions as unknown as {
        assertions: Array<{ assertion: string; success: boolean; column?: string; actual?: string }>;
      }
    ).assertions;
    const byName = new Map(assertions.map((a) => [a.assertion, a]));
    assert.deepEqual(byName.get('notNull:payment_id'), {
      assertion: 'notNull:payment_id',
      success: true,
      column: 'payment_id',
      actual: '0',
    });
    assert.equal(byName.get('range:total_amount')?.column, 'total_amount');
    const breached = new Set(result.summary.breaches.map((b) => b.rule));
    for (const a of assertions.filter((a) => !['freshness', 'volume'].includes(a.assertion))) {
      assert.equal(a.success, !breached.has(a.assertion), a.assertion);
    }
    const metrics = analysed.inputFacets?.dataQualityMetrics as unknown as {
      rowCount: number;
      columnMetrics: Record<string, { nullCount: number; distinctCount: number }>;
    };
    assert.equal(metrics.rowCount, result.summary.rows);
    assert.equal(metrics.columnMetrics.payment_id?.nullCount, 0);
    // DuckDB's distinct count is an estimate: near the rows, one payment per row.
    const distinct = metrics.columnMetrics.payment_id?.distinctCount ?? 0;
    assert.ok(Math.abs(distinct - result.summary.rows) <= result.summary.rows * 0.1, `${distinct}`);
    // Kept for a look (docs/lineage.md shows events from this file).
    const dump = path.join(os.tmpdir(), 'meshloop-lineage-events.jsonl');
    await fs.writeFile(dump, mine.map((e) => JSON.stringify(e)).join('\n') + '\n');
    process.stdout.write(
      `      ${mine.length} events (in ${dump}); read ${JSON.stringify(expectedProgress.slice(0, 2))}, written ${String(expectedProgress[2])}, table rows ${result.summary.rows}\n`,
    );
  });

  it('transports: HTTP retries a 503 and gives up on a 400 at once, an unreachable endpoint is counted, never thrown; the file gets one event per line', async () => {
    const warnings: string[] = [];
    const quiet = createLogger('lineage-test', 'error');
    const logged = Object.assign(Object.create(quiet) as typeof quiet, {
      warn: (message: string) => warnings.push(message),
    });
    const event = {
      eventType: 'START',
      eventTime: new Date().toISOString(),
      producer: MESHLOOP_PRODUCER,
      schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
      run: { runId: stableRunId('transport', randomUUID()) },
      job: { namespace: 'meshloop', name: 'transport.test' },
      inputs: [],
      outputs: [],
    } as const satisfies RunEvent;
    const http1 = new HttpLineageTransport(collector.url, undefined, {
      log: logged,
      backoffMs: 10,
      attempts: 3,
    });
    const before = collector.requests.length;
    collector.answers.push(503, 503);
    assert.equal(await http1.send(event), true);
    assert.equal(collector.requests.length - before, 3, 'two 503s, then delivered');
    assert.equal(collector.requests.at(-1)?.authorization, undefined, 'no key, no Authorization header');
    collector.answers.push(400);
    assert.equal(await http1.send(event), false);
    assert.equal(collector.requests.length - before, 4, 'a 400 is not retried');
    assert.deepEqual(http1.counts, { sent: 1, failed: 1 });

    // Nothing listens there (a port this test just closed).
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gone = new HttpLineageTransport(`http://127.0.0.1:${port}/api/v1/lineage?token=secret`, 'k', {
      log: logged,
      backoffMs: 10,
    });
    assert.equal(await gone.send(event), false);
    assert.deepEqual(gone.counts, { sent: 0, failed: 1 });
    assert.equal(warnings.length, 2);

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-lineage-file-'));
    const file = path.join(dir, 'nested', 'events.jsonl');
    const toFile = new FileLineageTransport(file, { log: logged });
    await Promise.all([
      toFile.send(event),
      toFile.send({ ...event, eventType: 'RUNNING' }),
      toFile.send({ ...event, eventType: 'COMPLETE' }),
    ]);
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'each event ends with a newline');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as RunEvent).eventType),
      ['START', 'RUNNING', 'COMPLETE'],
    );
    for (const line of lines) assert.deepEqual(schemaProblems(schema, JSON.parse(line)), []);
  });

  it('the failure events are valid too: a failed job’s FAIL with Flink’s error, a failed cycle’s FAIL; a terminal event is sent once per run', async () => {
    const sent: RunEvent[] = [];
    const emitter = new LineageEmitter({
      naming: {
        namespace: 'meshloop',
        producer: MESHLOOP_PRODUCER,
        kafkaBootstrap: config.kafka.brokers[0]!,
        iceberg: { catalogUri: config.iceberg.catalogUrl, catalogName: 'lake' },
      },
      transport: {
        counts: { sent: 0, failed: 0 },
        send: (e) => {
          sent.push(e);
          return Promise.resolve(true);
        },
      },
      log,
    });
    const { productId, spec } = joinedSpec();
    const bindings = spec.inputs.map((input) => ({
      alias: input.as ?? '',
      topic: 'topic' in input ? input.topic : '',
      fields: 'topic' in input ? (input.schema?.fields ?? []) : [],
    }));
    const failed = {
      state: 'FAILED' as const,
      jobId: 'a'.repeat(32),
      failure: 'org.apache.flink.table.api.ValidationException: division by zero',
      waitingForSlot: false,
      restarts: 3,
      rejectedRecords: 0,
    };
    await emitter.creationLooked({ productId, revision: 2, spec, bindings }, failed);
    await emitter.creationLooked({ productId, revision: 2, spec, bindings }, failed);
    await emitter.cycleFailed(
      {
        productId,
        cycleKey: 'cycle-1',
        table: { catalog: 'lake', namespace: 'orders', name: productId.split('.')[1]! },
      },
      new Error('DuckDB could not read the snapshot'),
    );
    assert.deepEqual(
      sent.map((e) => `${e.job.name} ${e.eventType}`),
      [`${productId}.creation FAIL`, `${productId}.analysis FAIL`],
    );
    assert.equal(
      (sent[0]!.run.facets?.errorMessage as unknown as { message: string }).message,
      failed.failure,
    );
    assert.equal(sent[0]!.run.runId, stableRunId('creation', productId, 2, failed.jobId));
    for (const event of sent) {
      assert.deepEqual(schemaProblems(schema, event), [], `${event.job.name} ${event.eventType}`);
      assert.deepEqual(unvalidatedFacets(schema, event), []);
    }
    // And the schema does refuse what it should: a run id that is no UUID, a facet missing a field.
    assert.notDeepEqual(schemaProblems(schema, { ...sent[0], run: { runId: 'run-1' } }), []);
    const broken = {
      ...sent[0]!,
      run: {
        ...sent[0]!.run,
        facets: { errorMessage: { ...sent[0]!.run.facets!.errorMessage, programmingLanguage: undefined } },
      },
    };
    assert.notDeepEqual(schemaProblems(schema, JSON.parse(JSON.stringify(broken))), []);
  });
});

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { analysisScheduleIdOf } from '../../src/domain/analysis';
import { parseSpec, workflowIdOf } from '../../src/domain/spec';
import { staticSummaryOf } from '../../src/domain/workflow-details';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import type { analysisWorkflow } from '../../workflows/analysis';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import { launchChromium } from '../helpers/chromium';
import { testEnvironment, testPlatform } from '../helpers/platform';

const ordersTopic = `ob${randomUUID().slice(0, 8)}.orders.orders`;
const SEEDED = 200;

type Sample = Readonly<{ name: string; labels: Record<string, string>; value: number }>;

/** Prometheus' text format, as far as these checks need it: one sample a line. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line.trim());
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The one sample of `name` whose labels include `labels` (undefined when there is none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

/**
 * What the rest of a platform sees of a real run (issue 23, parts 3 and 4): a worker in its own
 * process (its Runtime serves Prometheus metrics on MESHLOOP_METRICS_PORT) runs a real product from
 * proposal to approval, its table and an analysis cycle; the endpoint's figures match what happened,
 * and the Temporal UI lists the product with its summary (a screenshot in headless Chromium).
 */
describe('metrics and the Temporal UI during a real run (real worker process, real platform)', function () {
  this.timeout(300_000);
  let config: MeshloopConfig;
  let connection: Connection;
  let client: Client;
  let worker: ChildProcess | undefined;
  let workerLog = '';
  let tmpDir: string;
  const taskQueue = `observability-${randomUUID()}`;
  const agent = `test-agent-${randomUUID().slice(0, 8)}`;
  const name = `ob_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const productId = `orders.${name}`;
  const metricsUrl = () => `http://127.0.0.1:${config.metrics.port}/metrics`;
  const scrape = async () => parseMetrics(await (await fetch(metricsUrl())).text());

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-observability-'));
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'observability-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    await seedKafka(kafka, {
      count: SEEDED,
      topicPrefix: ordersTopic.replace('orders.orders', ''),
      only: ['orders'],
    });
    worker = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, '..', 'helpers', 'metrics-worker.ts'), taskQueue],
      {
        env: testEnvironment(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    worker.stderr!.on('data', (chunk: Buffer) => (workerLog = (workerLog + chunk.toString()).slice(-4000)));
    const ready = new Promise<void>((resolve, reject) => {
      worker!.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      worker!.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${workerLog}`)));
    });
    await ready;
  });

  after(async () => {
    // The product and whatever its analysis proposed: every workflow still running on this queue.
    if (client) {
      const running = client.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
      });
      for await (const execution of running)
        await client.workflow
          .getHandle(execution.workflowId)
          .terminate('observability test done')
          .catch(() => undefined);
      // Retiring deletes the analysis schedule; a run cut short leaves it.
      await client.schedule
        .getHandle(analysisScheduleIdOf(productId))
        .delete()
        .catch(() => undefined);
    }
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
    await connection?.close();
  });

  it('serves the SDK metrics and Meshloop metrics that match an approved product, its table and a cycle', async () => {
    const before = await scrape();
    assert.ok(
      before.some((s) => s.name.startsWith('temporal_')),
      'the SDK serves its own metrics there',
    );
    const spec = parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders as placed, one event per order, for the metrics test.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: ordersTopic,
          as: 'orders',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'status', type: 'string' },
              { name: 'total_amount', type: 'double' },
              { name: 'order_ts', type: 'timestamp' },
            ],
            eventTimeField: 'order_ts',
          },
        },
      ],
      sql: 'SELECT order_id, status, total_amount AS amount, order_ts AS created_at FROM orders WHERE order_id IS NOT NULL',
      outputTopic: { partitions: 1, retentionMs: 86_400_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'status', type: 'string' },
          { name: 'amount', type: 'double' },
          { name: 'created_at', type: 'timestamp', nullable: false },
        ],
        key: ['order_id'],
        eventTimeField: 'created_at',
      },
      // Seeded amounts run from 5 to 500: every cycle passes.
      quality: [{ rule: 'range', field: 'amount', min: 0, max: 1000 }],
      sla: { freshness: '3650d' },
      materialization: { commitInterval: '2s', errorMode: 'log' },
      proposal: {
        proposedBy: { kind: 'agent', name: agent },
        reasoning: 'Orders are read by every team; a product makes them one contract.',
        evidence: [{ summary: `${SEEDED} orders seeded`, source: ordersTopic }],
        confidence: 0.9,
      },
      tags: ['test'],
    });
    const proposedAt = Date.now();
    const { workflowId } = await proposeProduct(client, config, spec, { taskQueue });
    const handle = client.workflow.getHandle(workflowId);
    const statusWhen = async (ready: (s: ProductStatus) => boolean, what: string) => {
      let last: ProductStatus | undefined;
      const outcome = await waitUntil(async () => ready((last = await handle.query(getStatusQuery))), {
        timeoutMs: 180_000,
        intervalMs: 300,
      });
      assert.equal(
        outcome,
        'ready',
        `${what}; last: ${JSON.stringify([last?.stage, last?.lastError])}; ${workerLog}`,
      );
      return last!;
    };
    await statusWhen((s) => s.stage === 'awaitingApproval', 'awaiting approval');
    const awaiting = await scrape();
    assert.equal(valueOf(awaiting, 'meshloop_proposals_total', { agent }), 1, 'one proposal by the agent');
    assert.equal(
      valueOf(awaiting, 'meshloop_proposal_decisions_total', { agent }),
      undefined,
      'not decided yet',
    );

    await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
    const decidedWithin = (Date.now() - proposedAt) / 1000;
    await statusWhen((s) => s.stage === 'active', 'active');
    // The first cycle comes by itself after the first commit; then one more, run here.
    await statusWhen((s) => (s.analysisCycles?.length ?? 0) > 0, 'the first cycle');
    const cycle = await client.workflow.execute<typeof analysisWorkflow>('analysisWorkflow', {
      taskQueue,
      workflowId: `analysis:${productId}-test-${randomUUID().slice(0, 8)}`,
      args: [{ productId }],
    });
    const status = await statusWhen(
      (s) => s.analysisCycles?.at(-1)?.cycleKey === cycle.summary.cycleKey,
      'the test cycle applied',
    );

    // The table's gauges follow what the workflow last saw of the table (it looks on a timer).
    let samples: Sample[] = [];
    let seen: ProductStatus = status;
    const matched = await waitUntil(
      async () => {
        seen = await handle.query(getStatusQuery);
        samples = await scrape();
        const table = seen.materialization?.status;
        return (
          table?.rowCount !== undefined &&
          valueOf(samples, 'meshloop_table_rows', { product: productId }) === table.rowCount &&
          valueOf(samples, 'meshloop_table_last_commit_timestamp_seconds', { product: productId }) ===
            Date.parse(table.lastCommitAt!) / 1000 &&
          (valueOf(samples, 'meshloop_products', { stage: seen.stage }) ?? 0) >= 1
        );
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const table = seen.materialization?.status;
    assert.equal(
      matched,
      'ready',
      `table gauges ${valueOf(samples, 'meshloop_table_rows', { product: productId })} rows vs ${table?.rowCount}; ` +
        `products ${seen.stage} ${valueOf(samples, 'meshloop_products', { stage: seen.stage })}`,
    );
    assert.ok((table?.rowCount ?? 0) > 0, 'the table holds rows');

    assert.equal(valueOf(samples, 'meshloop_proposals_total', { agent }), 1);
    assert.equal(valueOf(samples, 'meshloop_proposal_decisions_total', { agent, outcome: 'approved' }), 1);
    assert.equal(
      valueOf(samples, 'meshloop_proposal_decision_duration_seconds_count', { outcome: 'approved' }),
      1,
    );
    const waited = valueOf(samples, 'meshloop_proposal_decision_duration_seconds_sum', {
      outcome: 'approved',
    })!;
    assert.ok(
      waited > 0 && waited <= decidedWithin + 1,
      `decided after ${waited} s (within ${decidedWithin} s)`,
    );
    // Every cycle this worker ran for the product, by outcome: the ones it applied (none failed here).
    const cycles = seen.analysisCycles ?? [];
    for (const outcome of ['pass', 'breach', 'noData']) {
      const ran = cycles.filter((c) => c.outcome === outcome).length;
      assert.equal(
        valueOf(samples, 'meshloop_analysis_cycles_total', { product: productId, outcome }) ?? 0,
        ran,
        `${outcome} cycles`,
      );
    }
    assert.equal(
      valueOf(samples, 'meshloop_analysis_cycles_total', { product: productId, outcome: 'failed' }),
      undefined,
    );
    assert.equal(
      valueOf(samples, 'meshloop_analysis_cycle_duration_seconds_count', {}),
      cycles.length,
      'one duration per cycle',
    );
    // The SDK's own, for this worker's task queue: workflow tasks and activities ran.
    assert.ok(
      (valueOf(samples, 'temporal_workflow_task_execution_latency_seconds_count', {
        task_queue: taskQueue,
      }) ?? 0) > 0,
      'the SDK counts the workflow tasks it ran',
    );
    assert.ok(
      (valueOf(samples, 'temporal_activity_execution_latency_seconds_count', { task_queue: taskQueue }) ??
        0) > 0,
      'the SDK counts the activities it ran',
    );
    // No job restarts, no rejected records in this run.
    assert.equal(valueOf(samples, 'meshloop_job_restarts_total', { product: productId }), undefined);
    await fs.writeFile(path.join(tmpDir, 'metrics.txt'), await (await fetch(metricsUrl())).text());
  });

  it('the Temporal UI lists the product with its summary, and its current details say where it stands', async () => {
    const handle = client.workflow.getHandle(workflowIdOf(productId));
    const description = await handle.describe();
    const summary = (await description.staticSummary()) ?? '';
    assert.equal(summary, `${productId} · source-aligned · owner alice`);
    assert.equal(summary, staticSummaryOf(parseSpec((await handle.query(getStatusQuery)).spec)));
    assert.match((await description.staticDetails()) ?? '', new RegExp(`proposed by agent ${agent}`));
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /\*\*Stage:\*\* active/);
    assert.match(metadata.currentDetails ?? '', /\*\*Last decision:\*\* /);
    assert.match(metadata.currentDetails ?? '', /\*\*Table:\*\* .* \d+ rows, last commit /);
    assert.match(metadata.currentDetails ?? '', /\*\*Last analysis:\*\* /);

    // Temporal UI 2.54's workflow list has no Summary column (its rows come from visibility, which
    // holds no user metadata): the list finds the product, its page (User Metadata) shows the
    // summary, the static details and the current details.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const workflowId = workflowIdOf(productId);
      const query = encodeURIComponent(`WorkflowId="${workflowId}"`);
      await page.goto(
        `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows?query=${query}`,
      );
      const link = page.getByRole('link', { name: workflowId, exact: true }).first();
      await link.waitFor({ timeout: 60_000 });
      const listPng = path.join(tmpDir, 'workflow-list.png');
      await page.screenshot({ path: listPng, fullPage: true });
      await link.click();
      // UI 2.54 shows the summary, details and current details under the page's "User Metadata" tab.
      await page.getByText('User Metadata', { exact: true }).first().click({ timeout: 60_000 });
      // The UI renders each markdown field in a frame of its own: read every frame's text.
      const pageText = async () =>
        (
          await Promise.all(
            page.frames().map((frame) =>
              frame
                .locator('body')
                .innerText({ timeout: 5000 })
                .catch(() => ''),
            ),
          )
        ).join('\n');
      let text = '';
      const shown = await waitUntil(
        async () => {
          text = await pageText();
          return text.includes(summary) && /Stage:\s*active/.test(text);
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      const png = path.join(tmpDir, 'workflow-summary.png');
      await page.screenshot({ path: png, fullPage: true });
      process.stderr.write(`      [observability] screenshots: ${listPng}, ${png}\n`);
      assert.equal(shown, 'ready', `the workflow's page shows the summary and details (see ${png})`);
      assert.ok(text.includes(summary), `the summary '${summary}' is on the page`);
      assert.match(text, /Stage:\s*active/, `the current details are on the page (see ${png})`);
      assert.match(text, new RegExp(`proposed by agent ${agent}`), 'the static details are on the page');
    } finally {
      await browser.close();
    }
    await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true }] });
  });
});

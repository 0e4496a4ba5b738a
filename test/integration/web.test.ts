import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { ensureDuckDbExtensions } from '../../src/adapters/duckdb/extensions';
import { IcebergLakeWriter } from '../../src/adapters/duckdb/lake-writer';
import { IcebergCatalogClient } from '../../src/adapters/iceberg';
import { ensureCatalogTopic, publishCatalogRecord } from '../../src/adapters/kafka/catalog';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { noDataOutcome, resultRowsOf } from '../../src/analysis/cycle';
import { AnalysisResultsTable, ensureResultsTable } from '../../src/analysis/results-table';
import type { MeshloopConfig } from '../../src/config';
import { toCatalogDescriptor } from '../../src/domain/catalog';
import type { Stage } from '../../src/domain/lifecycle';
import { createLogger } from '../../src/log';
import { RecordKey } from '../../src/signing/record-key';
import type { RunningWebServer } from '../../src/web/server';
import { startWebServer } from '../../src/web/server';
import { launchChromium } from '../helpers/chromium';
import { testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';

/**
 * The web catalog in headless Chromium (Debian's, through playwright-core) over the real platform:
 * a catalog topic, a product table and an analysis results table of this test's own, signed with
 * its own record key; Temporal's visibility as it is. Record values are hostile markup: they must
 * render as text, and no script of theirs may run (the page's CSP would also refuse it).
 */
describe('web catalog (headless Chromium, real Kafka, Temporal, Iceberg)', function () {
  this.timeout(120_000);
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> ${run}`;
  const topic = `_meshloop.catalog-web-${run}`;
  const key = RecordKey.generate();
  const a = `orders.wa_${run}`;
  const b = `orders.wb_${run}`;
  const c = `payments.wc_${run}`;
  const resultsRef = { catalog: 'lake', namespace: 'meshloop', name: `results_web_${run}` };
  const tableRef = { catalog: 'lake', namespace: 'orders', name: `wa_${run}` };
  const log = createLogger('test', 'error', () => undefined);
  let config: MeshloopConfig;
  let iceberg: IcebergCatalogClient;
  let web: RunningWebServer;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    iceberg = IcebergCatalogClient.of(config.iceberg);
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'web-test' });
    await ensureCatalogTopic(kafka, topic);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const at = new Date().toISOString();
    const descriptor = (name: string, stage: Stage, overrides: Record<string, unknown>) =>
      toCatalogDescriptor({
        spec: validSpec({ name, ...overrides }),
        stage,
        decisions: [
          {
            by: 'alice',
            action: 'approve',
            at,
            revision: 1,
            stage: 'provisioning',
            via: 'cli',
            comment: hostile,
          },
        ],
        resources: [],
        table: {
          table: `lake.orders.wa_${run}`,
          provider: 'flink',
          rowCount: 1234,
          lastCommitAt: at,
          freshnessMs: 30_000,
          withinSla: true,
          snapshots: 3,
        },
        lineage: [{ column: 'revenue', from: [{ input: 'orders_placed', field: 'amount' }] }],
        job: {
          name: `product-wa_${run}`,
          id: '0123456789abcdef0123456789abcdef',
          revision: 1,
          sql: 'INSERT INTO x SELECT 1',
          state: 'RUNNING',
          rejectedRecords: 0,
          checkedAt: at,
        },
        updatedAt: at,
        version: 1,
      });
    await publishCatalogRecord(
      producer,
      descriptor(`wa_${run}`, 'active', { description: hostile }),
      topic,
      key,
    );
    await publishCatalogRecord(
      producer,
      descriptor(`wb_${run}`, 'active', { inputs: [{ product: a }], description: `Reads A ${run}` }),
      topic,
      key,
    );
    await publishCatalogRecord(
      producer,
      descriptor(`wc_${run}`, 'awaitingApproval', {
        domain: 'payments',
        inputs: [{ product: a }],
        description: `Derived from A ${run}`,
        proposal: { proposedBy: { kind: 'agent', name: 'analyst' }, parentProductId: a },
      }),
      topic,
      key,
    );
    await producer.disconnect();

    // A's table, with a hostile value in a record; and two analysis cycles of A.
    const extensionDir = await ensureDuckDbExtensions(config.stack.cacheDir);
    await iceberg.ensureNamespace([tableRef.namespace]);
    const created = await iceberg.createTable([tableRef.namespace], {
      name: tableRef.name,
      schema: {
        type: 'struct',
        'schema-id': 0,
        fields: [
          { id: 1, name: 'day', required: false, type: 'string' },
          { id: 2, name: 'note', required: false, type: 'string' },
        ],
      },
      properties: { 'format-version': '2' },
    });
    const writer = await IcebergLakeWriter.open({
      extensionDir,
      catalog: config.iceberg,
      table: { ref: tableRef, location: created.metadata.location },
    });
    try {
      await writer.append(
        [
          { name: 'day', type: 'VARCHAR' },
          { name: 'note', type: 'VARCHAR' },
        ],
        [
          ['2026-12-01', hostile],
          ['2026-12-02', 'plain'],
        ],
      );
    } finally {
      writer.close();
    }
    const results = await AnalysisResultsTable.open({
      extensionDir,
      catalog: config.iceberg,
      table: await ensureResultsTable(iceberg, resultsRef),
      recordKey: key,
    });
    try {
      const cycle = (cycleKey: string, when: string, rows: number, failing: number) => ({
        ...noDataOutcome(a, cycleKey, new Date(when), 'test'),
        snapshotId: '1',
        outcome: failing > 0 ? ('breach' as const) : ('pass' as const),
        rows,
        breaches: failing > 0 ? [{ rule: 'notNull(day)', failing, examples: [], summary: hostile }] : [],
        findings: [],
      });
      await results.appendCycle(resultRowsOf(cycle('c1', '2026-12-01T10:00:00Z', 1000, 0)));
      await results.appendCycle(resultRowsOf(cycle('c2', '2026-12-01T11:00:00Z', 1234, 2)));
    } finally {
      results.close();
    }

    web = await startWebServer(config, log, {
      catalogTopic: topic,
      recordKey: key,
      resultsTable: resultsRef,
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('dialog', (dialog) => {
      consoleErrors.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
  });

  after(async () => {
    await browser?.close();
    await web?.close();
    await iceberg
      ?.dropTable({ namespace: [tableRef.namespace], name: tableRef.name }, { purge: true })
      .catch(() => undefined);
    await iceberg
      ?.dropTable({ namespace: [resultsRef.namespace], name: resultsRef.name }, { purge: true })
      .catch(() => undefined);
    const admin = createKafkaClient({ connection: config.kafka, clientId: 'web-test' }).admin();
    await admin
      .connect()
      .then(() => admin.deleteTopics({ topics: [topic] }))
      .catch(() => undefined);
    await admin.disconnect();
  });

  /** No script of a record ran, and the browser reported no error (a CSP refusal is one). */
  async function assertNoScriptRan(): Promise<void> {
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
      undefined,
    );
    assert.deepEqual(consoleErrors, []);
  }

  it('lists every product with stage, owner, domain, kind, rows, freshness and last analysis; a hostile description is text', async () => {
    const response = await page.goto(`${web.url}/`);
    assert.equal(response?.status(), 200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const rowA = page.locator(`tr[data-product="${a}"]`);
    const cells = await rowA.locator('td').allInnerTexts();
    assert.equal(cells[1], 'active');
    assert.equal(cells[2], 'alice');
    assert.equal(cells[3], 'orders');
    assert.equal(cells[4], 'aggregate');
    assert.equal(cells[6], '1,234');
    assert.match(cells[7] ?? '', /30 s ago/);
    assert.match(cells[8] ?? '', /^breach 2026-12-01T11:00:00\.000Z, 1 breach$/);
    assert.equal(await rowA.locator('.description').innerText(), hostile);
    assert.equal(await page.locator('#products img').count(), 0, 'the markup in the record made no element');
    await assertNoScriptRan();
  });

  it('searches and filters by domain and stage', async () => {
    await page.goto(`${web.url}/`);
    await page.fill('input[name=q]', run);
    await Promise.all([page.waitForURL(/q=/), page.press('input[name=q]', 'Enter')]);
    const ids = async () =>
      Promise.all(
        (await page.locator('#products tbody tr').all()).map((row) => row.getAttribute('data-product')),
      );
    assert.deepEqual(await ids(), [a, b, c]);
    await page.selectOption('select[name=domain]', 'payments');
    await Promise.all([page.waitForURL(/domain=payments/), page.click('button[type=submit]')]);
    assert.deepEqual(await ids(), [c]);
    await page.goto(`${web.url}/?q=${run}&stage=active`);
    assert.deepEqual(await ids(), [a, b]);
    await page.goto(`${web.url}/?stage=bogus`);
    assert.match(await page.locator('.banner').innerText(), /no stage 'bogus'/);
    await assertNoScriptRan();
  });

  it("a product page: contract, SQL, column lineage, decisions, the analysis chart, sample rows (hostile value as text) and links to Temporal's and Flink's UIs", async () => {
    await page.goto(`${web.url}/products/${a}`);
    assert.equal(await page.locator('#product-id').innerText(), a);
    assert.equal(await page.locator('#description').innerText(), hostile);
    // The spec first, then the ODCS contract.
    assert.match(await page.locator('#contract pre').first().innerText(), new RegExp(`name: wa_${run}`));
    assert.match(await page.locator('#contract pre').nth(1).innerText(), /apiVersion: v3\.2\.0/);
    assert.match(await page.locator('#sql pre').innerText(), /\S/);
    assert.match(await page.locator('#lineage').innerText(), /revenue\s+orders_placed\.amount/);
    assert.match(await page.locator('#decisions').innerText(), /approve\s+alice\s+cli/);
    assert.ok((await page.locator('#decisions').innerText()).includes(hostile));
    await page.waitForSelector('#history-chart[data-ready="2"]');
    const series = await page.evaluate(() => {
      const chart = (
        globalThis as unknown as { historyChart: { data: { datasets: Array<{ data: number[] }> } } }
      ).historyChart;
      return chart.data.datasets.map((d) => d.data);
    });
    assert.deepEqual(series, [
      [1000, 1234],
      [0, 1],
    ]);
    const sample = await page.locator('#sample-rows tbody tr').allInnerTexts();
    assert.equal(sample.length, 2);
    assert.ok(
      sample.some((row) => row.includes(hostile)),
      'the hostile record value shows as text',
    );
    assert.equal(await page.locator('main img').count(), 0);
    const temporal = await page.locator('#temporal-link').getAttribute('href');
    assert.equal(
      temporal,
      `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/data-product%3A${a}`,
    );
    assert.match(
      (await page.locator('#flink-link').getAttribute('href')) ?? '',
      /#\/job\/running\/0123456789abcdef0123456789abcdef\/overview$/,
    );
    const contract = await page.request.get(`${web.url}/products/${a}/contract?format=spec`);
    assert.match(contract.headers()['content-type'] ?? '', /^text\/plain/);
    assert.match(await contract.text(), new RegExp(`name: wa_${run}`));
    const odcs = await page.request.get(`${web.url}/products/${a}/contract?format=odcs`);
    assert.match(await odcs.text(), /apiVersion: v3\.2\.0/);
    await assertNoScriptRan();
  });

  it('draws the lineage graph: topics → products → products, the derived proposal dotted', async () => {
    await page.goto(`${web.url}/graph`);
    await page.waitForSelector('#graph[data-ready]');
    const graph = await page.evaluate(() => {
      type Element = { id: () => string; classes: () => string[] };
      const cy = (globalThis as unknown as { meshGraph: { nodes: () => Element[]; edges: () => Element[] } })
        .meshGraph;
      return {
        nodes: cy.nodes().map((n) => n.id()),
        edges: cy.edges().map((e) => ({ id: e.id(), classes: e.classes() })),
      };
    });
    for (const id of [`product:${a}`, `product:${b}`, `product:${c}`, 'topic:orders.placed'])
      assert.ok(graph.nodes.includes(id), `node ${id}`);
    const edge = (id: string) => graph.edges.find((e) => e.id === id);
    assert.deepEqual(edge(`reads:topic:orders.placed->product:${a}`)?.classes, ['reads']);
    assert.deepEqual(edge(`reads:product:${a}->product:${b}`)?.classes, ['reads']);
    assert.deepEqual(edge(`derived:product:${a}->product:${c}`)?.classes, ['derived', 'dotted']);
    assert.deepEqual(edge(`reads:product:${a}->product:${c}`)?.classes, ['reads', 'dotted']);
    // Node labels are drawn on a canvas; the text list beside the graph holds them as text.
    assert.equal(await page.locator(`#graph-nodes li[data-node="product:${a}"] a`).textContent(), a);
    await assertNoScriptRan();
  });

  it('a service that is down gives a page that says so, not a crash', async () => {
    const down = await startWebServer(
      { ...config, kafka: { ...config.kafka, brokers: ['127.0.0.1:21399'] } },
      log,
      {
        port: 21301,
        catalogTopic: topic,
        recordKey: key,
        resultsTable: resultsRef,
      },
    );
    try {
      for (const path of ['/', `/products/${a}`, '/graph']) {
        const response = await page.goto(`${down.url}${path}`);
        assert.equal(response?.status(), 200, path);
        assert.match(
          await page.locator('.banner.error').first().innerText(),
          /Kafka \(the catalog topic\) is unavailable/,
        );
      }
    } finally {
      await down.close();
    }
    consoleErrors.length = 0;
  });
});

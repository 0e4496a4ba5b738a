import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Client, Connection } from '@temporalio/client';
import { stringify as toYaml } from 'yaml';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { createLogger } from '../../src/log';
import { seedKafka } from '../../src/seed/seed';
import { waitUntil } from '../../src/stack/probe';
import { workflowIdOf } from '../../src/domain/spec';
import { executeWhenReady } from '../../src/adapters/temporal/updates';
import { getStatusQuery, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { testEnvironment, testPlatform } from '../helpers/platform';

const root = path.resolve(__dirname, '..', '..');
const ordersTopic = `mcp${randomUUID().slice(0, 8)}.orders.orders`;
const name = `mcp_${randomUUID().slice(0, 8)}`;
const productId = `orders.${name}`;

const spec = {
  name,
  domain: 'orders',
  owner: 'alice',
  description: 'Orders as placed, for the assistant test: one event per order.',
  kind: 'source-aligned',
  inputs: [
    {
      topic: ordersTopic,
      as: 'orders',
      schema: {
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'total_amount', type: 'double' },
          { name: 'order_ts', type: 'timestamp' },
        ],
        eventTimeField: 'order_ts',
      },
    },
  ],
  sql: 'SELECT order_id, total_amount AS amount, order_ts AS created_at FROM orders WHERE order_id IS NOT NULL',
  outputTopic: { partitions: 1 },
  schema: {
    fields: [
      { name: 'order_id', type: 'string', nullable: false },
      { name: 'amount', type: 'double' },
      { name: 'created_at', type: 'timestamp', nullable: false },
    ],
    key: ['order_id'],
    eventTimeField: 'created_at',
  },
  tags: ['mcp-test'],
};

function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

describe('the MCP server (`meshloop mcp`), driven by the SDK client', function () {
  this.timeout(5 * 60_000);
  const taskQueue = `mcp-${randomUUID()}`;
  let config: MeshloopConfig;
  let connection: Connection;
  let temporal: Client;
  let worker: RunningWorker;
  let mcp: McpClient;
  let stderr = '';

  const call = async (tool: string, args: Record<string, unknown> = {}): Promise<CallToolResult> =>
    (await mcp.callTool({ name: tool, arguments: args })) as CallToolResult;
  const json = async <T>(tool: string, args: Record<string, unknown> = {}): Promise<T> => {
    const result = await call(tool, args);
    assert.notEqual(result.isError, true, `${tool} failed: ${textOf(result)}`);
    return JSON.parse(textOf(result)) as T;
  };

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    temporal = new Client({ connection, namespace: config.temporal.namespace });
    const kafka = createKafkaClient({ connection: config.kafka, clientId: 'mcp-test' });
    await seedKafka(kafka, {
      count: 200,
      topicPrefix: ordersTopic.replace('orders.orders', ''),
      only: ['orders'],
    });
    worker = await startOrchestrationWorker(config, createLogger('test-worker', 'warn'), { taskQueue });
    const transport = new StdioClientTransport({
      command: path.join(root, 'bin', 'meshloop'),
      args: ['mcp'],
      env: { ...(testEnvironment() as Record<string, string>), MESHLOOP_TASK_QUEUE: taskQueue },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    mcp = new McpClient({ name: 'meshloop-test', version: '1.0.0' });
    await mcp.connect(transport);
  });

  after(async () => {
    await mcp?.close();
    await worker?.shutdown();
    await connection?.close();
  });

  it('offers tools to read, query and propose, and none that approves, rejects or operates', async () => {
    const { tools } = await mcp.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), [
      'get_analysis',
      'get_contract',
      'get_lineage',
      'list_products',
      'propose_product',
      'query_product',
      'search_products',
      'show_product',
    ]);
    for (const tool of tools)
      if (tool.name !== 'propose_product') assert.equal(tool.annotations?.readOnlyHint, true, tool.name);
  });

  it('proposes a product from a spec through the same checks as the CLI, one problem per line', async () => {
    const bad = await call('propose_product', {
      spec: toYaml({ ...spec, owner: '', sql: 'DROP TABLE orders' }),
    });
    assert.equal(bad.isError, true);
    assert.match(textOf(bad), /owner/);
    assert.match(textOf(bad), /\n- /);

    const proposed = await json<{ productId: string; next: string }>('propose_product', {
      spec: toYaml(spec),
    });
    assert.equal(proposed.productId, productId);
    assert.match(proposed.next, /meshloop approve/);

    const again = await call('propose_product', { spec: JSON.stringify(spec) });
    assert.equal(again.isError, true);
    assert.match(textOf(again), /already proposed/);
  });

  it('lists, searches and shows the product; bad arguments and unknown products are errors, not crashes', async () => {
    const handle = temporal.workflow.getHandle(workflowIdOf(productId));
    await waitUntil(async () => (await handle.query(getStatusQuery)).stage === 'awaitingApproval', {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const listed = await json<Array<{ productId: string; stage: string; owner: string }>>('list_products', {
      domain: 'orders',
    });
    const mine = listed.find((p) => p.productId === productId);
    assert.ok(mine, `not listed: ${JSON.stringify(listed.map((p) => p.productId))}`);
    assert.equal(mine.owner, 'alice');
    const none = await json<unknown[]>('list_products', { domain: 'no-such-domain' });
    assert.deepEqual(none, []);

    const found = await json<Array<{ productId: string }>>('search_products', { text: 'ASSISTANT TEST' });
    assert.ok(
      found.some((p) => p.productId === productId),
      'found by a word of its description',
    );
    assert.deepEqual(await json<unknown[]>('search_products', { text: `zz-${randomUUID()}` }), []);

    const shown = await json<{ productId: string; stage: string; spec: { description: string } }>(
      'show_product',
      {
        product: productId,
      },
    );
    assert.equal(shown.stage, 'awaitingApproval');
    assert.equal(shown.spec.description, spec.description);

    const unknown = await call('show_product', { product: 'orders.no_such_product_here' });
    assert.equal(unknown.isError, true);
    assert.match(textOf(unknown), /no such product/);

    const hostile = await call('show_product', { product: 'orders.x; drop table' });
    assert.equal(hostile.isError, true);
  });

  it('reads the contract and the column lineage the SQL guard computed', async () => {
    const contract = await json<{ owner: string; domain: string; spec: string; odcs: string }>(
      'get_contract',
      {
        product: productId,
      },
    );
    assert.equal(contract.owner, 'alice');
    assert.match(contract.spec, new RegExp(`name: ${name}`));
    assert.match(contract.odcs, /apiVersion: v3\.2\.0/);
    assert.match(contract.odcs, new RegExp(`physicalName: ${name}|name: ${name}`));
    const lineage = await json<{
      columns: Array<{ column: string; from: Array<{ input: string; field: string }> }>;
      outputTopic: string;
    }>('get_lineage', { product: productId });
    assert.equal(lineage.outputTopic, productId);
    const amount = lineage.columns.find((c) => c.column === 'amount');
    assert.deepEqual(amount?.from, [{ input: 'orders', field: 'total_amount' }]);
  });

  it('queries the table read-only once a person approved the product, and refuses anything but a SELECT', async () => {
    const handle = temporal.workflow.getHandle(workflowIdOf(productId));
    await executeWhenReady(() =>
      handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice', via: 'cli' }] }),
    );
    let count = 0;
    const outcome = await waitUntil(
      async () => {
        const result = await call('query_product', {
          product: productId,
          sql: 'select count(*) as n from t',
        });
        if (result.isError) return false;
        count = Number((JSON.parse(textOf(result)) as { rows: Array<{ n: unknown }> }).rows[0]?.n);
        return count > 0;
      },
      { timeoutMs: 180_000, intervalMs: 2000 },
    );
    assert.equal(outcome, 'ready', `rows in the table: ${count}`);
    assert.ok(count <= 200, `at most the 200 seeded orders: ${count}`);

    const write = await call('query_product', { product: productId, sql: 'DELETE FROM t' });
    assert.equal(write.isError, true);
    const tooMany = await call('query_product', { product: productId, maxRows: 100_000 });
    assert.equal(tooMany.isError, true);

    const analysis = await json<{ productId: string; cycles: unknown[] }>('get_analysis', {
      product: productId,
    });
    assert.equal(analysis.productId, productId);
    assert.ok(Array.isArray(analysis.cycles));
    assert.doesNotMatch(stderr, /password|secret/i);
  });
});

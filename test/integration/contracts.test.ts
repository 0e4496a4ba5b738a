import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createTopicsAndAwaitLeaders } from '../../src/adapters/kafka/topics';
import { contractOf, contractYaml } from '../../src/contracts/odcs';
import type { MeshloopConfig } from '../../src/config';
import { temporalConnectOptions } from '../../src/config';
import { contractServersOf } from '../../src/contracts/of-product';
import { parseSpec, workflowIdOf } from '../../src/domain/spec';
import type { ProductSpecInput } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import type { PythonTools } from '../../src/python/venv';
import { loadSpecFile } from '../../src/specs/load';
import { waitUntil } from '../../src/stack/probe';
import { getStatusQuery, retireUpdate, reviewUpdate } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { contractSpecs } from '../helpers/contract-specs';
import { datacontract, loadWithOdcsModel, odcsTools } from '../helpers/odcs-tools';
import { testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';

const RECORDS = 40;

async function leaveNothingRunning(client: Client, productId: string): Promise<void> {
  const children = client.workflow.list({
    query: `WorkflowId STARTS_WITH 'data-product:${productId}_' AND ExecutionStatus = 'Running'`,
  });
  for await (const child of children)
    await client.workflow
      .getHandle(child.workflowId)
      .executeUpdate(reviewUpdate, { args: [{ action: 'reject', by: 'alice', comment: 'test leftover' }] })
      .catch(() => undefined);
  await client.workflow
    .getHandle(workflowIdOf(productId))
    .executeUpdate(retireUpdate, { args: [{ by: 'ops', force: true, comment: 'test product' }] });
}

/**
 * Contracts in ODCS, checked by the peers' own tools as they are: every exported contract passes
 * `datacontract lint` and loads in the `open-data-contract-standard` model; a product proposed
 * from a contract (`meshloop contract import`) and approved runs, and `datacontract test` checks its
 * Kafka topic against the contract `meshloop contract export` writes, which imports back to the
 * product's spec.
 */
describe('ODCS contracts with the peers’ tools (datacontract-cli, open-data-contract-standard)', function () {
  this.timeout(300_000);
  const run = randomUUID().replace(/-/g, '').slice(0, 8);
  const inputTopic = `ct${run}.orders`;
  const taskQueue = `contracts-${run}`;
  const cli = (args: string[]) => runCli(args, { MESHLOOP_TASK_QUEUE: taskQueue });
  let tools: PythonTools;
  let config: MeshloopConfig;
  let kafka: Kafka;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let dir: string;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    dir = await mkdtemp(path.join(os.tmpdir(), 'meshloop-contracts-'));
    const began = Date.now();
    tools = await odcsTools(config.stack.cacheDir);
    process.stderr.write(`      [odcs-tools] ready in ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
    kafka = createKafkaClient({ connection: config.kafka, clientId: 'contracts-test' });
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
    worker = await startOrchestrationWorker(config, createLogger('contracts-worker', 'warn'), { taskQueue });
  });

  after(async () => {
    // The shared platform keeps nothing running: the product retired (its Flink jobs stopped), and
    // whatever its analysis proposed from it rejected.
    if (client) await leaveNothingRunning(client, `orders.contract_${run}`).catch(() => undefined);
    await worker?.shutdown();
    await connection?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const [name, raw] of Object.entries(contractSpecs)) {
    it(`an exported contract passes datacontract lint and loads in the ODCS model: ${name}`, async () => {
      const spec = parseSpec(raw);
      const file = path.join(dir, `${name}.odcs.yaml`);
      const decisions = [
        { by: 'bob', action: 'approve', at: '2026-12-05T10:00:00.000Z', revision: 1, stage: 'provisioning' },
      ] as const;
      await writeFile(
        file,
        contractYaml(
          contractOf({ spec, stage: 'active', revision: 1, decisions }, contractServersOf(config)),
        ),
      );
      const lint = await datacontract(tools, ['lint', file]);
      assert.equal(lint.code, 0, lint.output);
      assert.equal(lint.result, 'passed', lint.output);
      assert.deepEqual(
        lint.checks.map((c) => [c.type, c.name, c.result]),
        [['lint', 'Data contract is valid against ODCS v3.2.0', 'passed']],
      );
      const model = await loadWithOdcsModel(tools, file);
      assert.equal(model.code, 0, model.output);
      assert.equal(
        model.output.trim(),
        `v3.2.0 ${spec.domain}.${spec.name} 1.0.0 ${spec.schema.fields.length}`,
      );
    });
  }

  it('a product proposed from a contract runs; datacontract test checks its topic against the exported contract, which imports back to its spec', async () => {
    const raw: ProductSpecInput = {
      name: `contract_${run}`,
      domain: 'orders',
      owner: 'orders-team',
      description: 'Orders as placed, checked against their contract.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: inputTopic,
          as: 'o',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'channel', type: 'string' },
              { name: 'amount', type: 'double' },
              { name: 'items', type: 'long' },
              { name: 'placed_at', type: 'timestamp' },
            ],
            eventTimeField: 'placed_at',
          },
        },
      ],
      sql: 'SELECT order_id, channel, amount, items, placed_at FROM o',
      outputTopic: { partitions: 1, retentionMs: 86_400_000 },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'channel', type: 'string' },
          { name: 'amount', type: 'double' },
          { name: 'items', type: 'long' },
          { name: 'placed_at', type: 'timestamp' },
        ],
        key: ['order_id'],
        eventTimeField: 'placed_at',
      },
      sla: { freshness: '1d' },
      quality: [
        { rule: 'notNull', field: 'order_id' },
        { rule: 'unique', fields: ['order_id'] },
        { rule: 'allowedValues', field: 'channel', values: ['web', 'app', 'store'] },
        { rule: 'range', field: 'amount', min: 0, max: 1000 },
        { rule: 'custom', name: 'some_items', sql: 'items >= 1' },
      ],
      materialization: { commitInterval: '5s' },
      tags: ['test'],
    };
    const productId = `orders.${raw.name}`;
    // The input topic, with records placed now (the contract's freshness is checked against them).
    const admin = kafka.admin();
    await admin.connect();
    await createTopicsAndAwaitLeaders(admin, [{ topic: inputTopic, numPartitions: 1, replicationFactor: 1 }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const channels = ['web', 'app', 'store'];
    await producer.send({
      topic: inputTopic,
      messages: Array.from({ length: RECORDS }, (_, i) => ({
        key: `o-${i}`,
        value: JSON.stringify({
          order_id: `o-${i}`,
          channel: channels[i % 3],
          amount: 10 + i,
          items: 1 + (i % 4),
          placed_at: new Date(Date.now() - (RECORDS - i) * 1000).toISOString(),
        }),
      })),
    });
    await producer.disconnect();

    // Proposed from a contract, through the CLI: the spec's checks, the policies, the SQL guard.
    const proposedFile = path.join(dir, 'proposed.odcs.yaml');
    await writeFile(
      proposedFile,
      contractYaml(contractOf({ spec: parseSpec(raw) }, contractServersOf(config))),
    );
    const imported = await cli(['contract', 'import', proposedFile, '--by', 'alice']);
    assert.equal(imported.code, 0, imported.stdout + imported.stderr);
    assert.match(imported.stdout, new RegExp(`proposed ${productId}: awaitingApproval`));
    const approved = await cli(['approve', productId, '--by', 'bob']);
    assert.equal(approved.code, 0, approved.stderr);
    const handle = client.workflow.getHandle(workflowIdOf(productId));
    await waitUntil(async () => ['active', 'failed'].includes((await handle.query(getStatusQuery)).stage), {
      timeoutMs: 180_000,
      intervalMs: 500,
    });
    const status = await handle.query(getStatusQuery);
    assert.equal(status.stage, 'active', JSON.stringify(status.lastError));
    assert.deepEqual(status.spec.proposal?.proposedBy, { kind: 'person', name: 'alice' });

    // Every record in the product's topic.
    const admin2 = kafka.admin();
    await admin2.connect();
    const filled = await waitUntil(
      async () => {
        const offsets = await admin2.fetchTopicOffsets(productId).catch(() => []);
        return offsets.reduce((sum, p) => sum + Number(p.high), 0) >= RECORDS;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await admin2.disconnect();
    assert.equal(filled, 'ready', `the topic ${productId} did not get ${RECORDS} records`);

    // The contract as exported: the approval (who, when), then the peers' tools on it.
    const exportedFile = path.join(dir, 'exported.odcs.yaml');
    const exported = await cli(['contract', 'export', productId, '--out', exportedFile]);
    assert.equal(exported.code, 0, exported.stderr);
    const text = await readFile(exportedFile, 'utf8');
    const approval = status.decisions.find((d) => d.action === 'approve');
    assert.ok(approval);
    assert.match(text, new RegExp(`approvedAt: "${approval.at.replace(/\./g, '\\.')}"`));
    assert.match(text, /- username: bob\n\s+role: approver/);
    assert.match(text, new RegExp(`host: ${config.kafka.brokers.join(',').replace(/\./g, '\\.')}`));
    const lint = await datacontract(tools, ['lint', exportedFile]);
    assert.equal(lint.result, 'passed', lint.output);
    const model = await loadWithOdcsModel(tools, exportedFile);
    assert.equal(model.code, 0, model.output);

    const tested = await datacontract(tools, ['test', '--server', 'kafka', exportedFile]);
    const summary = tested.checks.map(
      (c) => `${c.result} ${c.type} ${c.name}${c.reason ? `: ${c.reason}` : ''}`,
    );
    assert.equal(tested.result, 'passed', `${summary.join('\n')}\n${tested.output.slice(-3000)}`);
    const passed = tested.checks.filter((c) => c.result === 'passed').map((c) => c.type);
    // The schema, the quality rules (library metrics and SQL) and the freshness SLA: all ran and passed.
    for (const type of [
      'field_null_values',
      'field_duplicate_values',
      'field_invalid_values',
      'field_quality_sql',
      'model_quality_sql',
      'servicelevel_freshness',
    ])
      assert.ok(passed.includes(type), `no passed ${type} check:\n${summary.join('\n')}`);

    // And back: the exported contract is the product's spec.
    const specFile = path.join(dir, 'back.yaml');
    const back = await cli(['contract', 'import', exportedFile, '--out', specFile]);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await loadSpecFile(specFile), status.spec);
  });

  it('`meshloop contract import` refuses a contract it cannot take, one line per problem, proposing nothing', async () => {
    const file = path.join(dir, 'bad.odcs.yaml');
    await writeFile(
      file,
      [
        'apiVersion: v3.2.0',
        'kind: DataContract',
        `id: bad-${run}`,
        `name: bad_${run}`,
        'domain: orders',
        'team: { name: orders-team }',
        'schema:',
        `  - name: bad_${run}`,
        '    properties:',
        '      - { name: id, physicalType: GEOGRAPHY }',
        '      - { name: amount, logicalType: number, quality: [{ metric: rowCount, mustBeGreaterThan: 0 }] }',
        'slaProperties:',
        '  - { property: availability, value: always }',
      ].join('\n'),
    );
    const refused = await cli(['contract', 'import', file, '--by', 'alice']);
    assert.equal(refused.code, 1);
    assert.deepEqual(refused.stderr.trim().split('\n'), [
      `error: InvalidSpec: invalid ODCS contract ${file}:`,
      '  - schema[0].properties[0]: no type Meshloop knows (physicalType "GEOGRAPHY", logicalType null); set physicalType to one of string, int, long, float, double, decimal, boolean, date, timestamp, bytes, json',
      '  - schema[0].properties[1].quality[0]: a quality rule Meshloop cannot check (type library, metric rowCount, no mustBe); use nullValues, duplicateValues or invalidValues (validValues) with mustBe: 0, or a sql rule "SELECT COUNT(*) FROM ${object} WHERE (<condition>) IS NOT TRUE" with mustBe: 0, or remove it',
      '  - slaProperties[0]: availability "always" is not a percentage; write it like "99.9%"',
    ]);
    await assert.rejects(client.workflow.getHandle(workflowIdOf(`orders.bad_${run}`)).describe());
  });
});

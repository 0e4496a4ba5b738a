import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { dataConverterFor } from '../../src/codec/payload-codec';
import type { MeshloopConfig } from '../../src/config';
import { waitUntil } from '../../src/stack/probe';
import type { dataProductWorkflow } from '../../workflows/data-product';
import { approveSignal } from '../../workflows/definitions';
import { testPlatform } from '../helpers/platform';
import { fakesWith, stageIs, uniqueProduct, waitForStatus } from '../helpers/workflows';
import { temporalConnectOptions } from '../../src/config';
import { productMetricsSinks } from '../../src/metrics/worker';

/** Every byte Temporal's dev server stored: its SQLite file and write-ahead log. */
async function storedBytes(config: MeshloopConfig): Promise<Buffer> {
  const db = path.join(config.stack.dataDir, 'temporal', 'temporal.db');
  const parts = await Promise.all(
    [db, `${db}-wal`].map((file) => readFile(file).catch(() => Buffer.alloc(0))),
  );
  return Buffer.concat(parts);
}

describe('payload encryption (real Temporal server, its SQLite store read back)', function () {
  this.timeout(90_000);
  let config: MeshloopConfig;
  let bundle: WorkflowBundleWithSourceMap;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      logger: { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} },
    });
  });

  /** Run one product to active with the given data converter; its spec and comment carry `marker`. */
  async function runProduct(marker: string, dataConverter: DataConverter | undefined): Promise<void> {
    const taskQueue = `encryption-test-${randomUUID()}`;
    const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    const workerConnection = await NativeConnection.connect(
      temporalConnectOptions(config.temporal.connection),
    );
    const worker = await Worker.create({
      sinks: productMetricsSinks(undefined),
      connection: workerConnection,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: bundle,
      activities: fakesWith().activities(),
      ...(dataConverter ? { dataConverter } : {}),
    });
    const spec = uniqueProduct({ description: `Revenue per channel, ${marker}-spec` });
    try {
      await worker.runUntil(async () => {
        const handle = await client.workflow.start<typeof dataProductWorkflow>('dataProductWorkflow', {
          taskQueue,
          workflowId: `data-product:orders.${String(spec.name)}`,
          args: [{ spec }],
        });
        const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
        assert.match(waiting.spec.description, new RegExp(marker), 'the client reads its own payloads');
        await handle.signal(approveSignal, { by: 'alice', comment: `${marker}-comment` });
        await waitForStatus(handle, stageIs('active'));
        await handle.terminate('test finished');
      });
    } finally {
      await workerConnection.close();
      await connection.close();
    }
  }

  it('with MESHLOOP_PAYLOAD_KEYS no spec text or comment is stored in plain text', async () => {
    const encrypted = dataConverterFor(`t1:${randomBytes(32).toString('base64')}`);
    const secretMarker = `enc${randomUUID().replace(/-/g, '')}`;
    const plainMarker = `plain${randomUUID().replace(/-/g, '')}`;
    await runProduct(secretMarker, encrypted);
    // The control: the same run without keys is readable in the same file, so the check can fail.
    await runProduct(plainMarker, undefined);
    const found = await waitUntil(async () => (await storedBytes(config)).includes(`${plainMarker}-spec`), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.equal(found, 'ready', 'the unencrypted spec is in the store');
    const bytes = await storedBytes(config);
    assert.ok(bytes.includes(`${plainMarker}-comment`));
    assert.ok(!bytes.includes(secretMarker), "no trace of the encrypted product's spec or comment");
  });

  it('keeps the data directory private (0700)', async () => {
    assert.equal((await stat(config.stack.dataDir)).mode & 0o777, 0o700);
  });
});

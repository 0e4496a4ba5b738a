import assert from 'node:assert/strict';
import type { ResultPage } from '../../src/adapters/flink';
import { FlinkRequestError } from '../../src/adapters/flink';
import type { MeshloopConfig } from '../../src/config';
import { waitUntil } from '../../src/stack/probe';
import { FlinkTestContext } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

describe('the Flink SQL Gateway client on the real platform', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let flink: FlinkTestContext;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
  });

  beforeEach(() => {
    flink = new FlinkTestContext(config);
  });

  afterEach(async () => {
    await flink.cleanUp();
  });

  it('opens a session with properties, heartbeats it, and refuses it once closed', async () => {
    const session = await flink.gateway.openSession({
      name: 'gateway-session-test',
      properties: { 'table.local-time-zone': 'Europe/Paris' },
      heartbeatIntervalMs: false,
    });
    assert.equal((await session.properties())['table.local-time-zone'], 'Europe/Paris');
    await session.heartbeat();
    await session.configure("SET 'pipeline.name' = 'meshloop-configured'");
    assert.equal((await session.properties())['pipeline.name'], 'meshloop-configured');
    await session.close();
    const refused = await session.heartbeat().then(
      () => assert.fail('a closed session should be refused'),
      (failure: unknown) => failure,
    );
    assert.ok(refused instanceof FlinkRequestError);
    assert.match(refused.flinkMessage, /does not exist/);
  });

  it('pages through a batch result following nextResultUri until the end of the stream', async () => {
    const session = await flink.openSession('gateway-paging-test');
    const rowCount = 3000;
    await session.execute(`
      CREATE TEMPORARY TABLE numbers (n BIGINT) WITH (
        'connector' = 'datagen', 'number-of-rows' = '${rowCount}',
        'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '${rowCount}'
      )`);
    const operation = await session.submit('SELECT n, n * n AS square FROM numbers', {
      executionConfig: { 'execution.runtime-mode': 'batch' },
    });
    const pages: ResultPage[] = [];
    for await (const page of session.results(operation, 'SELECT n ...', Date.now() + 90_000))
      pages.push(page);
    const rows = pages.flatMap((page) => page.rows);
    assert.ok(pages.length > 1, `expected several pages, got ${pages.length}`);
    assert.equal(rows.length, rowCount);
    assert.deepEqual(
      pages[0]?.columns.map((column) => [column.name, column.logicalType.type]),
      [
        ['n', 'BIGINT'],
        ['square', 'BIGINT'],
      ],
    );
    const values = rows.map((row) => row.fields[0] as number).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: rowCount }, (_, i) => i + 1),
    );
    assert.ok(rows.every((row) => (row.fields[1] as number) === (row.fields[0] as number) ** 2));
    flink.track(pages.find((page) => page.jobId)?.jobId);
  });

  it('cancels a running streaming query, which cancels its job', async () => {
    const session = await flink.openSession('gateway-cancel-test');
    await session.execute(`
      CREATE TEMPORARY TABLE ticks (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '5')`);
    const operation = await session.submit('SELECT id FROM ticks');
    let jobId: string | undefined;
    for await (const page of session.results(operation, 'SELECT id FROM ticks', Date.now() + 60_000)) {
      jobId ??= page.jobId;
      if (page.rows.length > 0) break; // a streaming query never ends: stop once rows flow
    }
    flink.track(jobId);
    // The gateway calls the operation finished once its job runs; the rows keep coming.
    assert.equal(await session.status(operation), 'FINISHED');
    assert.equal((await flink.rest.job(jobId!)).state, 'RUNNING');

    assert.equal(await session.cancel(operation), 'CLOSED');
    const ended = await waitUntil(async () => (await flink.rest.job(jobId!)).state === 'CANCELED', {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    assert.equal(ended, 'ready');
  });
});

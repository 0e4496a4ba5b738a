import assert from 'node:assert/strict';
import net from 'node:net';
import { FlinkRequestError, FlinkStatementError, SqlGatewayClient } from '../../src/adapters/flink';
import { MeshloopError } from '../../src/domain/errors';
import type { MeshloopConfig } from '../../src/config';
import { FlinkTestContext } from '../helpers/flink';
import { testPlatform } from '../helpers/platform';

describe('Flink errors on the real platform', function () {
  this.timeout(120_000);
  let config: MeshloopConfig;
  let flink: FlinkTestContext;

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    flink = new FlinkTestContext(config);
  });

  after(async () => {
    await flink.cleanUp();
  });

  it('returns a validation error as a non-retryable statement error with Flink’s message', async () => {
    const session = await flink.openSession('flink-errors');
    const statement = 'SELECT amount FROM no_such_table';
    const error = await session.execute(statement).then(
      () => assert.fail('the statement should fail'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof FlinkStatementError, `got ${String(error)}`);
    assert.ok(error instanceof MeshloopError);
    assert.equal(error.type, 'FlinkStatementFailed');
    assert.equal(error.retryable, false);
    assert.equal(error.statement, statement);
    assert.match(
      error.flinkMessage,
      /^ValidationException: SQL validation failed\. .*Object 'no_such_table' not found/,
    );
    assert.match(error.message, /no_such_table/);
    assert.ok(
      error.causes.some((cause) => cause.startsWith('org.apache.calcite.sql.validate.SqlValidatorException')),
    );
  });

  it('returns a parse error the same way, and the session stays usable', async () => {
    const session = await flink.openSession('flink-parse-errors');
    const error = await session.execute('SELEC 1').then(
      () => assert.fail('the statement should fail'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof FlinkStatementError, `got ${String(error)}`);
    assert.equal(error.retryable, false);
    assert.match(error.flinkMessage, /^SqlParserException: SQL parse failed/);

    const ok = await session.execute('SELECT 40 + 2 AS answer', {
      executionConfig: { 'execution.runtime-mode': 'batch' },
    });
    assert.deepEqual(ok.rows, [{ answer: 42 }]);
  });

  it('reports an unknown session with the gateway’s message, and an unreachable gateway as retryable', async () => {
    const unknown = flink.gateway.session('00000000-0000-0000-0000-000000000000');
    const notFound = await unknown.execute('SELECT 1').then(
      () => assert.fail('an unknown session should be refused'),
      (failure: unknown) => failure,
    );
    assert.ok(notFound instanceof FlinkRequestError, `got ${String(notFound)}`);
    // The gateway answers 500 to every failure; the cause chain carries the reason. Retryable is right
    // here: an activity's next attempt opens a new session.
    assert.equal(notFound.status, 500);
    assert.match(notFound.flinkMessage, /Session '00000000-0000-0000-0000-000000000000' does not exist/);

    // A port nobody listens on: take a free one from the OS, then close it.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address() as net.AddressInfo;
        server.close(() => resolve(address.port));
      });
    });
    const down = new SqlGatewayClient({ url: `http://127.0.0.1:${port}` });
    const unreachable = await down.info().then(
      () => assert.fail('nothing listens there'),
      (failure: unknown) => failure,
    );
    assert.ok(unreachable instanceof FlinkRequestError);
    assert.equal(unreachable.type, 'FlinkUnavailable');
    assert.equal(unreachable.retryable, true);
  });
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { explainServerTrace, FlinkRequestError } from '../../src/adapters/flink/errors';
import { IcebergCatalogError } from '../../src/adapters/iceberg';
import { parseErrorBody } from '../../src/adapters/flink/http';

/** A real SQL Gateway answer (Flink 1.20.3) to fetching the result of `SELECT nope FROM no_such_table`. */
const validationErrorBody = fs.readFileSync(
  path.join(__dirname, '..', 'fixtures', 'flink', 'validation-error.json'),
  'utf8',
);

describe('reading Flink error answers', () => {
  it('picks the first cause that is not a gateway wrapper, and keeps the whole chain', () => {
    const { trace } = parseErrorBody(validationErrorBody);
    assert.ok(trace);
    const explained = explainServerTrace(trace);
    assert.equal(
      explained.message,
      "ValidationException: SQL validation failed. From line 1, column 18 to line 1, column 30: Object 'no_such_table' not found",
    );
    assert.deepEqual(
      explained.causes.map((cause) => cause.slice(0, cause.indexOf(':'))),
      [
        'org.apache.flink.table.gateway.api.utils.SqlGatewayException',
        'org.apache.flink.table.gateway.api.utils.SqlGatewayException',
        'org.apache.flink.table.gateway.service.utils.SqlExecutionException',
        'org.apache.flink.table.api.ValidationException',
        'org.apache.calcite.runtime.CalciteContextException',
        'org.apache.calcite.sql.validate.SqlValidatorException',
      ],
    );
    assert.equal(explained.transient, false);
  });

  it('summarises an error body with the useful cause, not just "Internal server error."', () => {
    const { message } = parseErrorBody(validationErrorBody);
    assert.match(message, /^Internal server error\.: ValidationException: SQL validation failed\./);
  });

  it('falls back to the innermost cause when every exception is a gateway wrapper', () => {
    const trace = [
      'org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to execute statement.',
      '\tat org.apache.flink.table.gateway.service.SqlGatewayServiceImpl.executeStatement(SqlGatewayServiceImpl.java:217)',
      "Caused by: org.apache.flink.table.gateway.api.utils.SqlGatewayException: Session 'x' does not exist.",
      '\tat org.apache.flink.table.gateway.service.session.SessionManagerImpl.getSession(SessionManagerImpl.java:1)',
    ].join('\n');
    assert.equal(explainServerTrace(trace).message, "SqlGatewayException: Session 'x' does not exist.");
  });

  it('joins a message that ends in a colon with its cause’s, which says what was wrong', () => {
    const trace = [
      'org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to configure session.',
      '\tat org.apache.flink.table.gateway.rest.handler.session.ConfigureSessionHandler.handleRequest(ConfigureSessionHandler.java:1)',
      'Caused by: org.apache.flink.table.api.ValidationException: Invalid function call:',
      'meshloop_json_fields(STRING, STRING, STRING)',
      '\tat org.apache.flink.table.types.inference.TypeInferenceUtil.createInvalidCallException(TypeInferenceUtil.java:1)',
      "Caused by: org.apache.flink.table.api.ValidationException: meshloop_json_fields takes 'errors' as its third argument, not 'all'",
      '\t... 40 more',
    ].join('\n');
    assert.equal(
      explainServerTrace(trace).message,
      "ValidationException: Invalid function call: meshloop_json_fields takes 'errors' as its third argument, not 'all'",
    );
  });

  it('marks connection problems in the cause chain as transient', () => {
    const trace = [
      'org.apache.flink.table.api.TableException: Failed to execute sql',
      '\tat org.apache.flink.table.api.internal.TableEnvironmentImpl.executeInternal(TableEnvironmentImpl.java:1)',
      'Caused by: java.net.ConnectException: Connection refused',
      '\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)',
    ].join('\n');
    const explained = explainServerTrace(trace);
    assert.equal(explained.message, 'TableException: Failed to execute sql');
    assert.equal(explained.transient, true);
  });

  it('reads a plain error list without a trace', () => {
    assert.deepEqual(parseErrorBody('{"errors":["Job could not be found."]}'), {
      message: 'Job could not be found.',
      trace: undefined,
    });
    assert.deepEqual(parseErrorBody('not json'), { message: 'not json' });
  });
});

describe('the retry bit of Flink and Iceberg request errors', () => {
  const cases: Array<[number | undefined, boolean]> = [
    [undefined, true], // no answer: refused, reset, timed out
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [404, false],
    [409, false],
  ];
  for (const [status, retryable] of cases) {
    it(`${status ?? 'no answer'} → ${retryable ? 'retryable' : 'not retryable'}`, () => {
      const flink = new FlinkRequestError('rest', 'GET', 'http://127.0.0.1:8081/jobs', status, 'x');
      assert.equal(flink.retryable, retryable);
      assert.equal(flink.type, status === undefined ? 'FlinkUnavailable' : 'FlinkRequestFailed');
      const iceberg = new IcebergCatalogError(
        'GET',
        'http://127.0.0.1:8181/v1/config',
        status,
        undefined,
        'x',
      );
      assert.equal(iceberg.retryable, retryable);
    });
  }
});

import assert from 'node:assert/strict';
import Long from 'long';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectOptions } from '../../src/config';
import type { MeshloopConfig } from '../../src/config';
import { runCli } from '../helpers/processes';
import type { CliResult } from '../helpers/processes';
import { rawSpec } from '../helpers/specs';
import { testPlatform } from '../helpers/platform';

// The CLI as a new user meets it: each case from issue 24 that printed a raw error, hung or exited 0
// now says what went wrong and what to do, with the documented exit code, as text or as the JSON
// envelope with --json. Ports 21500-21599 are this file's: nothing listens on DEAD_PORT.

const DEAD_PORT = 21501;
const root = path.resolve(__dirname, '..', '..');

type Envelope = { error: { type: string; message: string; hint: string | null } };

/** The one JSON line on stderr of a failed command run with --json. */
function envelopeOf(result: CliResult): Envelope {
  const lines = result.stderr.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const parsed = JSON.parse(last) as Envelope;
  assert.deepEqual(Object.keys(parsed.error).sort(), ['hint', 'message', 'type']);
  return parsed;
}

/** A failure printed for people: `error: …` then `hint: …`, no stack trace. */
function assertPlainError(result: CliResult, message: RegExp): void {
  assert.match(result.stderr, /^error: /m);
  assert.match(result.stderr, message);
  assert.match(result.stderr, /^hint: \S/m);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(result.stdout, '');
}

describe('meshloop CLI: usage mistakes exit 2 and say what is accepted', function () {
  this.timeout(60_000);

  it('--version prints the version from package.json', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      version: string;
    };
    const result = await runCli(['--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), version);
  });

  it('list --stage bogus is refused, naming the stages', async () => {
    const text = await runCli(['list', '--stage', 'bogus']);
    assert.equal(text.code, 2);
    assertPlainError(text, /'bogus' is invalid\. Allowed choices are proposed, awaitingApproval/);
    const json = await runCli(['list', '--stage', 'bogus', '--json']);
    assert.equal(json.code, 2);
    const { error } = envelopeOf(json);
    assert.equal(error.type, 'usage');
    assert.match(error.message, /--stage/);
    assert.match(error.hint ?? '', /meshloop list --help/);
  });

  it('query --limit -5 and --limit 0 are refused; a malformed product id too', async () => {
    for (const limit of ['-5', '0', 'ten']) {
      const result = await runCli(['query', 'orders.x', '--limit', limit, '--json']);
      assert.equal(result.code, 2, limit);
      const { error } = envelopeOf(result);
      assert.equal(error.type, 'usage');
      assert.match(error.message, /not a whole number from 1 to 1,000,000/);
    }
    const malformed = await runCli(['show', 'no-dot-here']);
    assert.equal(malformed.code, 2);
    assertPlainError(malformed, /'no-dot-here' is not a product id: a product is <domain>\.<name>/);
  });

  it('propose /missing.yaml says the file is not there, not ENOENT', async () => {
    const missing = path.join(os.tmpdir(), `missing-${randomUUID()}.yaml`);
    const result = await runCli(['propose', missing]);
    assert.equal(result.code, 2);
    assertPlainError(result, new RegExp(`cannot read the spec file ${missing}: no such file`));
    assert.doesNotMatch(result.stderr, /ENOENT/);
    const json = envelopeOf(await runCli(['propose', missing, '--json']));
    assert.equal(json.error.type, 'usage');
  });

  it('an unknown command or option exits 2 with a suggestion', async () => {
    const result = await runCli(['aprove']);
    assert.equal(result.code, 2);
    assertPlainError(result, /unknown command 'aprove'[\s\S]*Did you mean approve\?/);
    const option = envelopeOf(await runCli(['list', '--stag', 'active', '--json']));
    assert.equal(option.error.type, 'usage');
    assert.match(option.error.message, /unknown option '--stag'/);
  });

  it('an invalid setting exits 2 as a config error', async () => {
    const result = await runCli(['list', '--json'], { MESHLOOP_CLI_TIMEOUT: 'soon' });
    assert.equal(result.code, 2);
    const { error } = envelopeOf(result);
    assert.equal(error.type, 'config');
    assert.match(error.message, /MESHLOOP_CLI_TIMEOUT/);
  });
});

describe('meshloop CLI: a service that does not answer exits 3 and names it', function () {
  this.timeout(60_000);

  it('catalog with Kafka down says which brokers and what to do, not a raw ECONNREFUSED', async () => {
    const brokers = `127.0.0.1:${DEAD_PORT}`;
    const text = await runCli(['catalog'], { MESHLOOP_KAFKA_BROKERS: brokers });
    assert.equal(text.code, 3, text.stderr);
    assertPlainError(text, new RegExp(`^error: cannot read the catalog from Kafka at ${brokers}`, 'm'));
    assert.match(text.stderr, /^hint: is Kafka up\?/m);
    const json = await runCli(['catalog', '--json'], { MESHLOOP_KAFKA_BROKERS: brokers });
    assert.equal(json.code, 3);
    assert.equal(envelopeOf(json).error.type, 'unreachable');
  });

  it('show and approve with Temporal down say where it was looked for', async () => {
    const env = { MESHLOOP_TEMPORAL_PORT: String(DEAD_PORT), MESHLOOP_CLI_TIMEOUT: '2s' };
    const shown = await runCli(['show', 'orders.anything'], env);
    assert.equal(shown.code, 3, shown.stderr);
    assertPlainError(shown, new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${DEAD_PORT}`));
    const approved = await runCli(['approve', 'orders.anything', '--by', 'alice', '--json'], env);
    assert.equal(approved.code, 3);
    assert.equal(envelopeOf(approved).error.type, 'unreachable');
  });
});

describe('meshloop CLI: against the platform', function () {
  this.timeout(5 * 60_000);
  let config: MeshloopConfig;
  let connection: Connection;
  let client: Client;
  const taskQueue = `cli-noworker-${randomUUID().slice(0, 8)}`;
  const name = `cli_${randomUUID().slice(0, 8)}`;
  const productId = `orders.${name}`;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-cli-'));
  const env = { MESHLOOP_TASK_QUEUE: taskQueue, MESHLOOP_CLI_TIMEOUT: '2s' };

  before(async function () {
    this.timeout(15 * 60_000);
    config = await testPlatform();
    connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
    client = new Client({ connection, namespace: config.temporal.namespace });
  });

  after(async () => {
    await client?.workflow
      .getHandle(`data-product:${productId}`)
      .terminate('cli test done')
      .catch(() => undefined);
    await connection?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('propose --json, then list --json finds it; show and approve without a worker say so at once', async () => {
    const specFile = path.join(workDir, 'spec.json');
    fs.writeFileSync(specFile, JSON.stringify(rawSpec({ name })));
    const proposed = await runCli(['propose', specFile, '--json'], env);
    assert.equal(proposed.code, 0, proposed.stderr);
    const answer = JSON.parse(proposed.stdout) as { productId: string; workflowId: string; stage: string };
    assert.deepEqual(
      [answer.productId, answer.workflowId, answer.stage],
      [productId, `data-product:${productId}`, 'proposed'],
    );

    const again = await runCli(['propose', specFile, '--json'], env);
    assert.equal(again.code, 1);
    assert.deepEqual(envelopeOf(again).error.type, 'refused');

    // A domain with no products (the shared platform's others may hold data this CLI cannot read).
    const listed = await runCli(['list', '--domain', `none_${name}`, '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);

    const shown = await runCli(['show', productId], env);
    assert.equal(shown.code, 3, shown.stderr);
    assertPlainError(shown, new RegExp(`no worker is running: nothing polls task queue '${taskQueue}'`));
    assert.match(shown.stderr, /^hint: start one with `meshloop worker`/m);
    assert.doesNotMatch(shown.stderr, /Failed to query Workflow/);

    const approved = await runCli(['approve', productId, '--by', 'alice', '--json'], env);
    assert.equal(approved.code, 3, approved.stderr);
    assert.equal(envelopeOf(approved).error.type, 'no-worker');
    for (const act of [
      ['reject', productId, '--by', 'alice'],
      ['retire', productId, '--by', 'ops'],
    ]) {
      const result = await runCli([...act, '--json'], env);
      assert.equal(result.code, 3, `${act[0]}: ${result.stderr}`);
      assert.equal(envelopeOf(result).error.type, 'no-worker');
    }
  });

  it('show gives up after MESHLOOP_CLI_TIMEOUT when a worker polls but never answers', async () => {
    // A poller that takes the task queue's tasks and never completes them: a stuck worker.
    const abort = new AbortController();
    const stuck = (async () => {
      while (!abort.signal.aborted)
        await connection
          .withAbortSignal(abort.signal, () =>
            // A long poll needs a deadline (the server refuses one without).
            connection.withDeadline(Date.now() + 70_000, () =>
              connection.workflowService.pollWorkflowTaskQueue({
                namespace: config.temporal.namespace,
                taskQueue: { name: taskQueue },
                identity: 'cli-test-stuck-worker',
              }),
            ),
          )
          .catch(() => undefined);
    })();
    try {
      // The server lists the poller once a poll arrived.
      let polled = false;
      for (let i = 0; i < 100 && !polled; i++) {
        const { pollers } = await connection.workflowService.describeTaskQueue({
          namespace: config.temporal.namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: 1,
        });
        polled = (pollers ?? []).length > 0;
        if (!polled) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(polled, 'the stuck poller is listed');
      const shown = await runCli(['show', productId, '--json'], env);
      assert.equal(shown.code, 3, shown.stderr);
      const { error } = envelopeOf(shown);
      assert.equal(error.type, 'timeout');
      assert.match(error.message, new RegExp(`no answer to the query of ${productId} within 2s`));
      assert.match(error.hint ?? '', /MESHLOOP_CLI_TIMEOUT/);
    } finally {
      abort.abort();
      await stuck;
    }
  });

  it('discover --pause without a schedule says there is none, not "workflow not found"', async () => {
    // A namespace of this test's own, where no discovery schedule exists.
    const namespace = 'meshloop-cli-test';
    await connection.workflowService
      .registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
      })
      .catch((error: Error) => {
        if (!/already/i.test(error.message)) throw error;
      });
    const nsEnv = { ...env, TEMPORAL_NAMESPACE: namespace, MESHLOOP_TEMPORAL_NAMESPACE: namespace };
    const status = await runCli(['discover', '--status', '--json'], nsEnv);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout), null);
    const paused = await runCli(['discover', '--pause'], nsEnv);
    assert.equal(paused.code, 1, paused.stderr);
    assertPlainError(paused, /there is no discovery schedule to pause/);
    assert.doesNotMatch(paused.stderr, /workflow not found/i);
    const json = await runCli(['discover', '--pause', '--json'], nsEnv);
    assert.equal(envelopeOf(json).error.type, 'not-found');
    const both = await runCli(['discover', '--pause', '--resume', '--json'], nsEnv);
    assert.equal(both.code, 2);
  });
});

import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stringify as toYaml } from 'yaml';
import { startSlackFromConfig } from '../../src/cli/slack-commands';
import { proposeProduct } from '../../src/cli/product-commands';
import type { MeshloopConfig } from '../../src/config';
import { loadConfig, temporalConnectOptions } from '../../src/config';
import { parseSpec, workflowIdOf } from '../../src/domain/spec';
import { createKafkaClient } from '../../src/adapters/kafka/client';
import { createLogger } from '../../src/log';
import { seedKafka } from '../../src/seed/seed';
import { newSigningKey, writeSigningKeyFile } from '../../src/signing/keys';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { approveSignal, getStatusQuery } from '../../workflows/definitions';
import type { RunningWorker } from '../../workers/orchestration';
import { startOrchestrationWorker } from '../../workers/orchestration';
import { FakeSlack } from '../helpers/fake-slack';
import { testEnvironment, testPlatform } from '../helpers/platform';
import { runCli } from '../helpers/processes';

const CHANNEL = 'C0ORDERS';
/** The seeded orders these products read: a topic of this run's own. */
const ordersTopic = `sl${randomUUID().slice(0, 8)}.orders.orders`;
const SECRET = 'integration-signing-secret';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function click(port: number, user: string, productId: string, secret = SECRET): Promise<number> {
  const payload = {
    type: 'block_actions',
    user: { id: user, team_id: 'T0001' },
    team: { id: 'T0001' },
    api_app_id: 'A0001',
    token: 'x',
    trigger_id: `t-${randomUUID()}`,
    channel: { id: CHANNEL },
    container: { type: 'message', channel_id: CHANNEL, message_ts: '1.0' },
    actions: [
      {
        type: 'button',
        action_id: 'meshloop_approve',
        block_id: 'meshloop_review',
        value: JSON.stringify({ productId, revision: 1 }),
        action_ts: '1',
      },
    ],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = 'v0=' + createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  const response = await fetch(`http://127.0.0.1:${port}/slack/interactions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': signature,
    },
    body,
  });
  return response.status;
}

describe('approvals with signing required, end to end (real platform, worker, Slack app, fake Slack API)', function () {
  this.timeout(300_000);
  let connection: Connection;
  let client: Client;
  let workDir: string;
  let config: MeshloopConfig;
  let worker: RunningWorker | undefined;
  let slackApp: Awaited<ReturnType<typeof startSlackFromConfig>> | undefined;
  const slack = new FakeSlack();
  const taskQueue = `slack-e2e-${randomUUID()}`;
  let cliEnv: Record<string, string>;

  before(async function () {
    this.timeout(15 * 60_000);
    const platform = await testPlatform();
    const kafka = createKafkaClient({ connection: platform.kafka, clientId: 'slack-e2e-test' });
    await seedKafka(kafka, {
      count: 50,
      topicPrefix: ordersTopic.replace('orders.orders', ''),
      only: ['orders'],
    });
    connection = await Connection.connect(temporalConnectOptions(platform.temporal.connection));
    client = new Client({ connection, namespace: platform.temporal.namespace });
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'meshloop-slack-'));
    const alice = newSigningKey({ id: 'alice-laptop', approver: 'alice' });
    const app = newSigningKey({ id: 'slack-app', slackApp: true });
    await writeSigningKeyFile(path.join(workDir, 'alice.json'), alice.fileText);
    await writeSigningKeyFile(path.join(workDir, 'slack.json'), app.fileText);
    const ops = newSigningKey({ id: 'ops-key', operator: 'ops' });
    await writeSigningKeyFile(path.join(workDir, 'ops.json'), ops.fileText);
    await fs.writeFile(
      path.join(workDir, 'mesh.yaml'),
      toYaml({
        approvals: { signing: 'required', keys: [alice.key.trusted, app.key.trusted, ops.key.trusted] },
        slack: { users: { U0ALICE: 'alice' } },
        domains: { orders: { approvers: ['alice', 'bob'], operators: ['ops'], slackChannel: CHANNEL } },
      }),
    );
    await slack.start();
    const env = {
      ...testEnvironment(),
      MESHLOOP_MESH_FILE: path.join(workDir, 'mesh.yaml'),
      MESHLOOP_TASK_QUEUE: taskQueue,
      MESHLOOP_SLACK_BOT_TOKEN: 'xoxb-test',
      MESHLOOP_SLACK_SIGNING_SECRET: SECRET,
      MESHLOOP_SLACK_PORT: String(await freePort()),
      MESHLOOP_SLACK_API_URL: slack.url,
      MESHLOOP_SLACK_KEY_FILE: path.join(workDir, 'slack.json'),
    };
    config = loadConfig(env);
    cliEnv = {
      MESHLOOP_MESH_FILE: env.MESHLOOP_MESH_FILE,
      MESHLOOP_TASK_QUEUE: taskQueue,
      MESHLOOP_SIGNING_KEY_FILE: path.join(workDir, 'alice.json'),
    };
    const log = createLogger('slack-e2e', 'error');
    worker = await startOrchestrationWorker(config, log, { taskQueue });
    slackApp = await startSlackFromConfig(config, log);
  });

  after(async () => {
    await slackApp?.close();
    await worker?.shutdown();
    await slack.stop();
    await connection?.close();
    await fs.rm(workDir, { recursive: true, force: true });
  });

  /** A product over this run's seeded orders: going active means its Flink job really runs. */
  function spec(name: string) {
    return parseSpec({
      name,
      domain: 'orders',
      owner: 'alice',
      description: 'Orders as placed, for everyone who needs them.',
      kind: 'source-aligned',
      inputs: [
        {
          topic: ordersTopic,
          as: 'orders',
          schema: {
            fields: [
              { name: 'order_id', type: 'string' },
              { name: 'order_ts', type: 'timestamp' },
            ],
            eventTimeField: 'order_ts',
          },
        },
      ],
      sql: 'SELECT order_id, order_ts AS created_at FROM orders WHERE order_id IS NOT NULL',
      outputTopic: { partitions: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      schema: {
        fields: [
          { name: 'order_id', type: 'string', nullable: false },
          { name: 'created_at', type: 'timestamp', nullable: false },
        ],
        key: ['order_id'],
        eventTimeField: 'created_at',
      },
    });
  }

  async function waitFor(
    productId: string,
    ready: (status: ProductStatus) => boolean,
  ): Promise<ProductStatus> {
    let last: ProductStatus | undefined;
    const outcome = await waitUntil(
      async () => {
        last = await client.workflow
          .getHandle(workflowIdOf(productId))
          .query(getStatusQuery)
          .catch(() => undefined);
        return last !== undefined && ready(last);
      },
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    assert.equal(
      outcome,
      'ready',
      `last status: ${JSON.stringify(last && { stage: last.stage, ignored: last.ignored })}`,
    );
    return last!;
  }

  it('the proposal is posted; a Temporal UI signal and a forged click cannot approve; a signed click makes it active', async () => {
    const name = `slack_${randomUUID().slice(0, 8)}`;
    const { productId } = await proposeProduct(client, config, spec(name), { taskQueue });
    await waitFor(productId, (s) => s.stage === 'awaitingApproval');
    const posted = () =>
      slack.topLevel(CHANNEL).filter((m) => m.metadata?.event_payload.product_id === productId);
    assert.equal(
      await waitUntil(() => Promise.resolve(posted().length === 1), { timeoutMs: 20_000, intervalMs: 100 }),
      'ready',
    );

    await client.workflow.getHandle(workflowIdOf(productId)).signal(approveSignal, { by: 'alice' });
    const refused = await waitFor(productId, (s) => s.ignored.length === 1);
    assert.equal(refused.stage, 'awaitingApproval');
    assert.match(refused.ignored[0]!.reason, /requires signed approvals/);

    assert.equal(await click(slackApp!.port, 'U0ALICE', productId, 'forged-secret'), 401);
    assert.equal(await click(slackApp!.port, 'U0ALICE', productId), 200);
    const active = await waitFor(productId, (s) => s.stage === 'active');
    const approval = active.decisions.find((d) => d.action === 'approve');
    assert.deepEqual([approval?.by, approval?.via, approval?.keyId], ['alice', 'slack', 'slack-app']);
    assert.equal(active.resources[0]?.name, productId);
    assert.equal(
      await waitUntil(() => Promise.resolve(JSON.stringify(posted()[0]?.blocks ?? []).includes('*active*')), {
        timeoutMs: 20_000,
        intervalMs: 100,
      }),
      'ready',
    );
  });

  it('the CLI signs with the approver key it is given; without it the approval is refused', async () => {
    const name = `cli_${randomUUID().slice(0, 8)}`;
    const { productId } = await proposeProduct(client, config, spec(name), { taskQueue });
    await waitFor(productId, (s) => s.stage === 'awaitingApproval');

    const unsigned = await runCli(['approve', productId, '--by', 'alice'], {
      ...cliEnv,
      MESHLOOP_SIGNING_KEY_FILE: '',
      HOME: workDir, // no default key there
    });
    assert.notEqual(unsigned.code, 0);
    assert.match(unsigned.stderr, /requires signed approvals/);
    const asBob = await runCli(['approve', productId, '--by', 'bob'], cliEnv);
    // Refused, naming no one (not the key's holder).
    assert.match(asBob.stderr, /the signing key may not sign this review for this sender/);
    assert.doesNotMatch(asBob.stderr, /alice/);

    const signed = await runCli(['approve', productId, '--by', 'alice', '--comment', 'signed'], cliEnv);
    assert.equal(signed.code, 0, signed.stderr);
    const active = await waitFor(productId, (s) => s.stage === 'active');
    const approval = active.decisions.find((d) => d.action === 'approve');
    assert.deepEqual([approval?.by, approval?.via, approval?.keyId], ['alice', 'cli', 'alice-laptop']);

    // Operator acts need an operator key: the approver's key cannot retire it; the operator's can.
    const byApproverKey = await runCli(['retire', productId, '--by', 'ops'], cliEnv);
    assert.notEqual(byApproverKey.code, 0);
    assert.match(byApproverKey.stderr, /refused: the signing key may not sign this act for this sender/);
    const opsKey = path.join(workDir, 'ops.json');
    const retired = await runCli(['retire', productId, '--by', 'ops', '--key', opsKey], cliEnv);
    assert.equal(retired.code, 0, retired.stderr);
    assert.equal((await waitFor(productId, (s) => s.stage === 'retired')).stage, 'retired');
  });
});

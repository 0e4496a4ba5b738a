import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { translatingFailures } from '../../activities/failures';
import { createMaterializationActivities } from '../../activities/materialize';
import type { MaterializationInput } from '../../activities/materialize';
import { TableflowClient } from '../../src/adapters/tableflow/client';
import type { MeshloopConfig } from '../../src/config';
import { productIdOf } from '../../src/domain/spec';
import { createLogger } from '../../src/log';
import { TableflowMaterializer } from '../../src/materialize/tableflow';
import { FakeConfluentCloud } from '../helpers/fake-confluent';
import { testPlatform } from '../helpers/platform';
import { validSpec } from '../helpers/specs';
import type { materializeOnceWorkflow } from '../fixtures/workflows/materialize-once';
import { temporalConnectOptions } from '../../src/config';

describe('Tableflow provider against a fake Confluent Cloud API', function () {
  this.timeout(120_000);
  let fake: FakeConfluentCloud;
  const ids = { environmentId: 'env-m3sh', kafkaClusterId: 'lkc-m3sh' };
  const log = createLogger('tableflow-test', 'warn');

  const activitiesWith = (secret: string) =>
    translatingFailures(
      createMaterializationActivities({
        materializers: {
          tableflow: new TableflowMaterializer({
            client: new TableflowClient({ apiUrl: fake.url, apiKey: fake.apiKey, apiSecret: secret, ...ids }),
          }),
        },
        defaults: { provider: 'tableflow', errorMode: 'suspend', commitIntervalMs: 60_000, catalog: 'lake' },
        log,
      }),
    );

  const input = (overrides: Record<string, unknown> = {}): MaterializationInput => {
    const spec = validSpec({
      name: `tf_${randomUUID().slice(0, 8)}`,
      materialization: { errorMode: 'log', snapshotRetention: '3d' },
      ...overrides,
    });
    return { productId: productIdOf(spec), revision: 1, spec };
  };

  beforeEach(async () => {
    fake = await FakeConfluentCloud.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('enables Tableflow on activation with the spec settings, treats 409 as success, disables on retirement', async () => {
    const activities = activitiesWith(fake.apiSecret);
    const product = input();
    const topic = product.spec.outputTopic.name;

    const first = await runActivity(() => activities.startMaterialization(product));
    assert.deepEqual([first.provider, first.id, first.started], ['tableflow', topic, true]);
    const resource = fake.topics.get(`${ids.environmentId}/${ids.kafkaClusterId}/${topic}`);
    assert.ok(resource, 'the fake holds the enabled topic');
    assert.deepEqual(resource.spec.table_formats, ['ICEBERG']);
    assert.equal(resource.spec.config.retention_ms, String(3 * 86_400_000));
    assert.deepEqual(resource.spec.config.error_handling, { mode: 'LOG', log_target: `${topic}_dlq` });
    assert.ok(fake.calls.every((call) => call.authorized));

    // Enabled again (a retried activity): the API answers 409, which is success, not a failure.
    const again = await runActivity(() => activities.startMaterialization(product));
    assert.equal(again.started, false);
    assert.deepEqual(
      fake.calls.map((call) => call.method),
      ['POST', 'POST', 'PATCH'],
    );

    const described = await runActivity(() => activities.describeIcebergTable(product));
    assert.equal(described.provider, 'tableflow');
    assert.equal(described.state, 'PENDING');
    assert.equal(described.suspendedAt, undefined);

    assert.deepEqual(await runActivity(() => activities.stopMaterialization(product)), { stopped: true });
    assert.equal(fake.topics.size, 0);
    // Retiring twice is harmless: the topic is not enabled any more (404 → not stopped, no error).
    assert.deepEqual(await runActivity(() => activities.stopMaterialization(product)), { stopped: false });
    assert.equal((await runActivity(() => activities.describeIcebergTable(product))).state, 'NOT_FOUND');
  });

  it('turns a 401 into a clear non-retryable failure without the secret', async () => {
    const secret = 'wrong-secret-value-42';
    const failure = await runActivity(() => activitiesWith(secret).startMaterialization(input())).then(
      () => assert.fail('a wrong key must fail'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.type, 'TableflowUnauthorized');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /401/);
    assert.match(failure.message, /CONFLUENT_CLOUD_API_KEY/);
    assert.doesNotMatch(failure.message, new RegExp(secret));
    assert.deepEqual(
      fake.calls.map((call) => [call.method, call.authorized]),
      [['POST', false]],
    );
  });

  describe('through a Temporal worker', () => {
    let config: MeshloopConfig;
    before(async function () {
      this.timeout(15 * 60_000);
      config = await testPlatform();
    });

    async function runWorkflow(secret: string, product: MaterializationInput) {
      const connection = await Connection.connect(temporalConnectOptions(config.temporal.connection));
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const taskQueue = `tableflow-${randomUUID()}`;
      const worker = await Worker.create({
        connection: await NativeConnection.connect(temporalConnectOptions(config.temporal.connection)),
        namespace: config.temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../fixtures/workflows/materialize-once'),
        activities: activitiesWith(secret),
      });
      try {
        return await worker.runUntil(
          client.workflow.execute<typeof materializeOnceWorkflow>('materializeOnceWorkflow', {
            taskQueue,
            workflowId: `tableflow-${randomUUID()}`,
            args: [product],
          }),
        );
      } finally {
        await connection.close();
      }
    }

    it('retries 503 answers until Tableflow is enabled', async () => {
      fake.failNext.push(503, 503);
      const product = input();
      const result = await runWorkflow(fake.apiSecret, product);
      assert.deepEqual(result, { started: true, id: product.spec.outputTopic.name });
      assert.deepEqual(
        fake.calls.map((call) => call.method),
        ['POST', 'POST', 'POST'],
      );
      assert.equal(fake.topics.size, 1);
    });

    it('does not retry a 401: the workflow sees TableflowUnauthorized after one request', async () => {
      const failure = await runWorkflow('bad-secret', input()).then(
        () => assert.fail('must fail'),
        (error: unknown) => error,
      );
      assert.ok(failure instanceof WorkflowFailedError);
      const cause = failure.cause?.cause;
      assert.ok(cause instanceof ApplicationFailure, String(failure.cause));
      assert.equal(cause.type, 'TableflowUnauthorized');
      assert.equal(fake.calls.length, 1);
    });
  });
});

/** Activities read Context.current() for logs; outside a worker, run them in a mock context. */
async function runActivity<T>(fn: () => Promise<T>): Promise<T> {
  const { MockActivityEnvironment } = await import('@temporalio/testing');
  return new MockActivityEnvironment().run(fn);
}

import assert from 'node:assert/strict';
import { translatingFailures } from '../../activities/failures';
import { createMaterializationActivities } from '../../activities/materialize';
import { TableflowClient } from '../../src/adapters/tableflow/client';
import { createLogger } from '../../src/log';
import { TableflowMaterializer } from '../../src/materialize/tableflow';
import { approveSignal, deprecateUpdate, retireUpdate } from '../../workflows/definitions';
import { FakeConfluentCloud } from '../helpers/fake-confluent';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/**
 * A product whose spec picks Tableflow: its workflow drives the real materialization activities
 * against a fake Confluent Cloud API on 127.0.0.1 (HTTP basic auth, Tableflow's resource shapes, 4xx
 * and 5xx answers). The product's other activities are faked.
 */
describe('dataProductWorkflow with the Tableflow provider (fake Confluent Cloud API)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;
  let fake: FakeConfluentCloud;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
    fake = await FakeConfluentCloud.start();
  });

  after(async () => {
    await fake?.close();
    await context?.close();
  });

  function tableflowActivities() {
    const ids = { environmentId: 'env-m3sh', kafkaClusterId: 'lkc-m3sh' };
    return translatingFailures(
      createMaterializationActivities({
        materializers: {
          tableflow: new TableflowMaterializer({
            client: new TableflowClient({
              apiUrl: fake.url,
              apiKey: fake.apiKey,
              apiSecret: fake.apiSecret,
              ...ids,
            }),
          }),
        },
        // The mesh's default is Flink; the spec picks Tableflow.
        defaults: { provider: 'flink', errorMode: 'suspend', commitIntervalMs: 60_000, catalog: 'lake' },
        log: createLogger('tableflow-workflow-test', 'error'),
      }),
    );
  }

  it('enables Tableflow on activation (a 503 retried), suspends with the product, keeps it while deprecated, disables it on retirement', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 200 });
    fakes.replaced = tableflowActivities();
    const spec = uniqueProduct({
      sql: 'SELECT day, revenue FROM placed',
      materialization: { provider: 'tableflow', errorMode: 'suspend', snapshotRetention: '3d' },
    });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      fake.failNext.push(503);
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'), 30_000);
      const topic = active.spec.outputTopic.name;
      const enables = fake.calls.filter((c) => c.method === 'POST');
      assert.equal(enables.length, 2, 'the 503 was retried');
      assert.ok(enables.every((c) => c.authorized));
      assert.equal(active.materialization?.provider, 'tableflow');
      assert.equal(active.materialization?.jobName, topic);
      assert.equal(active.materialization?.state, 'PENDING');
      assert.ok(active.resources.some((r) => r.kind === 'icebergTable'));
      assert.ok(!active.resources.some((r) => r.name.startsWith('meshloop-materialize:')), 'no Flink job');

      // Tableflow suspends the topic (a record it cannot convert): the product is degraded with it.
      const resource = [...fake.topics.values()].find((r) => r.spec.display_name === topic);
      assert.ok(resource);
      resource.spec.suspended = true;
      resource.status = {
        ...resource.status,
        phase: 'SUSPENDED',
        error_message: 'Failed to deserialize record at offset 7',
      };
      const degraded = await waitForStatus(handle, (s) => s.stage === 'degraded');
      assert.equal(degraded.degradedBy, 'table');
      assert.match(degraded.lastError?.message ?? '', /Failed to deserialize record at offset 7/);
      assert.equal(fake.calls.filter((c) => c.method === 'DELETE').length, 0, 'suspension does not disable');

      await handle.executeUpdate(deprecateUpdate, { args: [{ by: 'ops' }] });
      await waitForStatus(handle, stageIs('deprecated'));
      assert.equal(fake.calls.filter((c) => c.method === 'DELETE').length, 0, 'a deprecated table stays');

      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      const result = await handle.result();
      assert.equal(result.stage, 'retired');
      assert.deepEqual(
        fake.calls.filter((c) => c.method === 'DELETE').map((c) => c.path),
        [`/tableflow/v1/tableflow-topics/${topic}`],
      );
      assert.equal(
        [...fake.topics.values()].some((r) => r.spec.display_name === topic),
        false,
      );
    });
  });
});

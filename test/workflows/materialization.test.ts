import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import {
  approveSignal,
  deprecateUpdate,
  redeployUpdate,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  refusal,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/**
 * Every active product lands in its Iceberg table, through its workflow (fake activities): the
 * table is created and its materialization started once the product's job runs, the watch timer
 * looks at the table (a `suspend` product's bad record degrades it until a redeploy), amendments
 * evolve the table or are refused, and deprecation and retirement stop both jobs. The activities
 * themselves run against the real platform in test/integration.
 */

const snapshot = (id: string, rows: number) => ({
  snapshotId: id,
  rowCount: rows,
  lastCommitAt: '2026-12-01T04:00:00.000Z',
  freshnessMs: 1000,
  snapshots: Number(id),
});

describe('dataProductWorkflow materialization (real Temporal server, fake activities)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('creates the table and starts its materialization once the job runs; the watch publishes new snapshots without recording decisions; retirement stops both jobs', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 200 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));
      const productId = active.productId;

      const order = fakes.calls
        .map((call) => call.name)
        .filter((name) =>
          ['deployProductJob', 'describeProductJob', 'createIcebergTable', 'startMaterialization'].includes(
            name,
          ),
        );
      assert.deepEqual(order.slice(0, 4), [
        'deployProductJob',
        'describeProductJob',
        'createIcebergTable',
        'startMaterialization',
      ]);
      const table = `lake.orders.${spec.name}`;
      assert.deepEqual(
        active.resources.filter((r) => r.kind === 'icebergTable').map((r) => [r.name, r.id, r.created]),
        [[table, `uuid-${spec.name}`, true]],
      );
      assert.ok(
        active.resources.some(
          (r) => r.kind === 'flinkJob' && r.name === `meshloop-materialize:${productId}:r1`,
        ),
      );
      assert.equal(active.materialization?.jobName, `meshloop-materialize:${productId}:r1`);
      assert.equal(active.materialization?.writeMode, 'append');
      assert.match(active.decisions.at(-1)?.comment ?? '', new RegExp(`table ${table} created`));
      const provisioned = fakes.callsOf('publishCatalogDescriptor').at(-1)?.descriptor;
      assert.equal(provisioned?.stage, 'active');
      assert.equal(provisioned?.table?.table, table);

      // The table commits: the watch notes the snapshot and the catalog gets it, no decision.
      const decisionsBefore = active.decisionCount;
      fakes.tableStatus = { table: { table, provider: 'flink', ...snapshot('2', 40) } };
      const looked = await waitForStatus(handle, (s) => s.materialization?.status?.snapshotId === '2');
      assert.equal(looked.materialization?.status?.rowCount, 40);
      await waitForStatus(handle, () =>
        fakes.callsOf('publishCatalogDescriptor').some((call) => call.descriptor.table?.snapshotId === '2'),
      );
      const published = fakes.callsOf('publishCatalogDescriptor').length;
      const looks = fakes.callsOf('describeIcebergTable').length;
      await waitForStatus(handle, () => fakes.callsOf('describeIcebergTable').length >= looks + 3);
      assert.equal(
        fakes.callsOf('publishCatalogDescriptor').length,
        published,
        'an unchanged table publishes nothing',
      );
      const quiet = await waitForStatus(handle, stageIs('active'));
      assert.equal(quiet.decisionCount, decisionsBefore, 'looks at the table record no decisions');

      await handle.executeUpdate(retireUpdate, { args: [{ by: 'ops' }] });
      const result = await handle.result();
      assert.equal(result.stage, 'retired');
      assert.deepEqual(
        fakes.callsOf('stopProductJob').map((call) => call.revision),
        [1],
      );
      assert.deepEqual(
        fakes.callsOf('stopMaterialization').map((call) => call.revision),
        [1],
      );
      assert.equal(result.materialization?.savepoint, `file:///savepoints/${productId}-materialize-r1`);
      assert.match(result.decisions.at(-1)?.comment ?? '', /materialization .* stopped with savepoint/);
      await recordHistory(handle, 'table-created-then-retired');
    });
  });

  it('suspend: a bad record stops the materialization and degrades the product with its coordinates; the job running does not recover it, a redeploy does', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 200 });
    const spec = uniqueProduct({
      sql: 'SELECT day, revenue FROM placed',
      materialization: { errorMode: 'suspend' },
    });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));
      const topic = active.spec.outputTopic.name;

      const bad = { topic, partition: 1, offset: 42, error: 'revenue: not a decimal' };
      fakes.tableStatus = { badRecords: 1, suspendedAt: bad };
      const degraded = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(degraded.degradedBy, 'table');
      assert.equal(degraded.lastError?.type, 'TableSuspended');
      assert.match(
        degraded.lastError?.message ?? '',
        new RegExp(`${topic} partition 1 offset 42: revenue: not a decimal`),
      );
      assert.deepEqual(degraded.materialization?.suspendedAt, bad);
      assert.deepEqual(
        fakes.callsOf('stopMaterialization').map((call) => call.revision),
        [1],
      );

      // The product's own job runs fine all along: that does not recover a suspended table.
      const looks = fakes.callsOf('describeProductJob').length;
      await waitForStatus(handle, () => fakes.callsOf('describeProductJob').length >= looks + 3);
      const still = await waitForStatus(handle, stageIs('degraded'));
      assert.equal(still.decisions.filter((d) => d.action === 'degrade').length, 1, 'degraded once');
      assert.equal(fakes.callsOf('stopMaterialization').length, 1, 'stopped once');

      // An operator redeploys: the materialization resumes from the suspension's savepoint, and the
      // bad record already in the dead-letter table does not suspend it again.
      await handle.executeUpdate(redeployUpdate, { args: [{ by: 'ops', comment: 'producer fixed' }] });
      const recovered = await waitForStatus(
        handle,
        (s) => s.stage === 'active' && s.decisions.at(-1)?.action === 'provision',
      );
      assert.equal(recovered.degradedBy, undefined);
      assert.equal(recovered.materialization?.acknowledgedBadRecords, 1);
      assert.equal(recovered.materialization?.suspendedAt, undefined);
      assert.deepEqual(
        fakes.callsOf('startMaterialization').map((call) => call.savepoint),
        [undefined, `file:///savepoints/${active.productId}-materialize-r1`],
      );
      const afterRedeploy = fakes.callsOf('describeIcebergTable').length;
      await waitForStatus(handle, () => fakes.callsOf('describeIcebergTable').length >= afterRedeploy + 3);
      assert.equal((await waitForStatus(handle, () => true)).stage, 'active');

      // A new bad record suspends it again.
      fakes.tableStatus = { badRecords: 2, suspendedAt: bad };
      await waitForStatus(handle, (s) => s.stage === 'degraded' && s.degradedBy === 'table');
      await recordHistory(handle, 'table-suspended-then-redeployed');
    });
  });

  it('an amendment adding a nullable field evolves the table and restarts the materialization from its savepoint; dropping a field is refused before approval', async () => {
    const fakes = fakesWith({ jobWatchIntervalMs: 300 });
    const spec = uniqueProduct({ sql: 'SELECT day, revenue FROM placed' });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));

      const dropped = { ...spec, schema: { ...spec.schema, fields: [{ name: 'day', type: 'date' }] } };
      const refused = await refusal(
        handle.executeUpdate(reviewUpdate, {
          args: [{ action: 'requestChanges', by: 'bob', amendedSpec: dropped }],
        }),
      );
      assert.equal(refused.type, 'SchemaIncompatible');
      assert.match(refused.message, /'revenue' is dropped/);

      const widened = {
        ...spec,
        sql: 'SELECT day, revenue, channel FROM placed',
        schema: {
          ...spec.schema,
          fields: [...spec.schema.fields, { name: 'channel', type: 'string', nullable: true }],
        },
      };
      await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'requestChanges', by: 'bob', amendedSpec: widened }],
      });
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      const second = await waitForStatus(
        handle,
        (s) => s.stage === 'active' && s.materialization?.revision === 2,
      );
      assert.match(second.decisions.at(-1)?.comment ?? '', /found with new columns channel/);
      assert.deepEqual(
        fakes.callsOf('stopMaterialization').map((call) => call.revision),
        [1],
      );
      assert.deepEqual(
        fakes.callsOf('startMaterialization').map((call) => [call.revision, call.savepoint]),
        [
          [1, undefined],
          [2, `file:///savepoints/${active.productId}-materialize-r1`],
        ],
      );
      assert.deepEqual(
        second.materialization?.schema.fields.map((f) => f.name),
        ['day', 'revenue', 'channel'],
      );

      // Deprecation stops the materialization too (Flink), once.
      await handle.executeUpdate(deprecateUpdate, { args: [{ by: 'ops' }] });
      await waitForStatus(
        handle,
        (s) => s.stage === 'deprecated' && s.materialization?.savepoint !== undefined,
      );
      assert.deepEqual(
        fakes.callsOf('stopMaterialization').map((call) => call.revision),
        [1, 2],
      );
      await recordHistory(handle, 'table-evolved-then-deprecated');
    });
  });

  it('a materialization that cannot start fails provisioning with the reason; an operator’s retry (once the cause is fixed) starts it', async () => {
    const fakes = fakesWith();
    fakes.materializationFailures = [
      ApplicationFailure.nonRetryable(
        "materialization.provider: 'tableflow' is not configured on this worker",
        'InvalidSpec',
      ),
    ];
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct({ sql: 'SELECT day, revenue FROM placed' })));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const failed = await waitForStatus(handle, stageIs('failed'));
      assert.equal(failed.lastError?.type, 'InvalidSpec');
      assert.match(failed.lastError?.message ?? '', /'tableflow' is not configured/);
      assert.equal(failed.materialization, undefined);

      await handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: 'ops', comment: 'keys set' }] });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.materialization?.revision, 1);
      assert.equal(fakes.callsOf('startMaterialization').length, 2);
    });
  });
});

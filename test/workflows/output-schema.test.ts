import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import {
  amendSpecUpdate,
  approveSignal,
  retryProvisioningUpdate,
  reviewUpdate,
} from '../../workflows/definitions';
import {
  FakeActivities,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

/**
 * A product's output schema in the workflow, with the registry activities faked (they run against
 * Apicurio Registry in test/integration/output-schema.test.ts): registered at provisioning, and
 * each revision tested before its approvers see it.
 */

const REASON = 'Subschema type changed at /properties/revenue';

describe('dataProductWorkflow output schema (real Temporal server, fake activities)', function () {
  this.timeout(60_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
  });

  after(async () => {
    await context?.close();
  });

  it('an amendment the registry refuses goes back with its reason; a compatible one is approved and registered', async () => {
    const fakes = new FakeActivities();
    const spec = uniqueProduct();
    const subject = `orders.${spec.name}-value`;
    // The topic's subject holds a version already (an earlier product wrote the topic).
    fakes.schemaVersions.set(subject, [0]);
    const fields = (spec.schema as { fields: object[] }).fields;
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(spec));
      await waitForStatus(handle, stageIs('awaitingApproval'));

      // Revision 2 changes revenue's type: the registry refuses it, so no approver is asked.
      fakes.schemaRefusals.set(2, [REASON]);
      const retyped = {
        ...spec,
        schema: { ...spec.schema, fields: [fields[0], { name: 'revenue', type: 'string' }] },
      };
      await handle.executeUpdate(reviewUpdate, {
        args: [{ action: 'requestChanges', by: 'bob', amendedSpec: retyped }],
      });
      const refused = await waitForStatus(handle, (s) => s.revision === 2 && s.stage === 'changesRequested');
      assert.equal(refused.lastError?.type, 'SchemaIncompatible');
      assert.ok(
        refused.lastError?.message.includes(`under ${subject} (BACKWARD, against version 1): ${REASON}`),
        refused.lastError?.message,
      );
      const refusal = refused.decisions.at(-1);
      assert.deepEqual(
        [refusal?.action, refusal?.by, refusal?.stage, refusal?.revision],
        ['policyCheck', 'meshloop', 'changesRequested', 2],
      );
      assert.ok(refusal?.comment?.includes(REASON));
      assert.deepEqual(
        fakes.callsOf('checkProductSql').map((call) => call.revision),
        [1],
        'the SQL guard is not asked about a revision the registry refused',
      );

      // Revision 3 adds a nullable field: the registry takes it; approved, it is registered.
      const widened = {
        ...spec,
        schema: { ...spec.schema, fields: [...fields, { name: 'orders', type: 'long' }] },
      };
      const amended = await handle.executeUpdate(amendSpecUpdate, {
        args: [{ by: spec.owner, spec: widened }],
      });
      assert.equal(amended.revision, 3);
      const waiting = await waitForStatus(handle, (s) => s.revision === 3 && s.stage === 'awaitingApproval');
      assert.equal(waiting.lastError, undefined, 'the refusal of revision 2 is cleared');
      assert.equal(fakes.callsOf('registerOutputSchema').length, 0, 'nothing is registered before approval');
      await handle.executeUpdate(reviewUpdate, { args: [{ action: 'approve', by: 'alice' }] });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.deepEqual(active.outputSchema, {
        subject,
        id: 102,
        version: 2,
        compatibility: 'BACKWARD',
        revision: 3,
        registered: true,
      });
      assert.deepEqual(
        fakes.callsOf('checkOutputSchemaCompatibility').map((call) => call.revision),
        [1, 2, 3],
      );
      assert.deepEqual(
        fakes.callsOf('registerOutputSchema').map((call) => call.revision),
        [3],
      );
      await recordHistory(handle, 'amendment-refused-by-schema-registry');
    });
  });

  it('waits for a registry that does not answer before asking the approvers', async () => {
    const fakes = new FakeActivities();
    fakes.schemaCheckFailures.push(
      ApplicationFailure.retryable(
        'Schema Registry: no answer; check MESHLOOP_SCHEMA_REGISTRY_URL',
        'UpstreamUnavailable',
      ),
    );
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const waiting = await waitForStatus(handle, stageIs('awaitingApproval'));
      assert.equal(fakes.callsOf('checkOutputSchemaCompatibility').length, 2, 'asked again, not refused');
      assert.equal(waiting.lastError, undefined);
    });
  });

  it('a registration the registry refuses fails provisioning with its reason; a retry registers once and goes on', async () => {
    const fakes = new FakeActivities();
    const message = `the Schema Registry refused the output schema under x-value (BACKWARD): ${REASON}`;
    fakes.schemaRegistrationFailures.push(
      ApplicationFailure.create({ type: 'SchemaIncompatible', message, nonRetryable: true }),
    );
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      await waitForStatus(handle, stageIs('awaitingApproval'));
      await handle.signal(approveSignal, { by: 'alice' });
      const failed = await waitForStatus(handle, stageIs('failed'));
      assert.deepEqual(failed.lastError && [failed.lastError.type, failed.lastError.message], [
        'SchemaIncompatible',
        message,
      ]);
      assert.equal(fakes.callsOf('deployProductJob').length, 0, 'no job writes records the registry refused');
      await handle.executeUpdate(retryProvisioningUpdate, { args: [{ by: 'ops' }] });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.outputSchema?.version, 1);
      assert.equal(fakes.callsOf('registerOutputSchema').length, 2);
    });
  });
});

import * as wf from '@temporalio/workflow';
import { Stage } from '../../src/domain/lifecycle';
import { descriptorOf, jobSeen, SYSTEM, withResource } from '../../src/domain/product-state';
import { deployRevision, waitUntilRunning } from './job';
import type { Product } from './product';
import { nowIso, thisRun } from './product';
import { describeActivityFailure, provisioning } from './proxies';
import type { TableDeployment } from './table';
import { materializeRevision } from './table';

/**
 * Provisioning: the output topic, the SQL guard once more, the output schema in the Schema
 * Registry, the Flink job, the table and the catalog. The product is active only once its job
 * runs; a job without a slot leaves it degraded.
 */
export async function provision(product: Product): Promise<void> {
  const state = product.state;
  const spec = state.spec;
  const input = product.jobInput();
  const observed = product.observe();
  try {
    const topic = await provisioning.createKafkaTopic({
      productId: product.productId,
      topic: { ...spec.outputTopic },
    });
    state.resources = withResource(state.resources, {
      kind: 'kafkaTopic',
      name: topic.topic,
      created: topic.created,
      at: nowIso(),
    });
    const check = await provisioning.checkProductSql(input);
    if (!check.ok) {
      state.sqlProblems = [...check.problems];
      throw wf.ApplicationFailure.create({
        type: 'SqlRefused',
        message: `the SQL guard refused the SQL before deployment: ${check.problems.join('; ')}`,
        nonRetryable: true,
      });
    }
    state.lineage = [...check.lineage];
    // The output schema, under BACKWARD, before a job writes records (histories from before skip it).
    if (wf.patched('output-schema-registration')) {
      const schema = await provisioning.registerOutputSchema(input);
      if (schema) state.outputSchema = schema;
    }
    const { deployed, startedFrom } = await deployRevision(input, state.job);
    state.resources = withResource(state.resources, {
      kind: 'flinkJob',
      name: deployed.jobName,
      id: deployed.jobId,
      ...(deployed.url ? { url: deployed.url } : {}),
      created: deployed.started,
      at: nowIso(),
    });
    const look = await waitUntilRunning(input);
    state.job = jobSeen(
      product.productId,
      state,
      look.status,
      { name: deployed.jobName, url: deployed.url, savepoint: undefined },
      nowIso(),
    );
    if (!look.health.healthy && look.health.settled && !look.status.waitingForSlot) {
      throw wf.ApplicationFailure.create({
        type: 'JobFailed',
        message: look.health.reason,
        nonRetryable: true,
      });
    }
    // The table: created (or evolved) once the job fills the topic, then kept current from it.
    const table = noteTable(product, await materializeRevision(input, state.materialization));
    const started = `Flink job ${deployed.jobName} started from ${startedFrom}; ${table}`;
    const target = look.health.healthy ? Stage.active : Stage.degraded;
    // The catalog gets the descriptor as it will be: publishing is part of provisioning.
    await provisioning.publishCatalogDescriptor({
      productId: product.productId,
      descriptor: {
        ...descriptorOf(state, target, nowIso(), { by: SYSTEM, action: 'provision' }),
        run: thisRun(),
      },
    });
    product.report({ kind: 'provisioned', observed, health: look.health, comment: started });
  } catch (error) {
    product.report({ kind: 'provisioningFailed', observed, failure: describeActivityFailure(error) });
  }
}

/** Remember the table and its materialization as resources; says what happened, for the decision. */
function noteTable(product: Product, deployment: TableDeployment): string {
  const state = product.state;
  const table = deployment.materialization;
  state.materialization = table;
  state.resources = withResource(state.resources, {
    kind: 'icebergTable',
    name: table.table,
    ...(table.uuid ? { id: table.uuid } : {}),
    created: deployment.created,
    at: nowIso(),
  });
  if (table.provider === 'flink') {
    state.resources = withResource(state.resources, {
      kind: 'flinkJob',
      name: table.jobName,
      ...(table.jobId ? { id: table.jobId } : {}),
      ...(table.url ? { url: table.url } : {}),
      created: deployment.startedFrom !== 'already running',
      at: nowIso(),
    });
  }
  const columns =
    deployment.addedColumns.length > 0 ? ` with new columns ${deployment.addedColumns.join(', ')}` : '';
  return (
    `table ${table.table} ${deployment.created ? 'created' : 'found'}${columns}, ` +
    `materialized by ${table.jobName} from ${deployment.startedFrom}`
  );
}

import * as wf from '@temporalio/workflow';
import type { ProductJobStatus } from '../../src/domain/creation';
import { productJobNameOf } from '../../src/domain/creation';
import type { JobFault } from '../../src/domain/job-faults';
import { jobFaultOf } from '../../src/domain/job-faults';
import type { MaterializationLook, ProductMaterialization } from '../../src/domain/materialization';
import { causesOf, jobSeen } from '../../src/domain/product-state';
import {
  currentSeries,
  MAX_RECOVERY_ATTEMPTS,
  mayRecover,
  recoveryBackoffMs,
  withAttempt,
} from '../../src/domain/recovery';
import type { JobLook } from './job';
import { waitUntilRunning } from './job';
import type { Product } from './product';
import { nowIso } from './product';
import { describeActivityFailure, jobControl } from './proxies';
import { lookAtTable } from './table';

/**
 * Recovery without a person. After Flink gave up on a product's job (or forgot it with a restarted
 * JobManager), the watch tells the platform's faults from the job's own (src/domain/job-faults.ts).
 * The platform's: the product is degraded with the reason, and after a bounded, deterministic
 * backoff (a workflow timer) the workflow redeploys the job, and the Flink materialization, from
 * their newest retained checkpoint; each attempt is a decision in the product's history, and a
 * recovered product is active again. The job's own faults are left to the watch (degraded with the
 * reason, a person redeploys). Returns true when it handled this look.
 */
export async function recoverFromPlatformFault(
  product: Product,
  look: JobLook,
  shouldContinueAsNew: () => boolean,
): Promise<boolean> {
  const faults = await platformFaultsOf(product, look);
  if (!faults) return false;
  const state = product.state;
  const may = mayRecover(state.recovery, Date.now());
  const attempts = currentSeries(state.recovery, Date.now())?.attempts ?? 0;
  const plan = may
    ? 'the workflow redeploys it from its last retained checkpoint'
    : `automatic recovery gave up after ${attempts} attempts within the hour; redeploy once the platform is sound`;
  for (const source of ['job', 'table'] as const) {
    const fault = faults[source];
    if (fault)
      product.report({
        kind: 'platformFault',
        observed: product.observe(),
        source,
        reason: `${fault.reason}; ${plan}`,
      });
  }
  if (!may) return true;

  const observed = product.observe();
  const moved = () => product.stage !== observed.stage || product.state.revision !== observed.revision;
  if (await wf.condition(() => moved() || shouldContinueAsNew(), recoveryBackoffMs(attempts))) return true;
  state.recovery = withAttempt(state.recovery, Date.now());
  const series = state.recovery;
  const done: string[] = [];
  const recovered = await redeploy(product, faults, done);
  if (moved()) return true;
  const next = recovered
    ? ''
    : mayRecover(series, Date.now())
      ? `; next attempt in ${Math.round(recoveryBackoffMs(series.attempts) / 1000)} s`
      : '; no attempt left: redeploy once the platform is sound';
  const failed = [faults.job?.reason, faults.table?.reason].filter(Boolean).join('; ');
  product.report({
    kind: 'recoveryAttempted',
    observed,
    recovered,
    comment: `automatic recovery ${series.attempts} of ${MAX_RECOVERY_ATTEMPTS}: ${failed}; ${done.join('; ')}${next}`,
  });
  return true;
}

type PlatformFaults = Readonly<{
  job?: JobFault;
  table?: JobFault;
  materialization?: ProductMaterialization;
}>;

/**
 * The platform's faults of the job and the table, or undefined when there are none, or when either
 * has a fault of its own (the watch degrades with it, and a person redeploys everything). The
 * table is looked at only when the job is down too (a restarted JobManager loses both) or the
 * table is what degraded the product.
 */
async function platformFaultsOf(product: Product, look: JobLook): Promise<PlatformFaults | undefined> {
  const state = product.state;
  const job = jobFaultOf({
    job: 'creation',
    jobName: state.job?.name ?? productJobNameOf(product.productId, state.revision),
    state: look.status.state,
    ...(look.status.failure ? { failure: look.status.failure } : {}),
    ...(look.status.outputTopicExists !== undefined
      ? { outputTopicExists: look.status.outputTopicExists }
      : {}),
  });
  if (job?.source === 'own') return undefined;
  const byTable = causesOf(state).some((cause) => cause.by === 'table');
  const table = job || byTable ? await tableFaultOf(product) : {};
  if (!table || table.table?.source === 'own') return undefined;
  if (!job && !table.table) return undefined;
  return { ...(job ? { job } : {}), ...table };
}

/** Redeploy what is down; true when it all runs again. `done` says what was done. */
async function redeploy(product: Product, faults: PlatformFaults, done: string[]): Promise<boolean> {
  try {
    const jobOk = faults.job ? await redeployJob(product, done) : true;
    const tableOk =
      faults.table && faults.materialization
        ? await restartTable(product, faults.materialization, done)
        : true;
    return jobOk && tableOk;
  } catch (error) {
    const failure = describeActivityFailure(error);
    done.push(`the redeploy failed (${failure.type}: ${failure.message})`);
    return false;
  }
}

/**
 * The Flink materialization's fault, if it has one: looked at only when it should be running (not
 * stopped by the workflow, not suspended at a bad record). Undefined when the table could not be
 * looked at (the watch tries again on its next pass).
 */
async function tableFaultOf(
  product: Product,
): Promise<Pick<PlatformFaults, 'table' | 'materialization'> | undefined> {
  const table = product.state.materialization;
  const ours =
    table?.provider === 'flink' &&
    table.revision === product.state.revision &&
    table.savepoint === undefined &&
    table.suspendedAt === undefined &&
    !['FINISHED', 'CANCELED'].includes(table.state);
  if (!table || !ours) return {};
  let look: MaterializationLook;
  try {
    look = await lookAtTable(product.jobInput());
  } catch (error) {
    wf.log.warn('could not look at the Iceberg table', {
      productId: product.productId,
      error: describeActivityFailure(error),
    });
    return undefined;
  }
  const fault = jobFaultOf({
    job: 'materialization',
    jobName: table.jobName,
    state: look.state as ProductJobStatus['state'],
    ...(look.failure ? { failure: look.failure } : {}),
  });
  return { ...(fault ? { table: fault } : {}), materialization: table };
}

/**
 * The newest retained checkpoint of these jobs, said the way a decision says it; else the one this
 * series resumed from before (the redeployed job failed before its first checkpoint).
 */
async function checkpointOf(
  product: Product,
  which: 'jobCheckpoint' | 'tableCheckpoint',
  jobIds: readonly (string | undefined)[],
) {
  const found = await jobControl.latestRetainedCheckpoint({
    productId: product.productId,
    jobIds: jobIds.filter((id): id is string => !!id),
  });
  const earlier = product.state.recovery?.[which];
  if (!found && earlier) {
    return {
      savepoint: earlier,
      said: `from checkpoint ${earlier} (the one the previous attempt resumed from)`,
    };
  }
  if (found && product.state.recovery)
    product.state.recovery = { ...product.state.recovery, [which]: found.path };
  return {
    savepoint: found?.path,
    said: found
      ? `from checkpoint ${found.path} (${found.found === 'disk' ? 'found on disk: Flink had forgotten the job' : "Flink's checkpoint history"})`
      : "from its inputs' committed offsets (no retained checkpoint was found)",
  };
}

async function redeployJob(product: Product, done: string[]): Promise<boolean> {
  const state = product.state;
  const input = product.jobInput();
  const { savepoint, said } = await checkpointOf(product, 'jobCheckpoint', [state.job?.id]);
  const deployed = await jobControl.deployProductJob(savepoint ? { ...input, savepoint } : input);
  const look = await waitUntilRunning(input);
  state.job = jobSeen(
    product.productId,
    state,
    look.status,
    { name: deployed.jobName, url: deployed.url },
    nowIso(),
  );
  done.push(
    deployed.started
      ? `redeployed Flink job ${deployed.jobName} (job ${deployed.jobId}) ${said}`
      : `found Flink job ${deployed.jobName} running again (job ${deployed.jobId})`,
  );
  if (!look.health.healthy) done.push(`the job is not running: ${look.health.reason}`);
  return look.health.healthy;
}

const TABLE_RUNNING_DEADLINE_MS = 120_000;

async function restartTable(
  product: Product,
  materialization: ProductMaterialization,
  done: string[],
): Promise<boolean> {
  const input = product.jobInput();
  const { savepoint, said } = await checkpointOf(product, 'tableCheckpoint', [materialization.jobId]);
  const started = await jobControl.startMaterialization(savepoint ? { ...input, savepoint } : input);
  const deadline = Date.now() + TABLE_RUNNING_DEADLINE_MS;
  let look = await lookAtTable(input);
  while (look.state !== 'RUNNING' && look.state !== 'FAILED' && Date.now() < deadline) {
    await wf.sleep('2 seconds');
    look = await lookAtTable(input);
  }
  product.state.materialization = {
    ...materialization,
    jobName: started.name,
    jobId: started.id,
    ...(started.url ? { url: started.url } : {}),
    state: look.state,
    checkedAt: nowIso(),
  };
  done.push(
    started.started
      ? `restarted materialization ${started.name} (job ${started.id}) ${said}`
      : `found materialization ${started.name} running again (job ${started.id})`,
  );
  if (look.state !== 'RUNNING') done.push(`the materialization is ${look.state}`);
  return look.state === 'RUNNING';
}

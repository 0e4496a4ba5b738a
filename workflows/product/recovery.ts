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
import { lookAtJob, RUNNING_DEADLINE_MS } from './job';
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
  if (faults === 'runsAgain') {
    // An earlier attempt restarted the table, which ran only later: nothing else clears its cause.
    const table = product.state.materialization?.jobName ?? 'the materialization';
    product.report({
      kind: 'recoveryAttempted',
      observed: product.observe(),
      recovered: true,
      comment: `automatic recovery: the Flink job and ${table} run again`,
    });
    return true;
  }
  if (!faults) return false;
  if (!reportFaults(product, faults)) return true;

  const observed = product.observe();
  const moved = () => product.stage !== observed.stage || product.state.revision !== observed.revision;
  const attempts = currentSeries(product.state.recovery, Date.now())?.attempts ?? 0;
  if (await wf.condition(() => moved() || shouldContinueAsNew(), recoveryBackoffMs(attempts))) return true;
  const series = withAttempt(product.state.recovery, Date.now());
  product.state.recovery = series;
  const done: string[] = [];
  const recovered = await redeploy(product, faults, done);
  if (moved()) return true;
  const next = recovered
    ? ''
    : mayRecover(product.state.recovery, Date.now())
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

/** Degrade the product with each fault and what happens next; false when no attempt is left. */
function reportFaults(product: Product, faults: PlatformFaults): boolean {
  const now = Date.now();
  const may = mayRecover(product.state.recovery, now);
  const attempts = currentSeries(product.state.recovery, now)?.attempts ?? 0;
  const plan = may
    ? 'the workflow redeploys it from its last retained checkpoint'
    : `automatic recovery gave up after ${attempts} attempts within the hour; redeploy once the platform is sound`;
  for (const source of ['job', 'table'] as const) {
    const fault = faults[source];
    if (!fault) continue;
    const reason = `${fault.reason}; ${plan}`;
    product.report({ kind: 'platformFault', observed: product.observe(), source, reason });
  }
  return may;
}

type PlatformFaults = Readonly<{
  job?: JobFault;
  table?: JobFault;
  materialization?: ProductMaterialization;
}>;

/** The creation job's fault as the classifier sees its look. */
function creationFaultOf(product: Product, look: JobLook): JobFault | undefined {
  const state = product.state;
  const { status } = look;
  return jobFaultOf({
    job: 'creation',
    jobName: state.job?.name ?? productJobNameOf(product.productId, state.revision),
    state: status.state,
    ...(status.failure ? { failure: status.failure } : {}),
    ...(status.outputTopicExists !== undefined ? { outputTopicExists: status.outputTopicExists } : {}),
  });
}

/**
 * The platform's faults of the job and the table, or undefined when there are none, or when either
 * has a fault of its own (the watch degrades with it, and a person redeploys everything);
 * `runsAgain` when a table an attempt restarted runs now. The table is looked at only when the job
 * is down too (a restarted JobManager loses both) or the table is what degraded the product.
 */
async function platformFaultsOf(
  product: Product,
  look: JobLook,
): Promise<PlatformFaults | 'runsAgain' | undefined> {
  const state = product.state;
  const job = creationFaultOf(product, look);
  if (job?.source === 'own') return undefined;
  const byTable = causesOf(state).some((cause) => cause.by === 'table');
  const table = job || byTable ? await tableFaultOf(product) : {};
  if (!table || table.table?.source === 'own') return undefined;
  if (job || table.table) return { ...(job ? { job } : {}), ...table };
  // Degraded by a table the workflow restarted, running now with the job: recovered.
  const recovering = currentSeries(state.recovery, Date.now()) !== undefined;
  return byTable && recovering && look.health.healthy && table.running ? 'runsAgain' : undefined;
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
): Promise<(Pick<PlatformFaults, 'table' | 'materialization'> & { running?: boolean }) | undefined> {
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
  return { ...(fault ? { table: fault } : {}), materialization: table, running: look.state === 'RUNNING' };
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
  const look = await waitForSlotsAndRunning(input);
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

/**
 * Like provisioning's wait, but a job waiting for a slot is not settled here: after a platform
 * fault the TaskManager registers again with its slots a little after the JobManager answers.
 */
async function waitForSlotsAndRunning(input: ReturnType<Product['jobInput']>): Promise<JobLook> {
  const deadline = Date.now() + RUNNING_DEADLINE_MS;
  for (;;) {
    const look = await lookAtJob(input);
    const settled = !look.health.healthy && look.health.settled && !look.status.waitingForSlot;
    if (look.health.healthy || settled || Date.now() >= deadline) return look;
    await wf.sleep('2 seconds');
  }
}

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

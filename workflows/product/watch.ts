import * as wf from '@temporalio/workflow';
import { tableTroubleOf } from '../../src/domain/materialization';
import { causesOf, jobSeen } from '../../src/domain/product-state';
import type { Observed } from '../../src/domain/product-events';
import { lookAtJob } from './job';
import type { Product } from './product';
import { nowIso } from './product';
import { describeActivityFailure } from './proxies';
import { recoverFromPlatformFault } from './recovery';
import { lookAtTable, stopTable } from './table';

/** Until its table's first commit, an active product is looked at this often (its first cycle waits for it). */
export const FIRST_COMMIT_WATCH_MS = 10_000;

/**
 * The mesh's watch timer; closer (FIRST_COMMIT_WATCH_MS) while an active product's table has no
 * commit yet, so the first analysis cycle follows the first commit within seconds.
 */
function watchInterval(product: Product): number {
  const interval = product.governance?.jobWatchIntervalMs ?? 60_000;
  const state = product.state;
  const uncommitted =
    product.stage === 'active' &&
    state.materialization !== undefined &&
    state.materialization.status?.snapshotId === undefined;
  if (!uncommitted || interval <= FIRST_COMMIT_WATCH_MS) return interval;
  // Products recorded before the first commit was watched closely replay on the mesh's timer.
  return wf.patched('first-commit-watched-closely') ? FIRST_COMMIT_WATCH_MS : interval;
}

/**
 * While active or degraded: look at the job and the table on the mesh's timer, and report what
 * they look like (an unhealthy job degrades the product with Flink's reason, a job running again
 * recovers it; see src/domain/transitions.ts). Each look is reported with the stage it started
 * in: a message that moved the product meanwhile makes it stale.
 */
export async function watch(product: Product, shouldContinueAsNew: () => boolean): Promise<void> {
  const observed = product.observe();
  const interval = watchInterval(product);
  const moved = () => product.stage !== observed.stage;
  if (await wf.condition(() => moved() || product.cyclesPending || shouldContinueAsNew(), interval)) return;
  let look;
  try {
    // Histories recorded before a gone output topic counted replay as they ran.
    look = await lookAtJob(product.jobInput(), {
      watchingOutputTopic: wf.patched('output-topic-gone-unhealthy'),
    });
  } catch (error) {
    wf.log.warn('could not look at the Flink job', {
      productId: product.productId,
      error: describeActivityFailure(error),
    });
    return;
  }
  if (moved()) return;
  // Recovery without a person: a job down by the platform's fault is redeployed from its checkpoint.
  if (
    wf.patched('automatic-recovery') &&
    (await recoverFromPlatformFault(product, look, shouldContinueAsNew))
  )
    return;
  if (moved()) return;
  const state = product.state;
  const before = state.job;
  state.job = jobSeen(product.productId, state, look.status, {}, nowIso());
  if ((await watchTable(product, observed)) || moved()) return;
  const rejectedChanged = before?.rejectedRecords !== state.job.rejectedRecords;
  // A new rejected count alone only refreshes the catalog.
  product.report({ kind: 'jobLooked', observed, health: look.health, rejectedChanged });
}

/**
 * Look at the table on the watch timer: a `suspend` product's new bad record (or a failed
 * materialization) stops the materialization and degrades the product with the record's
 * coordinates; only a redeploy recovers it. Returns true when the table was in trouble. A new
 * snapshot is published to the catalog (no decision is recorded for it).
 */
async function watchTable(product: Product, observed: Observed): Promise<boolean> {
  const state = product.state;
  const table = state.materialization;
  if (!table || table.revision !== state.revision || causesOf(state).some((c) => c.by === 'table'))
    return false;
  let look;
  try {
    look = await lookAtTable(product.jobInput());
  } catch (error) {
    wf.log.warn('could not look at the Iceberg table', {
      productId: product.productId,
      error: describeActivityFailure(error),
    });
    return false;
  }
  const current = state.materialization ?? table;
  state.materialization = {
    ...current,
    state: look.state,
    ...(look.failure ? { failure: look.failure } : {}),
    badRecords: look.badRecords,
    status: look.table,
    checkedAt: nowIso(),
  };
  const trouble = tableTroubleOf(look, current.acknowledgedBadRecords, current.jobName);
  if (!trouble) {
    const changed =
      current.status?.snapshotId !== look.table.snapshotId || current.badRecords !== look.badRecords;
    product.report({ kind: 'tableLooked', observed, changed });
    return false;
  }
  if (trouble.suspendedAt) {
    // Tableflow's `suspend`: the job stops at the bad record; a redeploy resumes from the savepoint.
    const stopped = await stopTable(product.jobInput(), state.materialization, false).catch(
      (error: unknown) => {
        wf.log.warn('stopping the materialization failed', {
          productId: product.productId,
          error: describeActivityFailure(error),
        });
        return undefined;
      },
    );
    state.materialization = {
      ...state.materialization,
      suspendedAt: trouble.suspendedAt,
      ...(stopped?.savepoint ? { savepoint: stopped.savepoint, state: 'FINISHED' } : {}),
    };
  }
  // Already degraded by its job or an analysis: the table's trouble is the one a redeploy must fix.
  product.report({ kind: 'tableLooked', observed, trouble: trouble.reason, changed: true });
  return true;
}

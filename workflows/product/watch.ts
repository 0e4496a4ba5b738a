import * as wf from '@temporalio/workflow';
import { Stage } from '../../src/domain/lifecycle';
import { tableTroubleOf } from '../../src/domain/materialization';
import { jobSeen, SYSTEM } from '../../src/domain/product-state';
import { lookAtJob } from './job';
import type { Product } from './product';
import { nowIso } from './product';
import { describeActivityFailure } from './proxies';
import { lookAtTable, stopTable } from './table';

/**
 * While active or degraded: look at the job on the mesh's timer. An unhealthy job degrades the
 * product with Flink's reason; a job running again recovers it.
 */
export async function watch(product: Product, shouldContinueAsNew: () => boolean): Promise<void> {
  const watched = product.stage;
  const interval = product.governance?.jobWatchIntervalMs ?? 60_000;
  if (
    await wf.condition(
      () => product.stage !== watched || product.cyclesPending || shouldContinueAsNew(),
      interval,
    )
  )
    return;
  let look;
  try {
    look = await lookAtJob(product.jobInput());
  } catch (error) {
    wf.log.warn('could not look at the Flink job', {
      productId: product.productId,
      error: describeActivityFailure(error),
    });
    return;
  }
  if (product.stage !== watched) return;
  const state = product.state;
  const before = state.job;
  state.job = jobSeen(product.productId, state, look.status, {}, nowIso());
  if ((await watchTable(product)) || product.stage !== watched) return;
  if (product.stage === Stage.active && !look.health.healthy && look.health.settled) {
    product.degrade(look.health.reason);
  } else if (product.stage === Stage.degraded && state.degradedBy === 'job' && look.health.healthy) {
    state.lastError = undefined;
    state.degradedBy = undefined;
    product.transition(Stage.active, { by: SYSTEM, action: 'recover', comment: 'the Flink job runs again' });
  } else if (before?.rejectedRecords !== state.job?.rejectedRecords) {
    state.publishedStage = undefined; // the catalog shows the new rejected count
  }
}

/**
 * Look at the table on the watch timer: a `suspend` product's new bad record (or a failed
 * materialization) stops the materialization and degrades the product with the record's
 * coordinates; only a redeploy recovers it. Returns true when it changed the stage. A new
 * snapshot is published to the catalog (no decision is recorded for it).
 */
async function watchTable(product: Product): Promise<boolean> {
  const state = product.state;
  const table = state.materialization;
  if (!table || table.revision !== state.revision || state.degradedBy === 'table') return false;
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
    if (current.status?.snapshotId !== look.table.snapshotId || current.badRecords !== look.badRecords)
      state.publishedStage = undefined; // the catalog shows the new snapshot
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
  if (product.stage === Stage.active) {
    product.degrade(trouble.reason, 'table');
  } else {
    // Already degraded by its job or an analysis: the table's trouble is the one a redeploy must fix.
    state.lastError = { type: 'TableSuspended', message: trouble.reason, at: nowIso() };
    state.degradedBy = 'table';
    product.record({ by: SYSTEM, action: 'degrade', comment: trouble.reason });
    state.publishedStage = undefined;
  }
  return true;
}

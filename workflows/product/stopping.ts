import * as wf from '@temporalio/workflow';
import { isTerminal } from '../../src/domain/lifecycle';
import { stopJob } from './job';
import type { Product } from './product';
import { nowIso } from './product';
import { describeActivityFailure } from './proxies';
import { stopTable } from './table';

/** Retired or deprecated: stop the materialization once (Tableflow: disabled on retirement only). */
export async function stopTableIfRunning(product: Product): Promise<void> {
  const state = product.state;
  const table = state.materialization;
  if (!table) return;
  try {
    const stopped = await stopTable(product.jobInput(), table, isTerminal(product.stage));
    if (!stopped) return;
    state.materialization = { ...table, ...stoppedAs(stopped) };
    product.report({
      kind: 'stopped',
      comment: stopped.savepoint
        ? `materialization ${table.jobName} stopped with savepoint ${stopped.savepoint}; table ${table.table} kept`
        : `materialization ${table.jobName} ${stopped.stopped ? 'stopped' : 'was not running'}; table ${table.table} kept`,
    });
  } catch (error) {
    const failure = describeActivityFailure(error);
    product.report({ kind: 'actFailed', failure });
    wf.log.warn('stopping the materialization failed', { productId: product.productId, error: failure });
  }
}

/** Retired or deprecated: stop the job with a savepoint, once (the topic and its data stay). */
export async function stopJobIfRunning(product: Product): Promise<void> {
  const state = product.state;
  const job = state.job;
  if (!job || job.savepoint !== undefined || ['CANCELED', 'FINISHED'].includes(job.state)) return;
  try {
    const stopped = await stopJob({ ...product.jobInput(), revision: job.revision });
    state.job = { ...job, ...stoppedAs(stopped) };
    // The catalog shows where the job stopped.
    product.report({
      kind: 'stopped',
      comment: stopped.savepoint
        ? `Flink job ${job.name} stopped with savepoint ${stopped.savepoint}`
        : `Flink job ${job.name} ${stopped.stopped ? 'cancelled (it was not running)' : 'was not running'}`,
    });
  } catch (error) {
    const failure = describeActivityFailure(error);
    product.report({ kind: 'actFailed', failure });
    wf.log.warn('stopping the Flink job failed', { productId: product.productId, error: failure });
  }
}

/** How a stopped job or materialization is remembered: finished at its savepoint, else cancelled. */
function stoppedAs(stopped: { savepoint?: string }) {
  return {
    state: stopped.savepoint ? ('FINISHED' as const) : ('CANCELED' as const),
    ...(stopped.savepoint ? { savepoint: stopped.savepoint } : {}),
    checkedAt: nowIso(),
  };
}

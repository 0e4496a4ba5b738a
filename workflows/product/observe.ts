import * as wf from '@temporalio/workflow';
import { critiqueDetails } from '../../src/domain/critique';
import type { MeshloopMetricsSink, MetricSnapshot } from '../../src/domain/product-metrics';
import { productMetricUpdates } from '../../src/domain/product-metrics';
import type { ProductEvent } from '../../src/domain/product-events';
import type { CarriedState, ProductStatus } from '../../src/domain/product-state';
import { currentDetailsOf } from '../../src/domain/workflow-details';

/** Calls into the worker's metrics: buffered with the activation, dropped on replay, no command. */
const { meshloopMetrics } = wf.proxySinks<MeshloopMetricsSink>();

/**
 * The product as the Temporal UI shows it: the workflow's current details (stage, last decision,
 * table, last analysis, next step, then the critic's review). Setting them adds no command.
 */
export function showDetails(status: ProductStatus): void {
  const { critique, preview } = status;
  const extra = critique || preview ? critiqueDetails(critique, preview) : undefined;
  wf.setCurrentDetails(currentDetailsOf(status, extra));
}

/** After `decide`: the UI's details, and the metric updates the event made (sent to the worker). */
export function observeReport(
  status: ProductStatus,
  state: CarriedState,
  event: ProductEvent,
  before: MetricSnapshot,
): void {
  showDetails(status);
  const updates = productMetricUpdates(status.productId, event, before, state, Date.now());
  if (updates.length > 0) meshloopMetrics.productUpdates(updates);
}

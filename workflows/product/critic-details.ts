import * as wf from '@temporalio/workflow';
import { criticMemoOf } from '../../src/domain/critique';
import { showDetails } from './observe';
import type { Product } from './product';

/**
 * The critic's review where the Temporal UI and `meshloop list` see it: the workflow's current
 * details (markdown: verdict, reasons, the preview's first rows) and its memo (`critic`: the
 * verdict and cost in one cell). Only for products reviewed by the critic: recorded histories
 * have no review, so no command is added to them.
 */
export function showCritique(product: Product): void {
  const { critique, preview } = product.state;
  if (!critique && !preview) return;
  showDetails(product.status());
  wf.upsertMemo({ critic: criticMemoOf(critique) });
}

import * as wf from '@temporalio/workflow';
import { Stage } from '../../src/domain/lifecycle';
import { descriptorOf } from '../../src/domain/product-state';
import type { Product } from './product';
import { nowIso, thisRun } from './product';
import { catalogPublishing, describeActivityFailure } from './proxies';

/**
 * Keep the catalog in step with the stage. The published stage is noted only once the descriptor
 * landed; a failure is retried (by Temporal, then here) until it does.
 */
export async function publishIfChanged(product: Product): Promise<void> {
  // Loop: a message may move the stage again while a descriptor is being published.
  for (;;) {
    const stage = product.stage;
    if (stage === product.state.publishedStage || stage === Stage.proposed || stage === Stage.provisioning)
      return;
    try {
      await catalogPublishing.publishCatalogDescriptor({
        productId: product.productId,
        descriptor: { ...descriptorOf(product.state, stage, nowIso()), run: thisRun() },
      });
      product.report({ kind: 'published', stage });
    } catch (error) {
      // Only a non-retryable failure gets here: note it, and try again later or on the next change.
      product.report({ kind: 'actFailed', failure: describeActivityFailure(error) });
      await wf.condition(() => product.stage !== stage, '1 minute');
    }
  }
}

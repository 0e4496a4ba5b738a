import { isRetirable, Stage } from '../../src/domain/lifecycle';
import type { OperatorRequest, RetireRequest } from '../../src/domain/messages';
import { operatorActs, productOperatorRefusal } from '../../src/domain/permissions';
import type { Product } from './product';
import { refuse, throwIf } from './product';
import { housekeeping } from './proxies';

/** What an operator's act (retry provisioning, deprecate, redeploy) does once it was allowed. */
export const operatorMoves = {
  retryProvisioning: { act: operatorActs.retryProvisioning, to: Stage.provisioning },
  deprecate: { act: operatorActs.deprecate, to: Stage.deprecated },
  redeploy: { act: operatorActs.redeploy, to: Stage.provisioning },
} as const;

export function applyOperatorAct(
  product: Product,
  action: keyof typeof operatorMoves,
  request: OperatorRequest,
): void {
  product.transition(operatorMoves[action].to, { by: request.by, action, comment: request.comment });
}

/** Retire: refused while active products still read this one, unless forced. */
export async function retire(product: Product, request: RetireRequest): Promise<void> {
  const by = request.by.trim();
  await product.readGovernance();
  throwIf(productOperatorRefusal(product.state, product.governance, request, operatorActs.retire));
  if (!request.force) {
    const dependants = await housekeeping.findActiveDependants({ productId: product.productId });
    if (dependants.length > 0) {
      refuse({
        type: 'RetirementRefused',
        message: `active products still read ${product.productId}: ${dependants.join(', ')}. Retire them first, or force it.`,
      });
    }
  }
  // The stage may have moved while we asked the catalog (e.g. an operator retried provisioning).
  if (!isRetirable(product.stage))
    refuse({ type: 'WrongStage', message: `cannot retire a product that is ${product.stage}` });
  const comment = [request.comment, request.force ? '(forced)' : undefined].filter(Boolean).join(' ');
  product.transition(Stage.retired, { by, action: 'retire', comment });
}

import { isRetirable } from '../../src/domain/lifecycle';
import type { OperatorRequest, RetireRequest } from '../../src/domain/messages';
import { operatorActs, productOperatorRefusal } from '../../src/domain/permissions';
import type { Product } from './product';
import { refuse, throwIf } from './product';
import { housekeeping } from './proxies';

/** An operator's act that passed its permission check (in the update's handler). */
export function applyOperatorAct(
  product: Product,
  action: 'retryProvisioning' | 'deprecate' | 'redeploy',
  request: OperatorRequest,
): void {
  product.report({ kind: 'operatorActed', action, by: request.by, comment: request.comment });
}

/** Retire: refused while active products still read this one, unless forced. */
export async function retire(product: Product, request: RetireRequest): Promise<void> {
  await product.readGovernance();
  throwIf(
    productOperatorRefusal(
      product.state,
      product.governance,
      request,
      operatorActs.retire,
      product.signatureContext(),
    ),
  );
  // Spent before the catalog is asked: the same signature cannot retire twice meanwhile.
  product.spend(request.signature);
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
  product.report({ kind: 'operatorActed', action: 'retire', by: request.by, comment });
}

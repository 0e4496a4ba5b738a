import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import type { ProposalOutcome, ProposalStart } from '../../src/domain/proposals';
import { dataProductStartOptions, dataProductWorkflowType } from '../definitions';

/**
 * A product id is started once, ever: a rejected or retired product is not proposed again. The one
 * exception is a product the critic dismissed whose inputs changed since (the proposer compared the
 * fingerprints, `start.reproposal`): its closed run may be followed by a new one. A running
 * workflow is never duplicated (Temporal refuses any start while one runs).
 */
function reusePolicyOf(start: ProposalStart): 'ALLOW_DUPLICATE' | 'REJECT_DUPLICATE' {
  return start.reproposal && wf.patched('repropose-dismissed') ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE';
}

/**
 * Start a proposal's product workflow as a child, once ever per product id. Discovery and analysis
 * both propose this way. Approvers and deadlines come from mesh.yaml inside the product's workflow.
 */
export async function startProposedProduct(start: ProposalStart): Promise<ProposalOutcome> {
  const options = dataProductStartOptions(start.spec);
  const outcome = {
    proposalId: start.proposalId,
    productId: start.productId,
    workflowId: options.workflowId,
  };
  try {
    await wf.startChild(dataProductWorkflowType, {
      workflowId: options.workflowId,
      args: options.args,
      typedSearchAttributes: options.typedSearchAttributes,
      staticSummary: options.staticSummary,
      staticDetails: options.staticDetails,
      workflowIdReusePolicy: reusePolicyOf(start),
      // The product lives on after the proposer's run ends; its approvers decide its fate.
      parentClosePolicy: 'ABANDON',
    });
    return { ...outcome, outcome: 'started' };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return { ...outcome, outcome: 'exists' };
  }
}

/** Every workflow the orchestration worker runs: the one file its `workflowsPath` needs. */
export { dataProductWorkflow } from './data-product';
export { discoveryWorkflow } from './discovery';
export { analysisWorkflow } from './analysis';

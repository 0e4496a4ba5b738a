import * as wf from '@temporalio/workflow';

/**
 * An attacker's workflow (tests only): anyone who can run a worker against the namespace can start
 * it under a product's workflow id on their own task queue, then continue it as new *as*
 * `dataProductWorkflow` on Meshloop's task queue with whatever carried state they like (sent by
 * the `carry` signal, so the test can sign for this chain's lifetime: this run's id).
 */
export async function forgerWorkflow(input: { taskQueue: string; spec: unknown }): Promise<void> {
  let carried: unknown;
  let ready = false;
  wf.setHandler(wf.defineSignal<[unknown]>('carry'), (state: unknown) => {
    carried = state;
    ready = true;
  });
  await wf.condition(() => ready);
  const next = wf.makeContinueAsNewFunc<(arg: unknown) => Promise<unknown>>({
    workflowType: 'dataProductWorkflow',
    taskQueue: input.taskQueue,
  });
  await next({ spec: input.spec, carried });
}

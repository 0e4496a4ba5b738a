import * as wf from '@temporalio/workflow';

/**
 * The baseline: the same messages and activity count as a product's path to `active` (catalog
 * entry while awaiting approval, one approval update, topic, catalog entry once active), but the
 * activities do nothing. What the real workflow costs beyond this is Meshloop's own work.
 */
const { noop } = wf.proxyActivities<{ noop(step: string, id: string): Promise<void> }>({
  startToCloseTimeout: '30s',
});

export const baselineApprove = wf.defineUpdate<string, [{ by: string }]>('approve');

export async function baselineProductWorkflow(id: string): Promise<void> {
  let approvedBy: string | undefined;
  wf.setHandler(baselineApprove, ({ by }) => {
    approvedBy = by;
    return 'provisioning';
  });
  await noop('awaiting', id);
  await wf.condition(() => approvedBy !== undefined);
  await noop('topic', id);
  await noop('active', id);
}

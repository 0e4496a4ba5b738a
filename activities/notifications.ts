import type { Logger } from '../src/log';

/** Reaching approvers. Until the Slack integration lands, a reminder is a structured log line. */
export function createNotificationActivities(deps: { log: Logger }) {
  return {
    sendApprovalReminder(input: { productId: string; approvers: string[]; deadline: string }): Promise<void> {
      deps.log.info('approval reminder', {
        productId: input.productId,
        approvers: input.approvers,
        deadline: input.deadline,
      });
      return Promise.resolve();
    },
  };
}

import type { Duration } from '@temporalio/common';
import * as wf from '@temporalio/workflow';
import { slackReviewOf } from '../../src/domain/critique';
import type { SlackProposalInput } from '../../activities/slack';
import type { ProductStatus } from '../../src/domain/product-state';
import { slackPosting } from './proxies';

/** The decisions a Slack message shows; bounded so the activity input stays small. */
const DECISIONS_SHOWN = 10;

/**
 * Keeps the product's Slack message in step with its status, beside the main loop rather than in
 * it: Slack being slow or down never holds up a decision or provisioning. Each change of revision,
 * stage, decisions or reminders syncs the message once; reminders and expiry become thread replies.
 * The channel is mesh.yaml's for the domain as last read; without one nothing is posted.
 */
export function startSlackNotifier(
  channelOf: () => string | undefined,
  status: () => ProductStatus,
): { settled: (timeout: Duration) => Promise<boolean> } {
  const fingerprint = (s: ProductStatus) =>
    `${channelOf() ?? ''}|${s.revision}|${s.stage}|${s.decisionCount ?? s.decisions.length}|${s.remindersSent}`;
  let synced = '';
  let remindersSeen = 0;

  const sync = async (channel: string, current: ProductStatus) => {
    let notice: SlackProposalInput['notice'];
    if (current.stage === 'expired') {
      notice = { key: `expired-${current.revision}`, text: `:alarm_clock: Expired: nobody decided in time.` };
    } else if (current.remindersSent > remindersSeen) {
      const pending = current.approvers.filter((a) => !current.approvals.includes(a));
      notice = {
        key: `reminder-${current.remindersSent}`,
        text: `:bell: Reminder ${current.remindersSent}: waiting for ${pending.join(', ')}${current.deadline ? `; decide by ${current.deadline}` : ''}.`,
      };
    }
    remindersSeen = current.remindersSent;
    try {
      await slackPosting.syncSlackProposalMessage({
        channel,
        view: {
          productId: current.productId,
          revision: current.revision,
          stage: current.stage,
          spec: current.spec,
          approvers: current.approvers,
          requiredApprovals: current.requiredApprovals,
          approvals: current.approvals,
          decisions: current.decisions.slice(-DECISIONS_SHOWN),
          ...(current.deadline ? { deadline: current.deadline } : {}),
          ...slackReviewOf(current),
        },
        ...(notice ? { notice } : {}),
      });
    } catch (error) {
      // Slack stayed down through the retries: the next change syncs the message again.
      wf.log.warn('slack message not updated', {
        productId: current.productId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };

  void (async () => {
    for (;;) {
      await wf.condition(() => channelOf() !== undefined && fingerprint(status()) !== synced);
      const channel = channelOf();
      const current = status();
      synced = fingerprint(current);
      if (channel) await sync(channel, current);
    }
  })();

  return {
    /** Wait (bounded) until the message shows the latest status, e.g. before the workflow completes. */
    settled: async (timeout) => {
      const settled = () => channelOf() === undefined || fingerprint(status()) === synced;
      // Checked first: a wait with a timeout starts a timer, which a settled product needs not.
      return settled() || (await wf.condition(settled, timeout));
    },
  };
}

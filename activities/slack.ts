import type { WebClient } from '@slack/web-api';
import type { ProposalView, SyncResult } from '../src/adapters/slack';
import { syncProposalMessage } from '../src/adapters/slack';
import type { Logger } from '../src/log';

export type SlackProposalInput = {
  channel: string;
  view: ProposalView;
  /** A thread reply to post once (reminder, expiry), keyed so a retry does not post it twice. */
  notice?: { key: string; text: string };
};

/** Proposals in Slack. Without a Slack app configured the activity does nothing (and says so). */
export function createSlackActivities(deps: { slack?: WebClient; log: Logger }) {
  return {
    async syncSlackProposalMessage(input: SlackProposalInput): Promise<SyncResult | { skipped: true }> {
      if (!deps.slack) {
        deps.log.debug('slack not configured: proposal message skipped', { productId: input.view.productId });
        return { skipped: true };
      }
      const result = await syncProposalMessage(deps.slack, input);
      deps.log.info('slack proposal message synced', {
        productId: input.view.productId,
        revision: input.view.revision,
        stage: input.view.stage,
        channel: input.channel,
        ...result,
      });
      return result;
    },
  };
}

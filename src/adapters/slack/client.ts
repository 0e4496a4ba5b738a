import { ErrorCode, WebClient } from '@slack/web-api';
import { MeshloopError, UpstreamUnavailableError } from '../../domain/errors';
import type { ProposalView } from './blocks';
import { proposalBlocks, proposalText } from './blocks';

/**
 * Slack's Web API for Meshloop: one client, no retries of its own (Temporal owns retries), and
 * proposal messages found again by their metadata, so posting is idempotent per product revision.
 */

export function createSlackWebClient(settings: { botToken: string; apiUrl?: string }): WebClient {
  return new WebClient(settings.botToken, {
    ...(settings.apiUrl
      ? { slackApiUrl: settings.apiUrl.endsWith('/') ? settings.apiUrl : `${settings.apiUrl}/` }
      : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  });
}

const retryablePlatformErrors = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/** Slack's errors as ours: 429, 5xx, network trouble and Slack's own transient codes retry; the rest don't. */
export function translateSlackError(method: string, error: unknown): MeshloopError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === ErrorCode.RateLimitedError)
    return new UpstreamUnavailableError('Slack', `${method}: rate limited`, error);
  if (code === ErrorCode.RequestError)
    return new UpstreamUnavailableError('Slack', `${method}: ${message}`, error);
  if (code === ErrorCode.HTTPError) {
    const status = (error as { statusCode?: number }).statusCode ?? 0;
    if (status >= 500 || status === 408 || status === 429)
      return new UpstreamUnavailableError('Slack', `${method}: HTTP ${status}`, error);
    return new MeshloopError('SlackRejected', `Slack ${method}: HTTP ${status}`, false, { cause: error });
  }
  if (code === ErrorCode.PlatformError) {
    const detail = (error as { data?: { error?: unknown } }).data?.error;
    const reason = typeof detail === 'string' ? detail : 'unknown';
    if (retryablePlatformErrors.has(reason))
      return new UpstreamUnavailableError('Slack', `${method}: ${reason}`, error);
    return new MeshloopError('SlackRejected', `Slack ${method}: ${reason}`, false, { cause: error });
  }
  return new UpstreamUnavailableError('Slack', `${method}: ${message}`, error);
}

async function call<T>(method: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw translateSlackError(method, error);
  }
}

const proposalEvent = 'meshloop_proposal';
const noticeEvent = 'meshloop_notice';
/** How far back in the channel a proposal's message is looked for. */
const historyLimit = 200;

type MessageWithMetadata = {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
};
// Slack's response types leave the metadata payload untyped.
const withMetadata = (messages: unknown): MessageWithMetadata[] =>
  Array.isArray(messages) ? (messages as MessageWithMetadata[]) : [];

/** The message posted for this product revision, if the channel's recent history has it. */
export async function findProposalMessage(
  client: WebClient,
  channel: string,
  productId: string,
  revision: number,
): Promise<string | undefined> {
  const history = await call('conversations.history', () =>
    client.conversations.history({ channel, limit: historyLimit, include_all_metadata: true }),
  );
  const found = withMetadata(history.messages).find(
    (message) =>
      message.metadata?.event_type === proposalEvent &&
      message.metadata.event_payload?.product_id === productId &&
      message.metadata.event_payload?.revision === revision,
  );
  return found?.ts;
}

export type SyncResult = { ts: string; posted: boolean; noticePosted?: boolean };

/**
 * Post the revision's message, or update it in place if it is there already (a retry or a later
 * stage); then post `notice` as a thread reply unless the thread has it (keyed, so once).
 */
export async function syncProposalMessage(
  client: WebClient,
  input: { channel: string; view: ProposalView; notice?: { key: string; text: string } },
): Promise<SyncResult> {
  const { channel, view } = input;
  const blocks = proposalBlocks(view);
  const text = proposalText(view);
  let ts = await findProposalMessage(client, channel, view.productId, view.revision);
  let posted = false;
  if (ts) {
    const existing = ts;
    await call('chat.update', () => client.chat.update({ channel, ts: existing, text, blocks }));
  } else {
    const answer = await call('chat.postMessage', () =>
      client.chat.postMessage({
        channel,
        text,
        blocks,
        metadata: {
          event_type: proposalEvent,
          event_payload: { product_id: view.productId, revision: view.revision },
        },
      }),
    );
    if (!answer.ts)
      throw new MeshloopError('SlackRejected', 'Slack chat.postMessage answered without a ts', false);
    ts = answer.ts;
    posted = true;
  }
  if (!input.notice) return { ts, posted };
  const threadTs = ts;
  const notice = input.notice;
  const replies = await call('conversations.replies', () =>
    client.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: 200 }),
  );
  const already = withMetadata(replies.messages).some(
    (message) =>
      message.metadata?.event_type === noticeEvent && message.metadata.event_payload?.key === notice.key,
  );
  if (already) return { ts, posted, noticePosted: false };
  await call('chat.postMessage', () =>
    client.chat.postMessage({
      channel,
      thread_ts: threadTs,
      text: notice.text,
      metadata: { event_type: noticeEvent, event_payload: { key: notice.key } },
    }),
  );
  return { ts, posted, noticePosted: true };
}

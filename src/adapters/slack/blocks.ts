import type { Decision } from '../../domain/lifecycle';
import { stageMeaning } from '../../domain/lifecycle';
import type { Stage } from '../../domain/lifecycle';
import type { ProductSpec } from '../../domain/spec';
import type { SlackReview } from '../../domain/critique';

/**
 * Block Kit for a proposal: what, why, the SQL, PII, and the decision buttons while a decision is
 * open. Pure: built from what the workflow reports, so the message can be rebuilt on every change.
 */

/** What the workflow hands the Slack activity: the parts of its status a message shows. */
export type ProposalView = Readonly<{
  productId: string;
  revision: number;
  stage: Stage;
  spec: ProductSpec;
  approvers: readonly string[];
  requiredApprovals: number;
  approvals: readonly string[];
  /** The latest decisions, newest last (bounded by the caller). */
  decisions: readonly Decision[];
  deadline?: string;
}> &
  SlackReview;

export const slackActionIds = {
  approve: 'meshloop_approve',
  reject: 'meshloop_reject',
  requestChanges: 'meshloop_request_changes',
  viewSql: 'meshloop_view_sql',
} as const;
export const reviewCommentCallbackId = 'meshloop_review_comment';

/** The button value: which product and revision a click is about (the workflow checks both). */
export type ButtonValue = { productId: string; revision: number };

type Block = { type: string; [key: string]: unknown };

// Slack's limits: 3000 characters per section text, 50 blocks per message.
const clip = (text: string, max = 2900) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: clip(text) } });
const context = (text: string): Block => ({
  type: 'context',
  elements: [{ type: 'mrkdwn', text: clip(text) }],
});

const stageEmoji: Partial<Record<Stage, string>> = {
  awaitingApproval: ':hourglass_flowing_sand:',
  changesRequested: ':memo:',
  provisioning: ':gear:',
  active: ':white_check_mark:',
  degraded: ':warning:',
  rejected: ':no_entry:',
  dismissed: ':wastebasket:',
  expired: ':alarm_clock:',
  failed: ':x:',
  retired: ':file_cabinet:',
};

/** The critic's verdict and cost, and the preview's first rows (a code block, clipped). */
function reviewBlocks(view: ProposalView): Block[] {
  const blocks: Block[] = [];
  if (view.critic) {
    const reasons = view.critic.reasons.map((r) => `\n• ${escape(clip(r, 300))}`).join('');
    blocks.push(
      section(`*Critic:* ${escape(view.critic.summary)}\n${escape(clip(view.critic.value, 400))}${reasons}`),
    );
  }
  const preview = view.preview;
  if (preview) {
    const head = `*Preview:* ${preview.outcome}, ${preview.rowCount} row(s) from a sample`;
    const table = [preview.columns, ...preview.rows.map((row) => row.map((cell) => cell ?? 'null'))]
      .map((row) => row.join(' | '))
      .join('\n');
    blocks.push(
      section(
        preview.failure
          ? `${head}: ${escape(clip(preview.failure, 500))}`
          : `${head}\n\`\`\`${escape(clip(table, 2500))}\`\`\``,
      ),
    );
  }
  return blocks;
}

export function proposalText(view: ProposalView): string {
  return `Data product ${view.productId} (revision ${view.revision}) is ${view.stage}`;
}

export function proposalBlocks(view: ProposalView): Block[] {
  const { spec } = view;
  const blocks: Block[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: clip(`Data product proposal: ${view.productId}`, 150) },
    },
    section(
      `*What:* ${escape(spec.description || '(no description)')}\n` +
        `*Kind:* ${spec.kind}   *Owner:* ${escape(spec.owner)}   *Revision:* ${view.revision}\n` +
        `*Inputs:* ${spec.inputs.length > 0 ? spec.inputs.map((input) => ('topic' in input ? input.topic : input.product)).join(', ') : '(none)'}   ` +
        `*Output topic:* ${spec.outputTopic.name ?? view.productId}`,
    ),
  ];
  const proposal = spec.proposal;
  if (proposal) {
    const evidence = proposal.evidence.slice(0, 10).map((item) => `• ${escape(item.summary)}`);
    blocks.push(
      section(
        `*Why* (proposed by ${proposal.proposedBy.kind} ${escape(proposal.proposedBy.name)}` +
          `${proposal.confidence !== undefined ? `, confidence ${Math.round(proposal.confidence * 100)} %` : ''}):\n` +
          `${escape(proposal.reasoning || '(no reasoning given)')}` +
          (evidence.length > 0 ? `\n*Evidence:*\n${evidence.join('\n')}` : ''),
      ),
    );
  }
  const classification = spec.classification;
  const personal = spec.schema.fields.filter((field) => field.pii).map((field) => field.name);
  blocks.push(
    section(
      `*Classification:* ${classification.level}${classification.pii ? ' · :lock: *personal data*' : ''}` +
        (personal.length > 0 ? `\n*Personal fields:* ${personal.join(', ')}` : '') +
        (classification.masking.length > 0
          ? `\n*Masking:* ${classification.masking.map((mask) => `${mask.field} (${mask.strategy})`).join(', ')}`
          : ''),
    ),
  );
  if (spec.sql) {
    // Block Kit has no collapsible block: the SQL opens in a modal, out of the channel's way.
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*SQL:* ${spec.sql.split('\n').length} line(s), ${spec.sql.length} characters`,
      },
      accessory: {
        type: 'button',
        action_id: slackActionIds.viewSql,
        text: { type: 'plain_text', text: 'View SQL' },
        value: JSON.stringify({ productId: view.productId, revision: view.revision } satisfies ButtonValue),
      },
    });
  }
  blocks.push(...reviewBlocks(view));
  blocks.push({ type: 'divider' });
  blocks.push(
    section(
      `${stageEmoji[view.stage] ?? ''} *${view.stage}*: ${stageMeaning[view.stage]}\n` +
        `*Approvals:* ${view.approvals.length}/${view.requiredApprovals}` +
        (view.approvals.length > 0 ? ` (${view.approvals.join(', ')})` : '') +
        `   *Approvers:* ${view.approvers.join(', ')}` +
        (view.deadline ? `\n*Decide by:* ${view.deadline}` : ''),
    ),
  );
  const decided = view.decisions.filter((d) => d.by !== 'meshloop').slice(-5);
  if (decided.length > 0) {
    blocks.push(
      context(
        decided
          .map(
            (d) =>
              `${d.at.slice(0, 16).replace('T', ' ')} ${escape(d.by)} ${d.action}` +
              `${d.via ? ` via ${d.via}` : ''}${d.keyId ? ` (signed: ${d.keyId})` : ''}` +
              `${d.comment ? `: ${escape(clip(d.comment, 200))}` : ''}`,
          )
          .join('\n'),
      ),
    );
  }
  if (view.stage === 'awaitingApproval' || view.stage === 'changesRequested') {
    const value = JSON.stringify({
      productId: view.productId,
      revision: view.revision,
    } satisfies ButtonValue);
    const button = (actionId: string, text: string, style?: 'primary' | 'danger'): Block => ({
      type: 'button',
      action_id: actionId,
      text: { type: 'plain_text', text },
      value,
      ...(style ? { style } : {}),
    });
    blocks.push({
      type: 'actions',
      block_id: 'meshloop_review',
      elements: [
        ...(view.stage === 'awaitingApproval' ? [button(slackActionIds.approve, 'Approve', 'primary')] : []),
        button(slackActionIds.reject, 'Reject', 'danger'),
        button(slackActionIds.requestChanges, 'Request changes'),
      ],
    });
  }
  return blocks;
}

/** The modal asking for the comment of a rejection or change request. */
export function reviewCommentModal(metadata: {
  productId: string;
  revision: number;
  action: 'reject' | 'requestChanges';
  channel: string;
}): Block {
  const verb = metadata.action === 'reject' ? 'Reject' : 'Request changes to';
  return {
    type: 'modal',
    callback_id: reviewCommentCallbackId,
    private_metadata: JSON.stringify(metadata),
    title: { type: 'plain_text', text: metadata.action === 'reject' ? 'Reject' : 'Request changes' },
    submit: { type: 'plain_text', text: 'Send' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      section(`${verb} *${metadata.productId}* (revision ${metadata.revision})`),
      {
        type: 'input',
        block_id: 'comment',
        label: { type: 'plain_text', text: 'Why?' },
        element: { type: 'plain_text_input', action_id: 'text', multiline: true, max_length: 2000 },
      },
    ],
  };
}

export function sqlModal(productId: string, sql: string): Block {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'SQL' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [section(`*${productId}*`), section('```' + clip(sql, 2800) + '```')],
  };
}

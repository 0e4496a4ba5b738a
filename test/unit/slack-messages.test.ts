import assert from 'node:assert/strict';
import { ErrorCode } from '@slack/web-api';
import type { ProposalView } from '../../src/adapters/slack';
import { proposalBlocks, translateSlackError } from '../../src/adapters/slack';
import { validSpec } from '../helpers/specs';

function view(overrides: Partial<ProposalView> = {}): ProposalView {
  return {
    productId: 'orders.daily_revenue',
    revision: 2,
    stage: 'awaitingApproval',
    spec: validSpec({
      sql: 'SELECT 1',
      proposal: {
        proposedBy: { kind: 'agent', name: 'planner' },
        reasoning: 'Revenue <b>per</b> day & channel',
        evidence: [{ summary: '12 000 orders a day' }],
        confidence: 0.8,
      },
    }),
    approvers: ['alice', 'bob'],
    requiredApprovals: 2,
    approvals: ['alice'],
    decisions: [],
    ...overrides,
  };
}

describe('Slack proposal message', () => {
  it('shows what, why, evidence, SQL button and the decision buttons while awaiting approval', () => {
    const text = JSON.stringify(proposalBlocks(view()));
    for (const part of [
      'orders.daily_revenue',
      '12 000 orders a day',
      'confidence 80 %',
      'View SQL',
      '1/2 (alice)',
    ])
      assert.ok(text.includes(part), part);
    assert.ok(
      text.includes('Revenue &lt;b&gt;per&lt;/b&gt; day &amp; channel'),
      'text from a proposal is escaped',
    );
    for (const action of ['meshloop_approve', 'meshloop_reject', 'meshloop_request_changes'])
      assert.ok(text.includes(action), action);
    assert.ok(text.includes('"value":"{\\"productId\\":\\"orders.daily_revenue\\",\\"revision\\":2}"'));
  });

  it('has no buttons once decided, and no Approve while changes are requested', () => {
    assert.ok(!JSON.stringify(proposalBlocks(view({ stage: 'active' }))).includes('meshloop_reject'));
    const changes = JSON.stringify(proposalBlocks(view({ stage: 'changesRequested' })));
    assert.ok(!changes.includes('meshloop_approve') && changes.includes('meshloop_reject'));
  });

  it('stays within Slack limits with a huge reasoning', () => {
    const spec = view().spec;
    const blocks = proposalBlocks(
      view({ spec: { ...spec, proposal: { ...spec.proposal!, reasoning: 'x'.repeat(50_000) } } }),
    );
    assert.ok(blocks.length <= 50);
    for (const block of blocks) {
      const text = (block.text as { text?: string } | undefined)?.text ?? '';
      assert.ok(text.length <= 3000, `section of ${text.length} characters`);
    }
  });
});

describe('Slack errors', () => {
  const cases: [string, unknown, boolean][] = [
    ['rate limited', { code: ErrorCode.RateLimitedError }, true],
    ['HTTP 500', { code: ErrorCode.HTTPError, statusCode: 500 }, true],
    ['HTTP 403', { code: ErrorCode.HTTPError, statusCode: 403 }, false],
    ['network', { code: ErrorCode.RequestError }, true],
    ['internal_error', { code: ErrorCode.PlatformError, data: { error: 'internal_error' } }, true],
    ['channel_not_found', { code: ErrorCode.PlatformError, data: { error: 'channel_not_found' } }, false],
  ];
  for (const [name, error, retryable] of cases) {
    it(`${name} → ${retryable ? 'retryable' : 'not retryable'}`, () => {
      assert.equal(
        translateSlackError('chat.postMessage', Object.assign(new Error(name), error)).retryable,
        retryable,
      );
    });
  }
});

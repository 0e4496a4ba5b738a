import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSlackActivities } from '../../activities/slack';
import { translatingFailures } from '../../activities/failures';
import { createSlackWebClient } from '../../src/adapters/slack';
import type { ApprovalSigning } from '../../src/domain/approval-signing';
import { parseMeshConfig } from '../../src/domain/mesh-config';
import { createLogger } from '../../src/log';
import { newSigningKey } from '../../src/signing/keys';
import type { RunningSlackApp } from '../../src/slack/app';
import { startSlackApp } from '../../src/slack/app';
import { waitUntil } from '../../src/stack/probe';
import type { ProductStatus } from '../../workflows/definitions';
import { getStatusQuery } from '../../workflows/definitions';
import { FakeSlack } from '../helpers/fake-slack';
import type { FakeActivities } from '../helpers/workflows';
import type { MeshSettings } from '../helpers/workflows';
import {
  fakesWith,
  openWorkflowTestContext,
  productInput,
  recordHistory,
  stageIs,
  uniqueProduct,
  waitForStatus,
  withWorker,
} from '../helpers/workflows';

const CHANNEL = 'C0ORDERS';
const SIGNING_SECRET = 'test-signing-secret-0123456789';
const quiet = createLogger('test', 'error');

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const outcome = await waitUntil(async () => await condition(), { timeoutMs, intervalMs: 50 });
  assert.equal(outcome, 'ready', `not reached in ${timeoutMs} ms: ${what}`);
}

/** Post an interaction the way Slack does: form-encoded `payload`, signed with the signing secret. */
async function postInteraction(
  port: number,
  payload: Record<string, unknown>,
  sign: { secret?: string; timestamp?: number } = {},
): Promise<{ status: number; replay: () => Promise<number> }> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(sign.timestamp ?? Math.floor(Date.now() / 1000));
  const signature =
    'v0=' +
    createHmac('sha256', sign.secret ?? SIGNING_SECRET)
      .update(`v0:${timestamp}:${body}`)
      .digest('hex');
  const send = async () =>
    (
      await fetch(`http://127.0.0.1:${port}/slack/interactions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': signature,
        },
        body,
      })
    ).status;
  return { status: await send(), replay: send };
}

let triggers = 0;
function buttonClick(user: string, actionId: string, productId: string, revision = 1) {
  return {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), team_id: 'T0001' },
    team: { id: 'T0001', domain: 'meshloop' },
    api_app_id: 'A0001',
    token: 'legacy-verification-token',
    trigger_id: `trigger-${(triggers += 1)}`,
    container: { type: 'message', message_ts: '1.0', channel_id: CHANNEL, is_ephemeral: false },
    channel: { id: CHANNEL, name: 'orders-products' },
    message: { ts: '1.0', type: 'message', text: '' },
    response_url: 'http://127.0.0.1:9/unused',
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'meshloop_review',
        value: JSON.stringify({ productId, revision }),
        action_ts: String(Date.now() / 1000),
        text: { type: 'plain_text', text: 'x' },
      },
    ],
  };
}

function modalSubmission(user: string, view: Record<string, unknown>, comment: string) {
  return {
    type: 'view_submission',
    user: { id: user, username: user.toLowerCase(), team_id: 'T0001' },
    team: { id: 'T0001', domain: 'meshloop' },
    api_app_id: 'A0001',
    token: 'legacy-verification-token',
    trigger_id: `trigger-${(triggers += 1)}`,
    view: {
      id: 'V1',
      type: 'modal',
      team_id: 'T0001',
      callback_id: view.callback_id,
      private_metadata: view.private_metadata,
      state: { values: { comment: { text: { type: 'plain_text_input', value: comment } } } },
      hash: 'h',
      app_id: 'A0001',
      bot_id: 'BBOT',
    },
  };
}

describe('Slack: proposals posted and decided in Slack (real Temporal server, fake Slack Web API)', function () {
  this.timeout(90_000);
  let context: Awaited<ReturnType<typeof openWorkflowTestContext>>;
  const slack = new FakeSlack();
  let app: RunningSlackApp;
  const slackKey = newSigningKey({ id: 'slack-app', slackApp: true }).key;
  const signing: ApprovalSigning = { mode: 'required', keys: [slackKey.trusted] };
  const mesh = parseMeshConfig({
    domains: { orders: { approvers: ['alice', 'bob'], slackChannel: CHANNEL } },
    approvals: { signing: 'required', keys: [slackKey.trusted] },
    slack: { users: { U0ALICE: 'alice', U0BOB: 'bob' } },
  });

  before(async function () {
    this.timeout(15 * 60_000);
    context = await openWorkflowTestContext();
    await slack.start();
    app = await startSlackApp({
      signingSecret: SIGNING_SECRET,
      botToken: 'xoxb-test',
      port: 0,
      apiUrl: slack.url,
      temporal: context.client,
      mesh: () => Promise.resolve(mesh),
      signingKey: slackKey,
      log: quiet,
    });
  });

  after(async () => {
    await app?.stop();
    await slack.stop();
    await context?.close();
  });

  /** Fakes whose Slack activity is the real one, against the fake Slack Web API. */
  function withRealSlackActivity(settings: Partial<MeshSettings> = {}): FakeActivities {
    const fakes = fakesWith({ slackChannel: CHANNEL, slackUsers: mesh.slackUsers, ...settings });
    const activities = translatingFailures(
      createSlackActivities({
        slack: createSlackWebClient({ botToken: 'xoxb-test', apiUrl: slack.url }),
        log: quiet,
      }),
    );
    fakes.slack = (input) => activities.syncSlackProposalMessage(input);
    return fakes;
  }

  const messageOf = (productId: string) =>
    slack.topLevel(CHANNEL).filter((m) => m.metadata?.event_payload.product_id === productId);
  const ephemeralsTo = (user: string) => slack.ephemerals.filter((e) => e.user === user).map((e) => e.text);

  it('posts the proposal once per revision and updates it in place; a retry after a lost answer does not post twice', async () => {
    const fakes = withRealSlackActivity({ approvalSigning: signing });
    // Slack posts the message but the answer is lost: Temporal retries, the retry finds it.
    slack.failNext('chat.postMessage', 'lostAnswer');
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct({ sql: 'SELECT 1' })));
      const status = await waitForStatus(handle, stageIs('awaitingApproval'));
      await until(
        // Posted while the SQL guard runs (proposed), then updated in place once it awaits approval.
        () =>
          messageOf(status.productId).length === 1 &&
          JSON.stringify(messageOf(status.productId)[0]?.blocks ?? []).includes('*awaitingApproval*'),
        'message posted and showing awaitingApproval',
      );
      const [message] = messageOf(status.productId);
      assert.deepEqual(message?.metadata?.event_payload, { product_id: status.productId, revision: 1 });
      const text = JSON.stringify(message?.blocks);
      for (const part of [
        'Approve',
        'Reject',
        'Request changes',
        'View SQL',
        'awaitingApproval',
        'Classification',
      ])
        assert.ok(text.includes(part), `the message shows ${part}`);
      // The activity again, as a retry would run it: still one message.
      await fakes.slack!(fakes.callsOf('syncSlackProposalMessage').at(-1)!);
      assert.equal(messageOf(status.productId).length, 1);
      // The SQL opens in a modal.
      await postInteraction(app.port, buttonClick('U0BOB', 'meshloop_view_sql', status.productId));
      await until(() => slack.views.some((v) => JSON.stringify(v.view).includes('SELECT 1')), 'SQL shown');
    });
  });

  it('an approver clicks Approve: the product goes active, recorded via slack and signed by the app; the message follows', async () => {
    const fakes = withRealSlackActivity({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const { productId } = await waitForStatus(handle, stageIs('awaitingApproval'));
      const click = await postInteraction(app.port, buttonClick('U0ALICE', 'meshloop_approve', productId));
      assert.equal(click.status, 200);
      const active = await waitForStatus(handle, stageIs('active'));
      const approval = active.decisions.find((d) => d.action === 'approve');
      assert.deepEqual([approval?.by, approval?.via, approval?.keyId], ['alice', 'slack', 'slack-app']);
      await until(
        () => JSON.stringify(messageOf(productId)[0]?.blocks ?? []).includes('*active*'),
        'message shows active',
      );
      assert.ok(
        !JSON.stringify(messageOf(productId)[0]?.blocks).includes('meshloop_approve'),
        'no buttons once decided',
      );
      // A second click changes nothing and says why, privately.
      await postInteraction(app.port, buttonClick('U0ALICE', 'meshloop_approve', productId));
      await until(
        () => ephemeralsTo('U0ALICE').some((t) => /already approved|cannot approve/.test(t)),
        'refusal shown',
      );
      assert.equal(
        (await handle.query(getStatusQuery)).decisions.filter((d) => d.action === 'approve').length,
        1,
      );
      await recordHistory(handle, 'slack-approval');
    });
  });

  it('reject and request changes ask for a comment in a modal, then move the product', async () => {
    const fakes = withRealSlackActivity({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const first = await start(productInput(uniqueProduct()));
      const second = await start(productInput(uniqueProduct()));
      const a = await waitForStatus(first, stageIs('awaitingApproval'));
      const b = await waitForStatus(second, stageIs('awaitingApproval'));

      const decide = async (user: string, actionId: string, productId: string, comment: string) => {
        const viewsBefore = slack.views.length;
        assert.equal((await postInteraction(app.port, buttonClick(user, actionId, productId))).status, 200);
        await until(() => slack.views.length > viewsBefore, 'modal opened');
        const modal = slack.views.at(-1)!.view;
        assert.equal((await postInteraction(app.port, modalSubmission(user, modal, comment))).status, 200);
      };
      await decide('U0BOB', 'meshloop_reject', a.productId, 'duplicates orders.revenue');
      await decide('U0ALICE', 'meshloop_request_changes', b.productId, 'mask the e-mail');

      const rejected = await waitForStatus(first, stageIs('rejected'));
      assert.deepEqual(
        rejected.decisions.filter((d) => d.action === 'reject').map((d) => [d.by, d.comment, d.via]),
        [['bob', 'duplicates orders.revenue', 'slack']],
      );
      const changes = await waitForStatus(second, stageIs('changesRequested'));
      assert.equal(changes.decisions.at(-1)?.comment, 'mask the e-mail');
      await until(
        () => JSON.stringify(messageOf(a.productId)[0]?.blocks ?? []).includes('*rejected*'),
        'message shows rejected',
      );
    });
  });

  it('an outsider gets an ephemeral refusal; forged, stale and replayed requests get 401; nothing changes', async () => {
    const fakes = withRealSlackActivity({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const { productId } = await waitForStatus(handle, stageIs('awaitingApproval'));

      assert.equal(
        (await postInteraction(app.port, buttonClick('U0MALLORY', 'meshloop_approve', productId))).status,
        200,
      );
      await until(
        () => ephemeralsTo('U0MALLORY').some((t) => t.includes('not an approver')),
        'outsider refused',
      );

      const forged = await postInteraction(app.port, buttonClick('U0ALICE', 'meshloop_approve', productId), {
        secret: 'not-the-secret',
      });
      assert.equal(forged.status, 401);
      const stale = await postInteraction(app.port, buttonClick('U0ALICE', 'meshloop_approve', productId), {
        timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
      });
      assert.equal(stale.status, 401);
      // A genuine request for another product, sent twice: the copy is refused.
      const other = await start(productInput(uniqueProduct()));
      const otherStatus = await waitForStatus(other, stageIs('awaitingApproval'));
      const genuine = await postInteraction(
        app.port,
        buttonClick('U0BOB', 'meshloop_reject', otherStatus.productId),
      );
      assert.equal(genuine.status, 200);
      assert.equal(await genuine.replay(), 401);

      const status: ProductStatus = await handle.query(getStatusQuery);
      assert.equal(status.stage, 'awaitingApproval');
      assert.deepEqual(status.approvals, []);
      assert.equal(
        slack.views.filter((v) => JSON.stringify(v.view).includes(otherStatus.productId)).length,
        1,
      );
    });
  });

  it('a signed request is accepted once: respelled timestamps and signatures do not replay it', async () => {
    const fakes = withRealSlackActivity({ approvalSigning: signing });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const { productId } = await waitForStatus(handle, stageIs('awaitingApproval'));
      const body = new URLSearchParams({
        payload: JSON.stringify(buttonClick('U0BOB', 'meshloop_reject', productId)),
      }).toString();
      const ts = Math.floor(Date.now() / 1000);
      const signatureFor = (stamp: string) =>
        'v0=' + createHmac('sha256', SIGNING_SECRET).update(`v0:${stamp}:${body}`).digest('hex');
      const send = async (timestamp: string, signature: string, payload = body) =>
        (
          await fetch(`http://127.0.0.1:${app.port}/slack/interactions`, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-slack-request-timestamp': timestamp,
              'x-slack-signature': signature,
            },
            body: payload,
          })
        ).status;
      const signature = signatureFor(String(ts));
      const modalsOpened = () => slack.views.filter((v) => JSON.stringify(v.view).includes(productId)).length;

      assert.equal(await send(String(ts), signature), 200);
      await until(() => modalsOpened() === 1, 'the genuine click opened the comment modal');

      // The same request again, and respelled so Bolt would read the same timestamp or signature.
      const variants: Array<[string, string]> = [
        [String(ts), signature],
        [`${ts}.0`, signature],
        [`${ts}.000`, signature],
        [`0${ts}`, signature],
        [`00${ts}`, signature],
        [`+${ts}`, signature],
        [` ${ts}`, signature],
        [`${ts}e0`, signature],
        [`0x${ts.toString(16)}`, signature],
        [String(ts), `${signature}=x`],
        [String(ts), `${signature}=`],
        [String(ts), signature.toUpperCase().replace('V0=', 'v0=')],
        [String(ts), `v0=${signature.slice(3)}00`],
        [String(ts), `v1=${signature.slice(3)}`],
        [String(ts), `v0=v0=${signature.slice(3)}`],
      ];
      for (const [timestamp, sig] of variants) {
        assert.equal(
          await send(timestamp, sig),
          401,
          `replayed as ts=${JSON.stringify(timestamp)} sig=${sig}`,
        );
      }
      // Another request, correctly signed for a respelled timestamp, is refused too (not canonical).
      assert.equal(await send(`${ts}.0`, signatureFor(`${ts}.0`)), 401);
      assert.equal(await send(`0${ts}`, signatureFor(`0${ts}`)), 401);
      // The body changed under the same signature: refused.
      assert.equal(await send(String(ts), signature, `${body}&x=1`), 401);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(modalsOpened(), 1);
      const status: ProductStatus = await handle.query(getStatusQuery);
      assert.equal(status.stage, 'awaitingApproval');
    });
  });

  it('reminders and expiry are thread replies under the proposal, each posted once', async () => {
    const fakes = withRealSlackActivity({ reminderIntervalMs: 1000, approvalDeadlineMs: 2500 });
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const expired = await handle.result();
      assert.equal(expired.stage, 'expired');
      const [message] = messageOf(expired.productId);
      assert.ok(message, 'the proposal was posted');
      const replies = slack.replies(message.ts).map((m) => m.text);
      // Reminders that come while a sync is in flight are coalesced into one reply; none is posted twice.
      const reminders = replies.filter((t) => t.includes('Reminder'));
      assert.ok(reminders.length >= 1 && reminders.length <= expired.remindersSent, JSON.stringify(replies));
      assert.equal(new Set(reminders).size, reminders.length);
      assert.equal(replies.filter((t) => t.includes('Expired')).length, 1);
      assert.ok(JSON.stringify(message.blocks).includes('*expired*'), 'the message shows expired');
      await recordHistory(handle, 'slack-reminders-expiry');
    });
  });

  it('Slack answering 429 and 500 is retried; the product never waits for it nor fails', async () => {
    const fakes = withRealSlackActivity();
    const callsBefore = slack.callsOf('conversations.history').length;
    slack.failNext('conversations.history', 429, 500, 500);
    await withWorker(context, fakes, async ({ start }) => {
      const handle = await start(productInput(uniqueProduct()));
      const { productId } = await waitForStatus(handle, stageIs('awaitingApproval'));
      // Approve at once, while Slack is still failing: the product moves on regardless.
      await handle.signal('approve', { by: 'alice' });
      const active = await waitForStatus(handle, stageIs('active'));
      assert.equal(active.lastError, undefined);
      await until(
        () => JSON.stringify(messageOf(productId)[0]?.blocks ?? []).includes('*active*'),
        'message caught up',
        30_000,
      );
      assert.equal(messageOf(productId).length, 1);
      const statuses = slack.callsOf('conversations.history').map((c) => c.status);
      assert.deepEqual(statuses.slice(callsBefore, callsBefore + 4), [429, 500, 500, 200]);
    });
  });
});

import { createHmac, timingSafeEqual } from 'node:crypto';
import { executeWhenReady } from '../adapters/temporal/updates';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, ExpressReceiver, LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { ButtonValue } from '../adapters/slack';
import { reviewCommentCallbackId, reviewCommentModal, slackActionIds, sqlModal } from '../adapters/slack';
import type { DomainGovernance } from '../domain/governance';
import { governanceOf } from '../domain/governance';
import type { MeshConfig } from '../domain/mesh-config';
import { ownValue } from '../domain/records';
import { workflowIdOf } from '../domain/spec';
import type { Logger } from '../log';
import type { SigningKey } from '../signing/keys';
import { signForProduct } from '../signing/keys';
import type { ReviewAction } from '../../workflows/definitions';
import { getStatusQuery, reviewUpdate } from '../../workflows/definitions';

/**
 * The Slack app: approvals where people already work. Slack signs every request (Bolt checks the
 * v0 signature and its five-minute window; we refuse replays); a click becomes the product
 * workflow's `review` update as the approver mesh.yaml maps the Slack user to, signed with the
 * app's key when the mesh requires signed approvals. Refusals go back to the clicker, privately.
 */

export type SlackAppOptions = Readonly<{
  signingSecret: string;
  botToken: string;
  /** 0 picks a free port. */
  port: number;
  apiUrl?: string;
  temporal: Client;
  /** Read at each click, so mesh.yaml changes apply without a restart. */
  mesh: () => Promise<MeshConfig>;
  /** The app's approval signing key; needed when mesh.yaml requires signed approvals. */
  signingKey?: SigningKey;
  log: Logger;
}>;

export type RunningSlackApp = Readonly<{ port: number; stop: () => Promise<void> }>;

const buttonValueSchema = z.strictObject({
  productId: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$/)
    .max(200),
  revision: z.number().int().min(1).max(1_000_000),
});
const modalMetadataSchema = buttonValueSchema.extend({
  action: z.enum(['reject', 'requestChanges']),
  channel: z.string().max(80),
});

const domainOfProductId = (productId: string) => productId.slice(0, productId.indexOf('.'));

const notAnApprover = (domain: string) =>
  `Not done: your Slack user is not an approver of domain ${domain} in mesh.yaml.`;

function parseJson<T>(schema: z.ZodType<T>, text: unknown): T | undefined {
  if (typeof text !== 'string' || text.length > 2000) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Slack's window: a request whose timestamp is further than this from now is refused. */
const timestampWindowS = 5 * 60;
/** A request is remembered until its timestamp leaves the window (with room for clock skew). */
const rememberForMs = (2 * timestampWindowS + 60) * 1000;
const maxBodyBytes = 512 * 1024;
const canonicalTimestamp = /^[1-9][0-9]{0,11}$/;
const canonicalSignature = /^v0=[0-9a-f]{64}$/;

/**
 * Slack's request check, strict, before Bolt sees the request: Bolt signs `Number(ts)` and reads the
 * signature after the first `=`, so `<ts>.0`, `0<ts>`, `+<ts>` or `<sig>=x` would pass it as new
 * requests. Here the timestamp must be plain decimal digits and the signature exactly `v0=` and 64
 * lower-case hex digits; the HMAC is checked over the exact bytes received; and only then is the
 * request remembered (by its signature, which the canonical forms make unique) for as long as its
 * timestamp stays acceptable, so a verified request is never accepted twice. Junk is never stored,
 * so it cannot push genuine requests out. The raw body is handed on to Bolt (`req.rawBody`).
 */
export function slackRequestGuard(signingSecret: string, now: () => number = Date.now) {
  const seen = new Map<string, number>();
  const refuse = (res: Response) => void res.status(401).send();
  return (req: Request, res: Response, next: NextFunction) => {
    const signature = req.header('x-slack-signature') ?? '';
    const timestamp = req.header('x-slack-request-timestamp') ?? '';
    if (!canonicalSignature.test(signature) || !canonicalTimestamp.test(timestamp)) return refuse(res);
    const at = now();
    if (Math.abs(at / 1000 - Number(timestamp)) > timestampWindowS) return refuse(res);
    readBody(req)
      .then((body) => {
        if (body === undefined) return void res.status(413).send();
        const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(body).digest();
        const given = Buffer.from(signature.slice(3), 'hex');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse(res);
        for (const [key, expires] of seen) {
          if (expires > at) break; // insertion order by arrival: the rest expire later
          seen.delete(key);
        }
        if (seen.has(signature)) return refuse(res);
        seen.set(signature, Math.max(at, Number(timestamp) * 1000) + rememberForMs);
        (req as Request & { rawBody?: Buffer }).rawBody = body;
        next();
      })
      .catch(() => refuse(res));
  };
}

function readBody(req: Request): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startSlackApp(options: SlackAppOptions): Promise<RunningSlackApp> {
  const { log } = options;
  const web = express();
  web.use('/slack', slackRequestGuard(options.signingSecret));
  const receiver = new ExpressReceiver({
    signingSecret: options.signingSecret,
    app: web,
    endpoints: { events: '/slack/events', interactions: '/slack/interactions' },
    logger: boltLogger(log),
  });
  const app = new App({
    // A fixed bot token without Bolt's start-up auth.test: an unreachable Slack must not crash the app.
    authorize: () => Promise.resolve({ botToken: options.botToken }),
    receiver,
    logger: boltLogger(log),
    clientOptions: {
      ...(options.apiUrl
        ? { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` }
        : {}),
      retryConfig: { retries: 2, factor: 1, minTimeout: 200, maxTimeout: 1000 },
    },
  });

  const tell = async (client: WebClient, channel: string | undefined, user: string, text: string) => {
    if (!channel) return;
    await client.chat
      .postEphemeral({ channel, user, text })
      .catch((error: unknown) => log.warn('slack ephemeral failed', { error: String(error) }));
  };

  /**
   * The approver a Slack user is for this product's domain, with the domain's governance: the
   * same view of mesh.yaml the product's workflow reads (`readMeshGovernance`).
   */
  const approverOf = async (
    userId: string,
    productId: string,
  ): Promise<{ approver?: string; governance: DomainGovernance }> => {
    const governance = governanceOf(await options.mesh(), domainOfProductId(productId));
    return { approver: ownValue(governance.slackUsers, userId), governance };
  };

  const review = async (input: {
    client: WebClient;
    userId: string;
    channel?: string;
    target: ButtonValue;
    action: ReviewAction;
    comment?: string;
  }) => {
    const { client, userId, channel, target, action } = input;
    const { approver, governance } = await approverOf(userId, target.productId);
    if (!approver) {
      await tell(client, channel, userId, notAnApprover(governance.domain));
      log.info('slack click refused: unmapped user', { userId, productId: target.productId, action });
      return;
    }
    if (governance.approvalSigning.mode === 'required' && !options.signingKey) {
      await tell(
        client,
        channel,
        userId,
        'Not done: this mesh requires signed approvals and the Slack app has no key.',
      );
      return;
    }
    const handle = options.temporal.workflow.getHandle(workflowIdOf(target.productId));
    try {
      const status = await handle.query(getStatusQuery);
      if (status.revision !== target.revision) {
        await tell(
          client,
          channel,
          userId,
          `Not done: this message shows revision ${target.revision}; ${target.productId} is at revision ${status.revision}.`,
        );
        return;
      }
      // Signed over what the message shows (this revision) and the spec the product holds at it.
      const signature = options.signingKey
        ? signForProduct(options.signingKey, status, { kind: 'approval', action, by: approver })
        : undefined;
      const after = await executeWhenReady(() =>
        handle.executeUpdate(reviewUpdate, {
          args: [
            {
              action,
              by: approver,
              via: 'slack',
              ...(input.comment ? { comment: input.comment } : {}),
              ...(signature ? { signature } : {}),
            },
          ],
        }),
      );
      log.info('slack review applied', { productId: target.productId, approver, action, stage: after.stage });
      await tell(client, channel, userId, `Done: ${target.productId} is now ${after.stage}.`);
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        const reason = error.cause?.message ?? error.message;
        log.info('slack review refused', { productId: target.productId, approver, action, reason });
        await tell(client, channel, userId, `Not done: ${reason}`);
      } else if (error instanceof WorkflowNotFoundError) {
        await tell(client, channel, userId, `Not done: ${target.productId} is not running any more.`);
      } else {
        log.error('slack review failed', { productId: target.productId, error: String(error) });
        await tell(
          client,
          channel,
          userId,
          'Not done: Meshloop could not reach Temporal; try again shortly.',
        );
      }
    }
  };

  app.action(slackActionIds.approve, async ({ ack, body, client, action }) => {
    await ack();
    const target = parseJson(buttonValueSchema, 'value' in action ? action.value : undefined);
    if (!target) return;
    await review({ client, userId: body.user.id, channel: body.channel?.id, target, action: 'approve' });
  });

  for (const [actionId, reviewAction] of [
    [slackActionIds.reject, 'reject'],
    [slackActionIds.requestChanges, 'requestChanges'],
  ] as const) {
    app.action(actionId, async ({ ack, body, client, action }) => {
      await ack();
      const target = parseJson(buttonValueSchema, 'value' in action ? action.value : undefined);
      const channel = body.channel?.id;
      if (!target || !channel || !('trigger_id' in body)) return;
      const { approver, governance } = await approverOf(body.user.id, target.productId);
      if (!approver) {
        await tell(client, channel, body.user.id, notAnApprover(governance.domain));
        return;
      }
      await client.views
        .open({
          trigger_id: body.trigger_id,
          view: reviewCommentModal({ ...target, action: reviewAction, channel }) as never,
        })
        .catch((error: unknown) => log.warn('slack modal failed', { error: String(error) }));
    });
  }

  app.view(reviewCommentCallbackId, async ({ ack, body, view, client }) => {
    await ack();
    const metadata = parseJson(modalMetadataSchema, view.private_metadata);
    if (!metadata) return;
    const comment = view.state.values.comment?.text?.value ?? undefined;
    await review({
      client,
      userId: body.user.id,
      channel: metadata.channel,
      target: { productId: metadata.productId, revision: metadata.revision },
      action: metadata.action,
      ...(comment ? { comment: comment.slice(0, 2000) } : {}),
    });
  });

  app.action(slackActionIds.viewSql, async ({ ack, body, client, action }) => {
    await ack();
    const target = parseJson(buttonValueSchema, 'value' in action ? action.value : undefined);
    if (!target || !('trigger_id' in body)) return;
    try {
      const status = await options.temporal.workflow
        .getHandle(workflowIdOf(target.productId))
        .query(getStatusQuery);
      await client.views.open({
        trigger_id: body.trigger_id,
        view: sqlModal(target.productId, status.spec.sql ?? '') as never,
      });
    } catch (error) {
      log.warn('slack SQL view failed', { error: String(error) });
    }
  });

  app.error(async (error) => {
    log.error('slack app error', { error: error.message });
    return Promise.resolve();
  });

  const server = (await app.start(options.port)) as Server;
  const port = (server.address() as AddressInfo).port;
  log.info('slack app listening', { port, interactivityPath: '/slack/interactions' });
  return { port, stop: () => app.stop().then(() => undefined) };
}

function boltLogger(log: Logger): BoltLogger {
  const slack = log.child('slack');
  return {
    debug: () => undefined,
    info: (...msg: unknown[]) => slack.debug(msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => slack.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => slack.error(msg.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

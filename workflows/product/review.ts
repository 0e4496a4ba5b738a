import * as wf from '@temporalio/workflow';
import { approvalAuthentication, v2SignatureOf } from '../../src/domain/approval-signing';
import { samePerson, Stage } from '../../src/domain/lifecycle';
import type { ReviewRequest } from '../../src/domain/messages';
import { approverMessageSchema, claimedSender, parseMessage } from '../../src/domain/messages';
import { reviewRefusal } from '../../src/domain/permissions';
import { approvalSigningOf, approversOf, reminderIntervalMsOf } from '../../src/domain/product-state';
import { parseSpec } from '../../src/domain/spec';
import type { Product } from './product';
import { describeActivityFailure, housekeeping } from './proxies';

/**
 * Waiting for people: reviews by signal (ignored when refused) or update (rejected), amendments,
 * reminders and the approval deadline. The same rules (src/domain/permissions.ts) for all.
 */

/** Apply a review that passed `reviewRefusal` (a change request may carry the amended spec). */
export function review(product: Product, request: ReviewRequest): void {
  // Unlabelled messages are taken as typed into the Temporal UI; the CLI and Slack say `via`.
  const how = approvalAuthentication(approvalSigningOf(product.governance), request, 'ui');
  const { action, by, comment } = request;
  // A signed approval's signature is kept, to verify it again in every later run.
  const v2 = product.hardened && how.keyId !== undefined ? v2SignatureOf(request.signature) : undefined;
  const proof =
    v2 && action === 'approve'
      ? { by: by.trim(), keyId: v2.keyId, at: v2.at, nonce: v2.nonce, signature: v2.signature }
      : undefined;
  product.spend(request.signature);
  product.report({ kind: 'reviewed', action, by, comment, ...how, ...(proof ? { proof } : {}) });
  if (request.action === 'requestChanges' && request.amendedSpec !== undefined)
    amend(product, by, request.amendedSpec, 'amended with the change request');
}

/**
 * A signal from anyone with any JSON: parsed, then decided with mesh.yaml read now. Never throws
 * (a throwing signal handler would fail every workflow task while the signal stays in history).
 */
export async function onReviewSignal(
  product: Product,
  action: 'approve' | 'reject',
  message: unknown,
): Promise<void> {
  try {
    const parsed = parseMessage(approverMessageSchema, message, `${action} signal`);
    if (!parsed.ok) return product.ignore(claimedSender(message), action, parsed.reason);
    const request: ReviewRequest = { action, ...parsed.value };
    try {
      await product.readGovernance();
    } catch (error) {
      return product.ignore(
        request.by,
        action,
        `mesh.yaml could not be read: ${describeActivityFailure(error).message}`,
      );
    }
    const refusal = reviewRefusal(product.state, product.governance, request, product.signatureContext());
    if (refusal) product.ignore(request.by, action, refusal.message);
    else review(product, request);
  } catch (error) {
    product.ignore(
      claimedSender(message),
      action,
      `not handled: ${error instanceof Error ? error.message : 'error'}`,
    );
  }
}

/** A new revision: approvals start over; it is checked again, then goes back to its approvers. */
export function amend(product: Product, by: string, candidate: unknown, comment?: string): void {
  product.report({ kind: 'amended', by, spec: parseSpec(candidate, 'amended spec'), comment });
}

/** Wait for a decision, reminding approvers, until the deadline; returns when there is something to do. */
export async function awaitDecision(product: Product, shouldContinueAsNew: () => boolean): Promise<void> {
  const waitingIn = product.stage;
  const version = product.decisionCount;
  const somethingHappened = () =>
    product.stage !== waitingIn ||
    product.decisionCount !== version ||
    product.cyclesPending ||
    shouldContinueAsNew();
  for (;;) {
    const now = Date.now();
    const deadlineAt = product.state.deadlineAt ?? now;
    if (now >= deadlineAt) {
      product.report({ kind: 'deadlinePassed' });
      return;
    }
    const wakeAt = Math.min(deadlineAt, product.state.nextReminderAt ?? deadlineAt);
    if (await wf.condition(somethingHappened, Math.max(1, wakeAt - now))) return;
    const reminderDue = product.state.nextReminderAt;
    if (product.stage === Stage.awaitingApproval && reminderDue !== undefined && Date.now() >= reminderDue) {
      await remind(product, deadlineAt);
      if (somethingHappened()) return;
    }
  }
}

async function remind(product: Product, deadlineAt: number): Promise<void> {
  await product.readGovernance().catch(() => undefined); // remind whoever mesh.yaml names now
  const state = product.state;
  const pending = approversOf(product.governance).filter(
    (a) => !state.approvals.some((name) => samePerson(name, a)),
  );
  try {
    await housekeeping.sendApprovalReminder({
      productId: product.productId,
      approvers: pending,
      deadline: new Date(deadlineAt).toISOString(),
    });
    state.remindersSent += 1;
  } catch (error) {
    wf.log.warn('approval reminder failed', {
      productId: product.productId,
      error: describeActivityFailure(error),
    });
  }
  // Next reminder on the same rhythm, skipping any the worker slept through.
  const interval = reminderIntervalMsOf(product.governance);
  let next = (state.nextReminderAt ?? Date.now()) + interval;
  if (next <= Date.now()) next += Math.ceil((Date.now() - next + 1) / interval) * interval;
  state.nextReminderAt = next;
}

import * as wf from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { toCatalogDescriptor } from '../src/domain/catalog';
import { InvalidSpecError } from '../src/domain/errors';
import type { Decision, DecisionAction, LastError, ProvisionedResource } from '../src/domain/lifecycle';
import {
  canTransition,
  isApprover,
  isAwaitingDecision,
  isRetirable,
  isTerminal,
  samePerson,
  Stage,
} from '../src/domain/lifecycle';
import { checkPolicies } from '../src/domain/policies';
import { meshloopSearchAttributes } from '../src/domain/search-attributes';
import type { ProductSpec, ProductSpecInput } from '../src/domain/spec';
import { parseSpec, productIdOf } from '../src/domain/spec';
import type {
  AmendRequest,
  ApproverMessage,
  CarriedState,
  DataProductInput,
  OperatorRequest,
  ProductStatus,
  RetireRequest,
  ReviewRequest,
} from './definitions';
import {
  amendSpecUpdate,
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  rejectSignal,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from './definitions';

type Activities = ReturnType<typeof createActivities>;

// Provisioning retries transient trouble for a few minutes, then the product is `failed` for an operator.
// Each step takes seconds; a short timeout lets a step lost with a killed worker run again soon.
const provisioning = wf.proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});
// Reminders, catalog updates outside provisioning and the dependants check are short and best effort.
const housekeeping = wf.proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/** Who the workflow itself acts as in the audit trail. */
const SYSTEM = 'meshloop';
/** Ignored messages kept for the audit trail; bounded so a flood cannot grow the state. */
const MAX_IGNORED = 50;

type Refusal = { type: string; message: string };

function refuse(refusal: Refusal): never {
  throw wf.ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
}

const nowIso = () => new Date(Date.now()).toISOString();

/**
 * One data product's state and the rules that change it. Handlers mutate it synchronously;
 * the main loop performs the side effects (activities) the new state calls for.
 */
class DataProduct {
  readonly productId: string;
  readonly approvers: readonly string[];
  readonly requiredApprovals: number;
  state: CarriedState;

  constructor(private readonly input: DataProductInput) {
    this.approvers = input.approvers;
    this.requiredApprovals = Math.max(1, input.requiredApprovals ?? 1);
    if (input.carried) {
      this.state = input.carried;
    } else {
      const spec = parseInputSpec(input.spec);
      const at = nowIso();
      this.state = {
        stage: Stage.proposed,
        spec,
        revision: 1,
        approvals: [],
        decisions: [],
        ignored: [],
        policyViolations: [],
        resources: [],
        remindersSent: 0,
        continuedAsNew: 0,
        proposedAt: at,
        updatedAt: at,
      };
    }
    this.productId = productIdOf(this.state.spec);
  }

  get stage(): Stage {
    return this.state.stage;
  }

  status(): ProductStatus {
    const { deadlineAt, nextReminderAt: _next, publishedStage: _published, ...rest } = this.state;
    return {
      ...rest,
      productId: this.productId,
      approvers: [...this.approvers],
      requiredApprovals: this.requiredApprovals,
      ...(deadlineAt !== undefined && isAwaitingDecision(this.stage)
        ? { deadline: new Date(deadlineAt).toISOString() }
        : {}),
    };
  }

  /** Move to a stage the lifecycle allows, record why, and make it searchable. */
  transition(to: Stage, decision: { by: string; action: DecisionAction; comment?: string }): void {
    if (!canTransition(this.stage, to)) {
      refuse({ type: 'WrongStage', message: `a product cannot move from ${this.stage} to ${to}` });
    }
    this.state.stage = to;
    this.record(decision);
    if (isAwaitingDecision(to)) {
      // Each wait for a decision gets the domain's full deadline; reminders only bother approvers.
      const now = Date.now();
      this.state.deadlineAt = now + this.input.approvalDeadlineMs;
      this.state.nextReminderAt =
        to === Stage.awaitingApproval ? now + this.input.reminderIntervalMs : undefined;
    }
    wf.upsertSearchAttributes([{ key: meshloopSearchAttributes.stage, value: to }]);
  }

  record(decision: { by: string; action: DecisionAction; comment?: string }): void {
    const entry: Decision = {
      by: decision.by,
      action: decision.action,
      at: nowIso(),
      revision: this.state.revision,
      stage: this.stage,
      ...(decision.comment ? { comment: decision.comment } : {}),
    };
    this.state.decisions.push(entry);
    this.state.updatedAt = entry.at;
  }

  ignore(by: string, action: string, reason: string): void {
    this.state.ignored.push({ by, action, at: nowIso(), reason });
    if (this.state.ignored.length > MAX_IGNORED)
      this.state.ignored.splice(0, this.state.ignored.length - MAX_IGNORED);
    wf.log.info('message ignored', { productId: this.productId, by, action, reason });
  }

  /** Proposed: policy checks run before anyone is asked to approve. */
  propose(): void {
    const proposer = this.state.spec.proposal?.proposedBy.name ?? this.state.spec.owner;
    this.record({ by: proposer, action: 'propose', comment: this.state.spec.proposal?.reasoning });
    this.checkPoliciesThenWait();
  }

  private checkPoliciesThenWait(): void {
    const violations = checkPolicies(this.state.spec, { knownDomains: this.input.knownDomains });
    this.state.policyViolations = violations;
    if (violations.length === 0) {
      this.transition(Stage.awaitingApproval, {
        by: SYSTEM,
        action: 'policyCheck',
        comment: 'policies passed',
      });
    } else {
      this.state.lastError = { type: 'PolicyDenied', message: violations.join('; '), at: nowIso() };
      this.transition(Stage.changesRequested, {
        by: SYSTEM,
        action: 'policyCheck',
        comment: `policy violations: ${violations.join('; ')}`,
      });
    }
  }

  // ---- review: the same rules for signals (ignored when refused) and the update (rejected) ----

  reviewRefusal(request: ReviewRequest): Refusal | undefined {
    const by = typeof request.by === 'string' ? request.by.trim() : '';
    if (by === '') return { type: 'NotAnApprover', message: 'say who decides: "by" is required' };
    if (!['approve', 'reject', 'requestChanges'].includes(request.action)) {
      return { type: 'InvalidRequest', message: `unknown review action '${String(request.action)}'` };
    }
    if (!isApprover(this.approvers, by)) {
      return {
        type: 'NotAnApprover',
        message: `${by} is not an approver of domain ${this.state.spec.domain} (approvers: ${this.approvers.join(', ')})`,
      };
    }
    const allowedIn: Record<ReviewRequest['action'], Stage[]> = {
      approve: [Stage.awaitingApproval],
      reject: [Stage.awaitingApproval, Stage.changesRequested],
      requestChanges: [Stage.awaitingApproval, Stage.changesRequested],
    };
    if (!allowedIn[request.action].includes(this.stage)) {
      const approved = this.state.decisions.find(
        (d) => d.action === 'approve' && samePerson(d.by, by) && d.revision === this.state.revision,
      );
      return {
        type: approved && request.action === 'approve' ? 'DuplicateApproval' : 'WrongStage',
        message: approved
          ? `${by} already approved revision ${this.state.revision} at ${approved.at}; the product is ${this.stage}`
          : `cannot ${request.action} a product that is ${this.stage}`,
      };
    }
    if (request.action === 'approve' && this.state.approvals.some((name) => samePerson(name, by))) {
      return {
        type: 'DuplicateApproval',
        message: `${by} already approved revision ${this.state.revision}; ${this.requiredApprovals - this.state.approvals.length} more approval(s) needed`,
      };
    }
    if (request.amendedSpec !== undefined) {
      if (request.action !== 'requestChanges') {
        return { type: 'InvalidRequest', message: 'only requestChanges carries an amended spec' };
      }
      return this.amendmentRefusal(request.amendedSpec);
    }
    return undefined;
  }

  amendmentRefusal(candidate: ProductSpecInput): Refusal | undefined {
    let spec: ProductSpec;
    try {
      spec = parseSpec(candidate, 'amended spec');
    } catch (error) {
      if (error instanceof InvalidSpecError) return { type: 'InvalidSpec', message: error.message };
      throw error;
    }
    if (productIdOf(spec) !== this.productId) {
      return {
        type: 'InvalidSpec',
        message: `an amendment cannot change the product id (${this.productId} → ${productIdOf(spec)}); propose a new product instead`,
      };
    }
    const violations = checkPolicies(spec, { knownDomains: this.input.knownDomains });
    if (violations.length > 0) {
      return { type: 'PolicyDenied', message: `the amended spec breaks policies: ${violations.join('; ')}` };
    }
    return undefined;
  }

  /** Apply a review that passed `reviewRefusal`. */
  review(request: ReviewRequest): void {
    const by = request.by.trim();
    const comment = request.comment;
    switch (request.action) {
      case 'approve':
        this.state.approvals.push(by);
        if (this.state.approvals.length >= this.requiredApprovals) {
          this.transition(Stage.provisioning, { by, action: 'approve', comment });
        } else {
          this.record({ by, action: 'approve', comment });
        }
        return;
      case 'reject':
        this.transition(Stage.rejected, { by, action: 'reject', comment });
        return;
      case 'requestChanges':
        if (this.stage === Stage.changesRequested) this.record({ by, action: 'requestChanges', comment });
        else this.transition(Stage.changesRequested, { by, action: 'requestChanges', comment });
        if (request.amendedSpec !== undefined)
          this.amend(by, request.amendedSpec, 'amended with the change request');
        return;
    }
  }

  onSignal(action: 'approve' | 'reject', message: ApproverMessage): void {
    const request: ReviewRequest = { action, by: message?.by, comment: message?.comment };
    const refusal = this.reviewRefusal(request);
    if (refusal) this.ignore(String(message?.by ?? ''), action, refusal.message);
    else this.review(request);
  }

  amendRefusal(request: AmendRequest): Refusal | undefined {
    const by = typeof request.by === 'string' ? request.by.trim() : '';
    const spec = this.state.spec;
    const allowed =
      by !== '' &&
      (isApprover(this.approvers, by) ||
        samePerson(spec.owner, by) ||
        (spec.proposal !== undefined && samePerson(spec.proposal.proposedBy.name, by)));
    if (!allowed) {
      return {
        type: 'NotAllowed',
        message: `${by || '(nobody)'} may not amend ${this.productId}: only its owner, its proposer or an approver`,
      };
    }
    if (this.stage !== Stage.changesRequested) {
      return {
        type: 'WrongStage',
        message: `amend a product when changes are requested; it is ${this.stage}`,
      };
    }
    return this.amendmentRefusal(request.spec);
  }

  /** A new revision: approvals start over, and the product goes back to its approvers. */
  amend(by: string, candidate: ProductSpecInput, comment?: string): void {
    this.state.spec = parseSpec(candidate, 'amended spec');
    this.state.revision += 1;
    this.state.approvals = [];
    this.state.lastError = undefined;
    this.record({ by: by.trim(), action: 'amend', comment });
    this.checkPoliciesThenWait();
  }

  expire(): void {
    this.transition(Stage.expired, {
      by: SYSTEM,
      action: 'expire',
      comment: `no decision within ${Math.round(this.input.approvalDeadlineMs / 1000)} s`,
    });
  }

  // ---- operators ----

  operatorRefusal(
    request: OperatorRequest,
    allowed: (stage: Stage) => boolean,
    what: string,
  ): Refusal | undefined {
    if (typeof request.by !== 'string' || request.by.trim() === '') {
      return { type: 'InvalidRequest', message: 'say who you are: "by" is required' };
    }
    if (!allowed(this.stage))
      return { type: 'WrongStage', message: `cannot ${what} a product that is ${this.stage}` };
    return undefined;
  }

  async retire(request: RetireRequest): Promise<void> {
    const by = request.by.trim();
    if (!request.force) {
      const dependants = await housekeeping.findActiveDependants({ productId: this.productId });
      if (dependants.length > 0) {
        refuse({
          type: 'RetirementRefused',
          message: `active products still read ${this.productId}: ${dependants.join(', ')}. Retire them first, or force it.`,
        });
      }
    }
    // The stage may have moved while we asked the catalog (e.g. an operator retried provisioning).
    if (!isRetirable(this.stage))
      refuse({ type: 'WrongStage', message: `cannot retire a product that is ${this.stage}` });
    const comment = [request.comment, request.force ? '(forced)' : undefined].filter(Boolean).join(' ');
    this.transition(Stage.retired, { by, action: 'retire', comment });
  }

  // ---- side effects, run by the main loop ----

  async provision(): Promise<void> {
    const spec = this.state.spec;
    try {
      const topic = await provisioning.createKafkaTopic({
        productId: this.productId,
        topic: { ...spec.outputTopic },
      });
      const resource: ProvisionedResource = {
        kind: 'kafkaTopic',
        name: topic.topic,
        created: topic.created,
        at: nowIso(),
      };
      this.state.resources = [
        ...this.state.resources.filter((r) => !(r.kind === resource.kind && r.name === resource.name)),
        resource,
      ];
      // The catalog gets the descriptor as it will be once active: publishing is part of provisioning.
      const decision: Decision = {
        by: SYSTEM,
        action: 'provision',
        at: nowIso(),
        revision: this.state.revision,
        stage: Stage.active,
      };
      await provisioning.publishCatalogDescriptor({
        productId: this.productId,
        descriptor: toCatalogDescriptor({
          spec,
          stage: Stage.active,
          decisions: [...this.state.decisions, decision],
          resources: this.state.resources,
          updatedAt: decision.at,
        }),
      });
      this.state.lastError = undefined;
      this.transition(Stage.active, { by: SYSTEM, action: 'provision' });
      this.state.publishedStage = Stage.active;
    } catch (error) {
      const failure = describeActivityFailure(error);
      this.state.lastError = failure;
      this.transition(Stage.failed, {
        by: SYSTEM,
        action: 'fail',
        comment: `${failure.type}: ${failure.message}`,
      });
    }
  }

  /** Keep the catalog in step with the stage; outside provisioning a failure is noted, not fatal. */
  async publishIfChanged(): Promise<void> {
    // Loop: a message may move the stage again while a descriptor is being published.
    for (;;) {
      const stage = this.stage;
      if (stage === this.state.publishedStage || stage === Stage.proposed || stage === Stage.provisioning)
        return;
      this.state.publishedStage = stage;
      try {
        await housekeeping.publishCatalogDescriptor({
          productId: this.productId,
          descriptor: toCatalogDescriptor({
            spec: this.state.spec,
            stage,
            decisions: this.state.decisions,
            resources: this.state.resources,
            updatedAt: this.state.updatedAt,
          }),
        });
      } catch (error) {
        this.state.lastError = describeActivityFailure(error);
      }
    }
  }

  /** Wait for a decision, reminding approvers, until the deadline; returns when there is something to do. */
  async awaitDecision(shouldContinueAsNew: () => boolean): Promise<void> {
    const waitingIn = this.stage;
    const version = this.state.decisions.length;
    const somethingHappened = () =>
      this.stage !== waitingIn || this.state.decisions.length !== version || shouldContinueAsNew();
    for (;;) {
      const now = Date.now();
      const deadlineAt = this.state.deadlineAt ?? now;
      if (now >= deadlineAt) {
        this.expire();
        return;
      }
      const wakeAt = Math.min(deadlineAt, this.state.nextReminderAt ?? deadlineAt);
      if (await wf.condition(somethingHappened, Math.max(1, wakeAt - now))) return;
      const reminderDue = this.state.nextReminderAt;
      if (this.stage === Stage.awaitingApproval && reminderDue !== undefined && Date.now() >= reminderDue) {
        await this.remind(deadlineAt);
        if (somethingHappened()) return;
      }
    }
  }

  private async remind(deadlineAt: number): Promise<void> {
    const pending = this.approvers.filter((a) => !this.state.approvals.some((name) => samePerson(name, a)));
    try {
      await housekeeping.sendApprovalReminder({
        productId: this.productId,
        approvers: pending,
        deadline: new Date(deadlineAt).toISOString(),
      });
      this.state.remindersSent += 1;
    } catch (error) {
      wf.log.warn('approval reminder failed', {
        productId: this.productId,
        error: describeActivityFailure(error),
      });
    }
    // Next reminder on the same rhythm, skipping any the worker slept through.
    let next = (this.state.nextReminderAt ?? Date.now()) + this.input.reminderIntervalMs;
    while (next <= Date.now()) next += this.input.reminderIntervalMs;
    this.state.nextReminderAt = next;
  }

  upsertAllSearchAttributes(): void {
    const spec = this.state.spec;
    wf.upsertSearchAttributes([
      { key: meshloopSearchAttributes.domain, value: spec.domain },
      { key: meshloopSearchAttributes.owner, value: spec.owner },
      { key: meshloopSearchAttributes.kind, value: spec.kind },
      { key: meshloopSearchAttributes.stage, value: this.stage },
    ]);
  }
}

function parseInputSpec(spec: DataProductInput['spec']): ProductSpec {
  try {
    return parseSpec(spec);
  } catch (error) {
    // The starter validates first; an invalid spec here is a caller bug, so the workflow fails clearly.
    if (error instanceof InvalidSpecError) {
      throw wf.ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true });
    }
    throw error;
  }
}

function describeActivityFailure(error: unknown): LastError {
  const at = nowIso();
  if (error instanceof wf.ActivityFailure) {
    const cause = error.cause;
    if (cause instanceof wf.ApplicationFailure)
      return { type: cause.type ?? 'Error', message: cause.message, at };
    if (cause instanceof wf.TimeoutFailure) return { type: 'Timeout', message: cause.message, at };
    return { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? error.message, at };
  }
  // Anything else (cancellation, a bug) is not a provisioning outcome: let it fail the task.
  throw error;
}

/** One data product's life, from proposal to retirement. The workflow id is `data-product:<domain>.<name>`. */
export async function dataProductWorkflow(input: DataProductInput): Promise<ProductStatus> {
  const product = new DataProduct(input);

  wf.setHandler(getStatusQuery, () => product.status());
  wf.setHandler(approveSignal, (message) => product.onSignal('approve', message));
  wf.setHandler(rejectSignal, (message) => product.onSignal('reject', message));
  wf.setHandler(
    reviewUpdate,
    (request) => {
      product.review(request);
      return product.status();
    },
    { validator: (request: ReviewRequest) => throwIf(product.reviewRefusal(request)) },
  );
  wf.setHandler(
    amendSpecUpdate,
    (request) => {
      product.amend(request.by, request.spec, request.comment);
      return product.status();
    },
    { validator: (request: AmendRequest) => throwIf(product.amendRefusal(request)) },
  );
  wf.setHandler(
    retryProvisioningUpdate,
    (request) => {
      product.transition(Stage.provisioning, {
        by: request.by.trim(),
        action: 'retryProvisioning',
        comment: request.comment,
      });
      return product.status();
    },
    {
      validator: (request: OperatorRequest) =>
        throwIf(product.operatorRefusal(request, (stage) => stage === Stage.failed, 'retry provisioning of')),
    },
  );
  wf.setHandler(
    deprecateUpdate,
    (request) => {
      product.transition(Stage.deprecated, {
        by: request.by.trim(),
        action: 'deprecate',
        comment: request.comment,
      });
      return product.status();
    },
    {
      validator: (request: OperatorRequest) =>
        throwIf(
          product.operatorRefusal(request, (stage) => canTransition(stage, Stage.deprecated), 'deprecate'),
        ),
    },
  );
  wf.setHandler(
    retireUpdate,
    async (request) => {
      await product.retire(request);
      return product.status();
    },
    {
      validator: (request: RetireRequest) => throwIf(product.operatorRefusal(request, isRetirable, 'retire')),
    },
  );

  product.upsertAllSearchAttributes();
  if (!input.carried) product.propose();

  const shouldContinueAsNew = () =>
    wf.workflowInfo().continueAsNewSuggested ||
    (input.maxHistoryEvents !== undefined && wf.workflowInfo().historyLength >= input.maxHistoryEvents);

  for (;;) {
    // Messages may change the stage during any await, so every pass starts from the current one.
    await product.publishIfChanged();
    if (isTerminal(product.stage)) break;
    if (shouldContinueAsNew()) {
      // Let running handlers finish so no update is cut off; buffered signals reach the next run.
      await wf.condition(wf.allHandlersFinished);
      return await wf.continueAsNew<typeof dataProductWorkflow>({
        ...input,
        carried: { ...product.state, continuedAsNew: product.state.continuedAsNew + 1 },
      });
    }
    const stage = product.stage;
    if (isAwaitingDecision(stage)) {
      await product.awaitDecision(shouldContinueAsNew);
    } else if (stage === Stage.provisioning) {
      await product.provision();
    } else {
      // active, deprecated, failed: wait for an operator (or for history to need a fresh run).
      await wf.condition(() => product.stage !== stage || shouldContinueAsNew());
    }
  }
  await wf.condition(wf.allHandlersFinished);
  return product.status();
}

function throwIf(refusal: Refusal | undefined): void {
  if (refusal) refuse(refusal);
}

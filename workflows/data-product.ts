import * as wf from '@temporalio/workflow';
import { appendBounded, MAX_DECISIONS, MAX_IGNORED } from '../src/domain/audit';
import type { ApprovalSigning } from '../src/domain/approval-signing';
import { approvalAuthentication, checkApprovalSignature, signingOff } from '../src/domain/approval-signing';
import { toCatalogDescriptor } from '../src/domain/catalog';
import type { ProductJobStatus } from '../src/domain/creation';
import { normalisedSql, productJobNameOf } from '../src/domain/creation';
import { InvalidSpecError } from '../src/domain/errors';
import type { DomainGovernance, Refusal } from '../src/domain/governance';
import { operatorRefusal } from '../src/domain/governance';
import type { Decision, DecisionAction, ProvisionedResource } from '../src/domain/lifecycle';
import {
  canTransition,
  isApprover,
  isAwaitingDecision,
  isRetirable,
  isTerminal,
  samePerson,
  Stage,
} from '../src/domain/lifecycle';
import {
  amendRequestSchema,
  approverMessageSchema,
  bounded,
  claimedSender,
  MAX_NAME_LENGTH,
  operatorRequestSchema,
  parseMessage,
  retireRequestSchema,
  reviewRequestSchema,
} from '../src/domain/messages';
import { checkSchemaEvolution, tableTroubleOf } from '../src/domain/materialization';
import { checkPolicies } from '../src/domain/policies';
import { meshloopSearchAttributes } from '../src/domain/search-attributes';
import type { ProductSpec } from '../src/domain/spec';
import { parseSpec, productIdOf } from '../src/domain/spec';
import type {
  AmendRequest,
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
  redeployUpdate,
  rejectSignal,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from './definitions';
import {
  catalogPublishing,
  describeActivityFailure,
  housekeeping,
  meshReading,
  proposalChecking,
  provisioning,
} from './product/proxies';
import { deployRevision, lookAtJob, stopJob, waitUntilRunning } from './product/job';
import type { TableDeployment } from './product/table';
import { lookAtTable, materializeRevision, stopTable } from './product/table';
import type { CheckedStart } from './product/start-input';
import { checkStartInput } from './product/start-input';
import { startSlackNotifier } from './product/slack-notifier';
import {
  breachReason,
  keepCycle,
  readStoredCycle,
  syncAnalysisSchedule,
  wantedSchedule,
} from './product/analysis';
import { analysisCycleSignal } from './analysis';
import { MAX_PENDING_CYCLES, parseAnalysisCycleSummary } from '../src/domain/analysis';

/** Who the workflow itself acts as in the audit trail. */
const SYSTEM = 'meshloop';

function refuse(refusal: Refusal): never {
  throw wf.ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
}

const nowIso = () => new Date(Date.now()).toISOString();

type DecisionInput = { by: string; action: DecisionAction; comment?: string; via?: string; keyId?: string };

/**
 * One data product's state and the rules that change it. Handlers mutate it synchronously;
 * the main loop performs the side effects (activities) the new state calls for.
 */
class DataProduct {
  readonly productId: string;
  state: CarriedState;
  /** mesh.yaml as last read (at start and at each decision); undefined until the first read. */
  governance: DomainGovernance | undefined;
  private reading: Promise<DomainGovernance> | undefined;

  constructor(input: CheckedStart) {
    if (input.carried) {
      this.state = input.carried;
    } else {
      const spec = input.spec;
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

  get approvers(): readonly string[] {
    return this.governance?.approvers ?? [];
  }

  /** mesh.yaml `approvals` as last read; answers recorded before approval signing existed lack it (off). */
  approvalSigning(): ApprovalSigning {
    return (this.governance as Partial<DomainGovernance> | undefined)?.approvalSigning ?? signingOff;
  }

  get requiredApprovals(): number {
    return this.governance?.requiredApprovals ?? 1;
  }

  /** Read mesh.yaml now; concurrent decisions share one read. */
  async readGovernance(): Promise<DomainGovernance> {
    this.reading ??= meshReading
      .readMeshGovernance({ domain: this.state.spec.domain })
      .then((governance) => (this.governance = governance))
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** At start: wait until mesh.yaml is readable (a broken file holds the product, it does not fail it). */
  async loadGovernance(): Promise<void> {
    for (;;) {
      try {
        await this.readGovernance();
        return;
      } catch (error) {
        wf.log.warn('mesh.yaml unreadable; trying again in a minute', {
          productId: this.productId,
          error: describeActivityFailure(error),
        });
        await wf.sleep('1 minute');
      }
    }
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
  transition(to: Stage, decision: DecisionInput): void {
    if (!canTransition(this.stage, to)) {
      refuse({ type: 'WrongStage', message: `a product cannot move from ${this.stage} to ${to}` });
    }
    this.state.stage = to;
    this.record(decision);
    if (isAwaitingDecision(to)) {
      // Each wait for a decision gets the domain's full deadline; reminders only bother approvers.
      const now = Date.now();
      this.state.deadlineAt = now + this.approvalDeadlineMs();
      this.state.nextReminderAt = to === Stage.awaitingApproval ? now + this.reminderIntervalMs() : undefined;
    }
    wf.upsertSearchAttributes([{ key: meshloopSearchAttributes.stage, value: to }]);
  }

  private approvalDeadlineMs(): number {
    return this.governance?.approvalDeadlineMs ?? 72 * 3_600_000;
  }

  private reminderIntervalMs(): number {
    return Math.max(1000, this.governance?.reminderIntervalMs ?? 24 * 3_600_000);
  }

  /** Approvals that still count: by people mesh.yaml lists as approvers now. */
  standingApprovals(): number {
    return this.state.approvals.filter((name) => isApprover(this.approvers, name)).length;
  }

  /** Decisions ever recorded (the list keeps the newest): the catalog descriptor's version. */
  get decisionCount(): number {
    return this.state.decisionCount ?? this.state.decisions.length;
  }

  record(decision: DecisionInput): void {
    const entry: Decision = {
      by: bounded(decision.by, MAX_NAME_LENGTH),
      action: decision.action,
      at: nowIso(),
      revision: this.state.revision,
      stage: this.stage,
      ...(decision.comment ? { comment: bounded(decision.comment, 6000) } : {}),
      ...(decision.via ? { via: decision.via } : {}),
      ...(decision.keyId ? { keyId: decision.keyId } : {}),
    };
    const count = this.decisionCount;
    const { list, summary } = appendBounded(
      this.state.decisions,
      this.state.olderDecisions,
      entry,
      MAX_DECISIONS,
    );
    this.state.decisions = list;
    this.state.olderDecisions = summary;
    this.state.decisionCount = count + 1;
    this.state.updatedAt = entry.at;
  }

  ignore(by: string, action: string, reason: string): void {
    const entry = { by: bounded(by, MAX_NAME_LENGTH), action, at: nowIso(), reason: bounded(reason) };
    const { list, summary } = appendBounded(this.state.ignored, this.state.olderIgnored, entry, MAX_IGNORED);
    this.state.ignored = list;
    this.state.olderIgnored = summary;
    wf.log.info('message ignored', { productId: this.productId, by: entry.by, action, reason: entry.reason });
  }

  /** Proposed: the main loop checks policies and the SQL before anyone is asked to approve. */
  propose(): void {
    const proposer = this.state.spec.proposal?.proposedBy.name ?? this.state.spec.owner;
    this.record({ by: proposer, action: 'propose', comment: this.state.spec.proposal?.reasoning });
  }

  /** Policies, then the SQL guard (Flink validates the SELECT over the declared inputs only). */
  async checkProposal(): Promise<void> {
    const violations = checkPolicies(this.state.spec, { knownDomains: this.governance?.knownDomains });
    this.state.policyViolations = violations;
    if (violations.length > 0) {
      this.state.lastError = { type: 'PolicyDenied', message: violations.join('; '), at: nowIso() };
      this.transition(Stage.changesRequested, {
        by: SYSTEM,
        action: 'policyCheck',
        comment: `policy violations: ${violations.join('; ')}`,
      });
      return;
    }
    const revision = this.state.revision;
    let problems: readonly string[];
    try {
      const result = await proposalChecking.checkProductSql(this.jobInput());
      problems = result.ok ? [] : result.problems;
      if (result.ok) this.state.lineage = [...result.lineage];
    } catch (error) {
      problems = [`the SQL could not be checked: ${describeActivityFailure(error).message}`];
    }
    // A message may have moved the product meanwhile (a rejection): then this check is moot.
    if (this.stage !== Stage.proposed || this.state.revision !== revision) return;
    this.state.sqlProblems = [...problems];
    if (problems.length > 0) {
      this.state.lastError = { type: 'SqlRefused', message: problems.join('; '), at: nowIso() };
      this.transition(Stage.changesRequested, {
        by: SYSTEM,
        action: 'policyCheck',
        comment: `the SQL guard refused the SQL: ${problems.join('; ')}`,
      });
    } else {
      this.transition(Stage.awaitingApproval, {
        by: SYSTEM,
        action: 'policyCheck',
        comment: 'policies and the SQL guard passed',
      });
    }
  }

  jobInput() {
    return { productId: this.productId, revision: this.state.revision, spec: this.state.spec };
  }

  // ---- review: the same rules for signals (ignored when refused) and the update (rejected) ----

  /** `request` is parsed (messages.ts schemas); `governance` is mesh.yaml as last read. */
  reviewRefusal(request: ReviewRequest): Refusal | undefined {
    const by = request.by.trim();
    if (!this.governance) return notReady;
    if (!isApprover(this.approvers, by)) {
      return {
        type: 'NotAnApprover',
        message: `${by} is not an approver of domain ${this.state.spec.domain} (approvers: ${this.approvers.join(', ')})`,
      };
    }
    const allowedIn: Record<ReviewRequest['action'], Stage[]> = {
      approve: [Stage.awaitingApproval],
      reject: [Stage.awaitingApproval, Stage.changesRequested],
      requestChanges: [Stage.awaitingApproval, Stage.changesRequested, Stage.active, Stage.degraded],
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
        message: `${by} already approved revision ${this.state.revision}; ${this.requiredApprovals - this.standingApprovals()} more approval(s) needed`,
      };
    }
    const signature = checkApprovalSignature(
      this.approvalSigning(),
      { productId: this.productId, revision: this.state.revision, action: request.action, approver: by },
      request.signature,
      Date.now(),
    );
    if (!signature.ok) return { type: signature.type, message: signature.reason };
    if (request.amendedSpec !== undefined) {
      if (request.action !== 'requestChanges') {
        return { type: 'InvalidRequest', message: 'only requestChanges carries an amended spec' };
      }
      return this.amendmentRefusal(request.amendedSpec);
    }
    return undefined;
  }

  amendmentRefusal(candidate: unknown): Refusal | undefined {
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
    const violations = checkPolicies(spec, { knownDomains: this.governance?.knownDomains });
    if (violations.length > 0) {
      return { type: 'PolicyDenied', message: `the amended spec breaks policies: ${violations.join('; ')}` };
    }
    return this.schemaEvolutionRefusal(spec);
  }

  /** A product with a table takes only the schema changes its table can (added nullable fields, widenings). */
  schemaEvolutionRefusal(spec: ProductSpec): Refusal | undefined {
    const table = this.state.materialization;
    if (!table) return undefined;
    const change = checkSchemaEvolution(table.schema, spec.schema);
    if (change.compatible) return undefined;
    return {
      type: 'SchemaIncompatible',
      message: `the amended schema does not fit the table ${table.table} (revision ${table.revision}): ${change.problems.join('; ')}`,
    };
  }

  /** Apply a review that passed `reviewRefusal`. */
  review(request: ReviewRequest): void {
    const by = request.by.trim();
    const comment = request.comment;
    // Unlabelled messages are taken as typed into the Temporal UI; the CLI and Slack say `via`.
    const how = approvalAuthentication(this.approvalSigning(), request, 'ui');
    switch (request.action) {
      case 'approve':
        this.state.approvals.push(by);
        if (this.standingApprovals() >= this.requiredApprovals) {
          this.transition(Stage.provisioning, { by, action: 'approve', comment, ...how });
        } else {
          this.record({ by, action: 'approve', comment, ...how });
        }
        return;
      case 'reject':
        this.transition(Stage.rejected, { by, action: 'reject', comment, ...how });
        return;
      case 'requestChanges':
        if (this.stage === Stage.changesRequested)
          this.record({ by, action: 'requestChanges', comment, ...how });
        else this.transition(Stage.changesRequested, { by, action: 'requestChanges', comment, ...how });
        if (request.amendedSpec !== undefined)
          this.amend(by, request.amendedSpec, 'amended with the change request');
        return;
    }
  }

  /**
   * A signal from anyone with any JSON: parsed, then decided with mesh.yaml read now. Never throws
   * (a throwing signal handler would fail every workflow task while the signal stays in history).
   */
  async onSignal(action: 'approve' | 'reject', message: unknown): Promise<void> {
    try {
      const parsed = parseMessage(approverMessageSchema, message, `${action} signal`);
      if (!parsed.ok) return this.ignore(claimedSender(message), action, parsed.reason);
      const request: ReviewRequest = { action, ...parsed.value };
      try {
        await this.readGovernance();
      } catch (error) {
        return this.ignore(
          request.by,
          action,
          `mesh.yaml could not be read: ${describeActivityFailure(error).message}`,
        );
      }
      const refusal = this.reviewRefusal(request);
      if (refusal) this.ignore(request.by, action, refusal.message);
      else this.review(request);
    } catch (error) {
      this.ignore(
        claimedSender(message),
        action,
        `not handled: ${error instanceof Error ? error.message : 'error'}`,
      );
    }
  }

  amendRefusal(request: AmendRequest): Refusal | undefined {
    const by = request.by.trim();
    if (!this.governance) return notReady;
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

  /** A new revision: approvals start over; it is checked again, then goes back to its approvers. */
  amend(by: string, candidate: unknown, comment?: string): void {
    this.state.spec = parseSpec(candidate, 'amended spec');
    this.state.revision += 1;
    this.state.approvals = [];
    this.state.lastError = undefined;
    this.state.sqlProblems = [];
    this.transition(Stage.proposed, { by: by.trim(), action: 'amend', comment });
  }

  expire(): void {
    this.transition(Stage.expired, {
      by: SYSTEM,
      action: 'expire',
      comment: `no decision within ${Math.round(this.approvalDeadlineMs() / 1000)} s`,
    });
  }

  // ---- operators ----

  operatorRefusal(
    request: OperatorRequest,
    allowedIn: (stage: Stage) => boolean,
    what: string,
  ): Refusal | undefined {
    if (!this.governance) return notReady;
    return operatorRefusal({
      governance: this.governance,
      by: request.by,
      stage: this.stage,
      allowedIn,
      what,
    });
  }

  async retire(request: RetireRequest): Promise<void> {
    const by = request.by.trim();
    await this.readGovernance();
    throwIf(this.operatorRefusal(request, isRetirable, 'retire'));
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

  /**
   * Provisioning: the output topic, the SQL guard once more, the Flink job, and the catalog. The
   * product is active only once its job runs; a job without a slot leaves it degraded.
   */
  async provision(): Promise<void> {
    const spec = this.state.spec;
    const input = this.jobInput();
    try {
      const topic = await provisioning.createKafkaTopic({
        productId: this.productId,
        topic: { ...spec.outputTopic },
      });
      this.addResource({ kind: 'kafkaTopic', name: topic.topic, created: topic.created, at: nowIso() });
      const check = await provisioning.checkProductSql(input);
      if (!check.ok) {
        this.state.sqlProblems = [...check.problems];
        throw wf.ApplicationFailure.create({
          type: 'SqlRefused',
          message: `the SQL guard refused the SQL before deployment: ${check.problems.join('; ')}`,
          nonRetryable: true,
        });
      }
      this.state.lineage = [...check.lineage];
      const { deployed, startedFrom } = await deployRevision(input, this.state.job);
      this.addResource({
        kind: 'flinkJob',
        name: deployed.jobName,
        id: deployed.jobId,
        ...(deployed.url ? { url: deployed.url } : {}),
        created: deployed.started,
        at: nowIso(),
      });
      const look = await waitUntilRunning(input);
      this.noteJob(look.status, { name: deployed.jobName, url: deployed.url, savepoint: undefined });
      if (!look.health.healthy && look.health.settled && !look.status.waitingForSlot) {
        throw wf.ApplicationFailure.create({
          type: 'JobFailed',
          message: look.health.reason,
          nonRetryable: true,
        });
      }
      // The table: created (or evolved) once the job fills the topic, then kept current from it.
      const table = this.noteTable(await materializeRevision(input, this.state.materialization));
      const started = `Flink job ${deployed.jobName} started from ${startedFrom}; ${table}`;
      const target = look.health.healthy ? Stage.active : Stage.degraded;
      // The catalog gets the descriptor as it will be: publishing is part of provisioning.
      await provisioning.publishCatalogDescriptor({
        productId: this.productId,
        descriptor: this.descriptor(target, { by: SYSTEM, action: 'provision' }),
      });
      if (look.health.healthy) {
        this.state.lastError = undefined;
        this.state.degradedBy = undefined;
        this.transition(Stage.active, { by: SYSTEM, action: 'provision', comment: started });
      } else {
        this.record({ by: SYSTEM, action: 'provision', comment: started });
        this.degrade(look.health.reason);
      }
      this.state.publishedStage = target;
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

  /** Remember the table and its materialization as resources; says what happened, for the decision. */
  private noteTable(deployment: TableDeployment): string {
    const table = deployment.materialization;
    this.state.materialization = table;
    this.addResource({
      kind: 'icebergTable',
      name: table.table,
      ...(table.uuid ? { id: table.uuid } : {}),
      created: deployment.created,
      at: nowIso(),
    });
    if (table.provider === 'flink') {
      this.addResource({
        kind: 'flinkJob',
        name: table.jobName,
        ...(table.jobId ? { id: table.jobId } : {}),
        ...(table.url ? { url: table.url } : {}),
        created: deployment.startedFrom !== 'already running',
        at: nowIso(),
      });
    }
    const columns =
      deployment.addedColumns.length > 0 ? ` with new columns ${deployment.addedColumns.join(', ')}` : '';
    return (
      `table ${table.table} ${deployment.created ? 'created' : 'found'}${columns}, ` +
      `materialized by ${table.jobName} from ${deployment.startedFrom}`
    );
  }

  private addResource(resource: ProvisionedResource): void {
    this.state.resources = [
      ...this.state.resources.filter((r) => !(r.kind === resource.kind && r.name === resource.name)),
      resource,
    ];
  }

  /** Remember what the job looked like (the catalog and `meshloop show` print it). */
  private noteJob(
    status: ProductJobStatus,
    known: { name?: string; url?: string; savepoint?: string },
  ): void {
    const previous = this.state.job?.revision === this.state.revision ? this.state.job : undefined;
    this.state.job = {
      name: known.name ?? previous?.name ?? productJobNameOf(this.productId, this.state.revision),
      id: status.jobId ?? previous?.id ?? '',
      ...((known.url ?? previous?.url) ? { url: known.url ?? previous?.url } : {}),
      revision: this.state.revision,
      sql: normalisedSql(this.state.spec.sql),
      state: status.state,
      ...(status.failure ? { failure: bounded(status.failure, 2000) } : {}),
      rejectedRecords: status.rejectedRecords,
      checkedAt: nowIso(),
      ...((known.savepoint ?? previous?.savepoint)
        ? { savepoint: known.savepoint ?? previous?.savepoint }
        : {}),
    };
  }

  private descriptor(stage: Stage, next?: { by: string; action: DecisionAction }) {
    const decisions = next
      ? [...this.state.decisions, { ...next, at: nowIso(), revision: this.state.revision, stage }]
      : this.state.decisions;
    return toCatalogDescriptor({
      spec: this.state.spec,
      stage,
      decisions,
      resources: this.state.resources,
      ...(this.state.lineage ? { lineage: this.state.lineage } : {}),
      ...(this.state.job ? { job: this.state.job } : {}),
      ...(this.state.materialization?.status ? { table: this.state.materialization.status } : {}),
      updatedAt: next ? nowIso() : this.state.updatedAt,
      version: this.decisionCount + (next ? 1 : 0),
    });
  }

  degrade(reason: string, by: 'job' | 'analysis' | 'table' = 'job'): void {
    this.state.lastError = {
      type: { job: 'JobUnhealthy', analysis: 'AnalysisBreach', table: 'TableSuspended' }[by],
      message: reason,
      at: nowIso(),
    };
    this.state.degradedBy = by;
    this.transition(Stage.degraded, { by: SYSTEM, action: 'degrade', comment: reason });
  }

  /**
   * An analysis cycle's summary (signal `analysisCycle`): untrusted, so it is parsed (never thrown
   * on) and only queued; the main loop confirms it against what the cycle stored before it counts.
   */
  onAnalysisCycle(raw: unknown): void {
    const summary = parseAnalysisCycleSummary(raw);
    if (!summary) return this.ignore('unknown', 'analysisCycle', 'not an analysis cycle summary');
    if (summary.productId !== this.productId)
      return this.ignore('analysis', 'analysisCycle', `a summary for ${summary.productId}, not this product`);
    const known = [...(this.state.analysisCycles ?? []), ...(this.state.pendingCycles ?? [])];
    if (known.some((c) => c.cycleKey === summary.cycleKey))
      return this.ignore('analysis', 'analysisCycle', `cycle ${summary.cycleKey} was already received`);
    const pending = [...(this.state.pendingCycles ?? []), summary];
    for (const dropped of pending.slice(0, -MAX_PENDING_CYCLES))
      this.ignore(
        'analysis',
        'analysisCycle',
        `cycle ${dropped.cycleKey} dropped: too many waiting to be confirmed`,
      );
    this.state.pendingCycles = pending.slice(-MAX_PENDING_CYCLES);
  }

  get cyclesPending(): boolean {
    return (this.state.pendingCycles?.length ?? 0) > 0;
  }

  /**
   * Count each queued cycle as `meshloop.analysis_results` holds it (a summary no cycle stored is
   * ignored, so a forged signal cannot degrade or recover the product). A breach degrades an active
   * product with the rules and figures; a passing cycle recovers a product an analysis degraded.
   * Job and table trouble outrank an analysis: they stay.
   */
  async confirmAnalysisCycles(): Promise<void> {
    for (;;) {
      const summary = this.state.pendingCycles?.[0];
      if (!summary) return;
      const stored = await readStoredCycle(summary);
      this.state.pendingCycles = this.state.pendingCycles?.filter((c) => c.cycleKey !== summary.cycleKey);
      if (!stored.ok) {
        this.ignore('analysis', 'analysisCycle', stored.reason);
        continue;
      }
      const cycle = stored.summary;
      this.state.analysisCycles = keepCycle(this.state.analysisCycles, cycle);
      if (cycle.outcome === 'breach' && this.stage === Stage.active) {
        this.degrade(breachReason(cycle), 'analysis');
      } else if (
        cycle.outcome === 'pass' &&
        this.stage === Stage.degraded &&
        this.state.degradedBy === 'analysis'
      ) {
        this.state.lastError = undefined;
        this.state.degradedBy = undefined;
        this.transition(Stage.active, {
          by: SYSTEM,
          action: 'recover',
          comment: `analysis ${cycle.cycleKey} passed every check${cycle.snapshotId ? ` at snapshot ${cycle.snapshotId}` : ''}`,
        });
      }
    }
  }

  /** Keep the analysis schedule in step with the stage (see workflows/product/analysis.ts). */
  async syncAnalysisSchedule(): Promise<void> {
    // Products recorded before analysis schedules existed replay without them.
    if (!wf.patched('analysis-schedules')) return;
    const wanted = wantedSchedule(this.stage, this.state.degradedBy);
    const why =
      wanted === 'paused'
        ? `product is ${this.stage}${this.state.degradedBy ? ` (${this.state.degradedBy})` : ''}`
        : `product is ${this.stage}`;
    const next = await syncAnalysisSchedule({
      productId: this.productId,
      current: this.state.analysisSchedule,
      wanted,
      // Every spec here was parsed (start, carried or amended): `analysis.every` has its default.
      every: this.state.spec.analysis.every,
      why,
    });
    if (next) this.state.analysisSchedule = next;
  }

  /**
   * While active or degraded: look at the job on the mesh's timer. An unhealthy job degrades the
   * product with Flink's reason; a job running again recovers it.
   */
  async watch(shouldContinueAsNew: () => boolean): Promise<void> {
    const watched = this.stage;
    const interval = this.governance?.jobWatchIntervalMs ?? 60_000;
    if (
      await wf.condition(
        () => this.stage !== watched || this.cyclesPending || shouldContinueAsNew(),
        interval,
      )
    )
      return;
    let look;
    try {
      look = await lookAtJob(this.jobInput());
    } catch (error) {
      wf.log.warn('could not look at the Flink job', {
        productId: this.productId,
        error: describeActivityFailure(error),
      });
      return;
    }
    if (this.stage !== watched) return;
    const before = this.state.job;
    this.noteJob(look.status, {});
    if ((await this.watchTable()) || this.stage !== watched) return;
    if (this.stage === Stage.active && !look.health.healthy && look.health.settled) {
      this.degrade(look.health.reason);
    } else if (this.stage === Stage.degraded && this.state.degradedBy === 'job' && look.health.healthy) {
      this.state.lastError = undefined;
      this.state.degradedBy = undefined;
      this.transition(Stage.active, { by: SYSTEM, action: 'recover', comment: 'the Flink job runs again' });
    } else if (before?.rejectedRecords !== this.state.job?.rejectedRecords) {
      this.state.publishedStage = undefined; // the catalog shows the new rejected count
    }
  }

  /**
   * Look at the table on the watch timer: a `suspend` product's new bad record (or a failed
   * materialization) stops the materialization and degrades the product with the record's
   * coordinates; only a redeploy recovers it. Returns true when it changed the stage. A new
   * snapshot is published to the catalog (no decision is recorded for it).
   */
  private async watchTable(): Promise<boolean> {
    const table = this.state.materialization;
    if (!table || table.revision !== this.state.revision || this.state.degradedBy === 'table') return false;
    let look;
    try {
      look = await lookAtTable(this.jobInput());
    } catch (error) {
      wf.log.warn('could not look at the Iceberg table', {
        productId: this.productId,
        error: describeActivityFailure(error),
      });
      return false;
    }
    const current = this.state.materialization ?? table;
    this.state.materialization = {
      ...current,
      state: look.state,
      ...(look.failure ? { failure: look.failure } : {}),
      badRecords: look.badRecords,
      status: look.table,
      checkedAt: nowIso(),
    };
    const trouble = tableTroubleOf(look, current.acknowledgedBadRecords, current.jobName);
    if (!trouble) {
      if (current.status?.snapshotId !== look.table.snapshotId || current.badRecords !== look.badRecords)
        this.state.publishedStage = undefined; // the catalog shows the new snapshot
      return false;
    }
    if (trouble.suspendedAt) {
      // Tableflow's `suspend`: the job stops at the bad record; a redeploy resumes from the savepoint.
      const stopped = await stopTable(this.jobInput(), this.state.materialization, false).catch(
        (error: unknown) => {
          wf.log.warn('stopping the materialization failed', {
            productId: this.productId,
            error: describeActivityFailure(error),
          });
          return undefined;
        },
      );
      this.state.materialization = {
        ...this.state.materialization,
        suspendedAt: trouble.suspendedAt,
        ...(stopped?.savepoint ? { savepoint: stopped.savepoint, state: 'FINISHED' } : {}),
      };
    }
    if (this.stage === Stage.active) {
      this.degrade(trouble.reason, 'table');
    } else {
      // Already degraded by its job or an analysis: the table's trouble is the one a redeploy must fix.
      this.state.lastError = { type: 'TableSuspended', message: trouble.reason, at: nowIso() };
      this.state.degradedBy = 'table';
      this.record({ by: SYSTEM, action: 'degrade', comment: trouble.reason });
      this.state.publishedStage = undefined;
    }
    return true;
  }

  /** Retired or deprecated: stop the materialization once (Tableflow: disabled on retirement only). */
  async stopTableIfRunning(): Promise<void> {
    const table = this.state.materialization;
    if (!table) return;
    try {
      const stopped = await stopTable(this.jobInput(), table, isTerminal(this.stage));
      if (!stopped) return;
      this.state.materialization = {
        ...table,
        state: stopped.savepoint ? 'FINISHED' : 'CANCELED',
        ...(stopped.savepoint ? { savepoint: stopped.savepoint } : {}),
        checkedAt: nowIso(),
      };
      this.state.publishedStage = undefined;
      this.record({
        by: SYSTEM,
        action: this.stage === Stage.deprecated ? 'deprecate' : 'retire',
        comment: stopped.savepoint
          ? `materialization ${table.jobName} stopped with savepoint ${stopped.savepoint}; table ${table.table} kept`
          : `materialization ${table.jobName} ${stopped.stopped ? 'stopped' : 'was not running'}; table ${table.table} kept`,
      });
    } catch (error) {
      this.state.lastError = describeActivityFailure(error);
      wf.log.warn('stopping the materialization failed', {
        productId: this.productId,
        error: this.state.lastError,
      });
    }
  }

  /** Retired or deprecated: stop the job with a savepoint, once (the topic and its data stay). */
  async stopJobIfRunning(): Promise<void> {
    const job = this.state.job;
    if (!job || job.savepoint !== undefined || ['CANCELED', 'FINISHED'].includes(job.state)) return;
    try {
      const stopped = await stopJob({ ...this.jobInput(), revision: job.revision });
      this.state.job = {
        ...job,
        state: stopped.savepoint ? 'FINISHED' : 'CANCELED',
        ...(stopped.savepoint ? { savepoint: stopped.savepoint } : {}),
        checkedAt: nowIso(),
      };
      this.state.publishedStage = undefined; // the catalog shows where the job stopped
      this.record({
        by: SYSTEM,
        action: this.stage === Stage.deprecated ? 'deprecate' : 'retire',
        comment: stopped.savepoint
          ? `Flink job ${job.name} stopped with savepoint ${stopped.savepoint}`
          : `Flink job ${job.name} ${stopped.stopped ? 'cancelled (it was not running)' : 'was not running'}`,
      });
    } catch (error) {
      this.state.lastError = describeActivityFailure(error);
      wf.log.warn('stopping the Flink job failed', {
        productId: this.productId,
        error: this.state.lastError,
      });
    }
  }

  /**
   * Keep the catalog in step with the stage. The published stage is noted only once the descriptor
   * landed; a failure is retried (by Temporal, then here) until it does.
   */
  async publishIfChanged(): Promise<void> {
    // Loop: a message may move the stage again while a descriptor is being published.
    for (;;) {
      const stage = this.stage;
      if (stage === this.state.publishedStage || stage === Stage.proposed || stage === Stage.provisioning)
        return;
      try {
        await catalogPublishing.publishCatalogDescriptor({
          productId: this.productId,
          descriptor: this.descriptor(stage),
        });
        this.state.publishedStage = stage;
      } catch (error) {
        // Only a non-retryable failure gets here: note it, and try again later or on the next change.
        this.state.lastError = describeActivityFailure(error);
        await wf.condition(() => this.stage !== stage, '1 minute');
      }
    }
  }

  /** Wait for a decision, reminding approvers, until the deadline; returns when there is something to do. */
  async awaitDecision(shouldContinueAsNew: () => boolean): Promise<void> {
    const waitingIn = this.stage;
    const version = this.decisionCount;
    const somethingHappened = () =>
      this.stage !== waitingIn ||
      this.decisionCount !== version ||
      this.cyclesPending ||
      shouldContinueAsNew();
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
    await this.readGovernance().catch(() => undefined); // remind whoever mesh.yaml names now
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
    const interval = this.reminderIntervalMs();
    let next = (this.state.nextReminderAt ?? Date.now()) + interval;
    if (next <= Date.now()) next += Math.ceil((Date.now() - next + 1) / interval) * interval;
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

const notReady: Refusal = { type: 'NotReady', message: 'the product is still reading mesh.yaml; try again' };

/** One data product's life, from proposal to retirement. The workflow id is `data-product:<domain>.<name>`. */
export async function dataProductWorkflow(input: DataProductInput): Promise<ProductStatus> {
  const info = wf.workflowInfo();
  const checked = checkStartInput(input, {
    workflowId: info.workflowId,
    continuedFromExecutionRunId: info.continuedFromExecutionRunId,
  });
  // A forged start (carried state, someone else's id, a malformed spec) fails at once.
  if (!checked.ok) refuse(checked.refusal);
  const start = checked.value;
  const product = new DataProduct(start);

  wf.setHandler(getStatusQuery, () => product.status());
  wf.setHandler(approveSignal, (message: unknown) => product.onSignal('approve', message));
  wf.setHandler(rejectSignal, (message: unknown) => product.onSignal('reject', message));
  wf.setHandler(analysisCycleSignal, (summary: unknown) => product.onAnalysisCycle(summary));
  // Updates: the validator parses and refuses at once with mesh.yaml as last read; the handler
  // reads mesh.yaml again (decision time) and checks once more before anything changes.
  wf.setHandler(
    reviewUpdate,
    async (raw: unknown) => {
      const request = parsedOrRefuse<ReviewRequest>(reviewRequestSchema, raw, 'review');
      await product.readGovernance();
      throwIf(product.reviewRefusal(request));
      product.review(request);
      return product.status();
    },
    {
      validator: (raw: unknown) =>
        throwIf(product.reviewRefusal(parsedOrRefuse(reviewRequestSchema, raw, 'review'))),
    },
  );
  wf.setHandler(
    amendSpecUpdate,
    async (raw: unknown) => {
      const request = parsedOrRefuse<AmendRequest>(amendRequestSchema, raw, 'amendSpec');
      await product.readGovernance();
      throwIf(product.amendRefusal(request));
      product.amend(request.by, request.spec, request.comment);
      return product.status();
    },
    {
      validator: (raw: unknown) =>
        throwIf(product.amendRefusal(parsedOrRefuse(amendRequestSchema, raw, 'amendSpec'))),
    },
  );
  const operatorUpdate = (
    what: string,
    allowedIn: (stage: Stage) => boolean,
    apply: (request: OperatorRequest) => void,
  ) => ({
    handler: async (raw: unknown) => {
      const request = parsedOrRefuse<OperatorRequest>(operatorRequestSchema, raw, what);
      await product.readGovernance();
      throwIf(product.operatorRefusal(request, allowedIn, what));
      apply(request);
      return product.status();
    },
    validator: (raw: unknown) =>
      throwIf(product.operatorRefusal(parsedOrRefuse(operatorRequestSchema, raw, what), allowedIn, what)),
  });
  const retry = operatorUpdate(
    'retry provisioning of',
    (stage) => stage === Stage.failed,
    (request) =>
      product.transition(Stage.provisioning, {
        by: request.by,
        action: 'retryProvisioning',
        comment: request.comment,
      }),
  );
  wf.setHandler(retryProvisioningUpdate, retry.handler, { validator: retry.validator });
  const deprecate = operatorUpdate(
    'deprecate',
    (stage) => canTransition(stage, Stage.deprecated),
    (request) =>
      product.transition(Stage.deprecated, { by: request.by, action: 'deprecate', comment: request.comment }),
  );
  wf.setHandler(deprecateUpdate, deprecate.handler, { validator: deprecate.validator });
  const redeploy = operatorUpdate(
    'redeploy',
    (stage) => stage === Stage.active || stage === Stage.degraded || stage === Stage.failed,
    (request) =>
      product.transition(Stage.provisioning, {
        by: request.by,
        action: 'redeploy',
        comment: request.comment,
      }),
  );
  wf.setHandler(redeployUpdate, redeploy.handler, { validator: redeploy.validator });
  wf.setHandler(
    retireUpdate,
    async (raw: unknown) => {
      await product.retire(parsedOrRefuse<RetireRequest>(retireRequestSchema, raw, 'retire'));
      return product.status();
    },
    {
      validator: (raw: unknown) =>
        throwIf(
          product.operatorRefusal(parsedOrRefuse(retireRequestSchema, raw, 'retire'), isRetirable, 'retire'),
        ),
    },
  );

  product.upsertAllSearchAttributes();
  await product.loadGovernance();
  if (!start.carried) product.propose();
  // The proposal's Slack message is kept current beside the main loop (no channel: no message).
  const slack = startSlackNotifier(
    () => product.governance?.slackChannel,
    () => product.status(),
  );

  const shouldContinueAsNew = () =>
    wf.workflowInfo().continueAsNewSuggested ||
    (start.maxHistoryEvents !== undefined && wf.workflowInfo().historyLength >= start.maxHistoryEvents);

  for (;;) {
    // Messages may change the stage during any await, so every pass starts from the current one.
    // Only when a summary waits: an extra await would reorder commands in recorded histories.
    if (product.cyclesPending) await product.confirmAnalysisCycles();
    await product.publishIfChanged();
    await product.syncAnalysisSchedule();
    if (isTerminal(product.stage)) break;
    if (shouldContinueAsNew()) {
      // Let running handlers finish so no update is cut off; buffered signals reach the next run.
      await wf.condition(wf.allHandlersFinished);
      return await wf.continueAsNew<typeof dataProductWorkflow>({
        spec: product.state.spec,
        ...(start.maxHistoryEvents !== undefined ? { maxHistoryEvents: start.maxHistoryEvents } : {}),
        carried: { ...product.state, continuedAsNew: product.state.continuedAsNew + 1 },
      });
    }
    const stage = product.stage;
    if (stage === Stage.proposed) {
      await product.checkProposal();
    } else if (isAwaitingDecision(stage)) {
      await product.awaitDecision(shouldContinueAsNew);
    } else if (stage === Stage.provisioning) {
      await product.provision();
    } else if (stage === Stage.active || stage === Stage.degraded) {
      await product.watch(shouldContinueAsNew);
    } else {
      if (stage === Stage.deprecated) {
        await product.stopJobIfRunning();
        await product.stopTableIfRunning();
      }
      // deprecated, failed: wait for an operator (or for history to need a fresh run).
      await wf.condition(() => product.stage !== stage || product.cyclesPending || shouldContinueAsNew());
    }
  }
  // Retired (or an amendment of a running product rejected or expired): the job stops with a
  // savepoint; the topic and its data stay.
  if (product.state.job) {
    await product.stopJobIfRunning();
    await product.stopTableIfRunning();
    await product.publishIfChanged();
  }
  await wf.condition(wf.allHandlersFinished);
  await slack.settled('2 minutes');
  return product.status();
}

function throwIf(refusal: Refusal | undefined): void {
  if (refusal) refuse(refusal);
}

/** Parse an update's argument or refuse it with the schema's reason (`InvalidRequest`). */
function parsedOrRefuse<T>(schema: Parameters<typeof parseMessage<T>>[0], raw: unknown, what: string): T {
  const parsed = parseMessage(schema, raw, `${what} request`);
  if (!parsed.ok) refuse({ type: 'InvalidRequest', message: parsed.reason });
  return parsed.value;
}

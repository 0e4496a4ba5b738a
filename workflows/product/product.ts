import * as wf from '@temporalio/workflow';
import type { DomainGovernance, Refusal } from '../../src/domain/governance';
import { canTransition, isAwaitingDecision, Stage } from '../../src/domain/lifecycle';
import type { CarriedState, DecisionInput, ProductStatus } from '../../src/domain/product-state';
import {
  approvalDeadlineMsOf,
  decisionCountOf,
  proposedState,
  recordDecision,
  recordIgnored,
  reminderIntervalMsOf,
  SYSTEM,
  statusOf,
} from '../../src/domain/product-state';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { productIdOf } from '../../src/domain/spec';
import { describeActivityFailure, meshReading } from './proxies';
import type { CheckedStart } from './start-input';

export const nowIso = () => new Date(Date.now()).toISOString();

export function refuse(refusal: Refusal): never {
  throw wf.ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
}

export function throwIf(refusal: Refusal | undefined): void {
  if (refusal) refuse(refusal);
}

/**
 * One data product's state and mesh.yaml as last read. Handlers change it synchronously; the main
 * loop and the stage modules beside it (proposal, review, provisioning, watch, analysis, catalog)
 * perform the side effects the state calls for.
 */
export class Product {
  readonly productId: string;
  state: CarriedState;
  /** mesh.yaml as last read (at start and at each decision); undefined until the first read. */
  governance: DomainGovernance | undefined;
  private reading: Promise<DomainGovernance> | undefined;

  constructor(input: CheckedStart) {
    this.state = input.carried ?? proposedState(input.spec, nowIso());
    this.productId = productIdOf(this.state.spec);
  }

  get stage(): Stage {
    return this.state.stage;
  }

  /** Decisions ever recorded (the list keeps the newest): the catalog descriptor's version. */
  get decisionCount(): number {
    return decisionCountOf(this.state);
  }

  get cyclesPending(): boolean {
    return (this.state.pendingCycles?.length ?? 0) > 0;
  }

  jobInput() {
    return { productId: this.productId, revision: this.state.revision, spec: this.state.spec };
  }

  status(): ProductStatus {
    return statusOf(this.productId, this.state, this.governance);
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
      this.state.deadlineAt = now + approvalDeadlineMsOf(this.governance);
      this.state.nextReminderAt =
        to === Stage.awaitingApproval ? now + reminderIntervalMsOf(this.governance) : undefined;
    }
    wf.upsertSearchAttributes([{ key: meshloopSearchAttributes.stage, value: to }]);
  }

  record(decision: DecisionInput): void {
    recordDecision(this.state, decision, nowIso());
  }

  ignore(by: string, action: string, reason: string): void {
    const entry = recordIgnored(this.state, by, action, reason, nowIso());
    wf.log.info('message ignored', { productId: this.productId, by: entry.by, action, reason: entry.reason });
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

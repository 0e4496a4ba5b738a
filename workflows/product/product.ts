import * as wf from '@temporalio/workflow';
import type { DomainGovernance, Refusal } from '../../src/domain/governance';
import type { Stage } from '../../src/domain/lifecycle';
import type { CarriedState, ProductStatus } from '../../src/domain/product-state';
import {
  decisionCountOf,
  proposedState,
  recordIgnored,
  rememberNonce,
  statusOf,
} from '../../src/domain/product-state';
import { signatureWindowMs, v2SignatureOf } from '../../src/domain/approval-signing';
import type { SignatureContext } from '../../src/domain/permissions';
import type { Observed, Outcome, ProductEvent } from '../../src/domain/product-events';
import { applyOutcome, decide } from '../../src/domain/transitions';
import { meshloopSearchAttributes } from '../../src/domain/search-attributes';
import { productIdOf } from '../../src/domain/spec';
import type { MetricSnapshot } from '../../src/domain/product-metrics';
import { metricSnapshotOf } from '../../src/domain/product-metrics';
import { observeReport } from './observe';
import { describeActivityFailure, meshReading } from './proxies';
import type { CheckedStart } from './start-input';

/** The events whose meaning depends on how many degrade causes a product keeps. */
const degradeRelevant: ReadonlySet<ProductEvent['kind']> = new Set([
  'provisioned',
  'jobLooked',
  'tableLooked',
  'analysisConfirmed',
  'platformFault',
  'recoveryAttempted',
]);

export const nowIso = () => new Date(Date.now()).toISOString();

/**
 * This run, as catalog descriptors name it: readers order a product's descriptors by run start,
 * then version, so a product proposed again after retirement is not shadowed by its old life.
 */
export const thisRun = () => {
  const info = wf.workflowInfo();
  return { id: info.runId, startedAt: info.runStartTime.toISOString() };
};

export function refuse(refusal: Refusal): never {
  throw wf.ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
}

export function throwIf(refusal: Refusal | undefined): void {
  if (refusal) refuse(refusal);
}

/**
 * One data product's state and mesh.yaml as last read. Handlers, the main loop and the stage
 * modules beside it (proposal, review, provisioning, watch, analysis, catalog) act and `report`
 * what happened; `decide` alone moves the stage. Facts they observe (the job, the table, the
 * lineage, resources) they note in the state themselves.
 */
export class Product {
  readonly productId: string;
  state: CarriedState;
  /** mesh.yaml as last read (at start and at each decision); undefined until the first read. */
  governance: DomainGovernance | undefined;
  private reading: Promise<DomainGovernance> | undefined;

  /** The product's lifetime: its workflow chain's first run id (Temporal's, not the input's). */
  readonly lifetime: string;
  /** False only when replaying a run recorded before signatures bound the spec and lifetime. */
  readonly hardened: boolean;
  /** When this run last asked for the product's first analysis cycle (workflow time, ms). */
  firstCycleAskedAt: number | undefined;
  /** The figures the last metric updates were taken from (carried runs start from what they carry). */
  private metricsSeen: MetricSnapshot;

  constructor(input: CheckedStart, run: { lifetime: string; hardened: boolean }) {
    this.state = input.carried ?? proposedState(input.spec, nowIso());
    this.productId = productIdOf(this.state.spec);
    this.lifetime = run.lifetime;
    this.hardened = run.hardened;
    this.metricsSeen = metricSnapshotOf(this.state);
  }

  /** What signatures are checked against now. */
  signatureContext(): SignatureContext {
    return { lifetime: this.lifetime, now: Date.now(), hardened: this.hardened };
  }

  /** A signature was taken: its nonce is remembered so it cannot be taken again. */
  spend(signature: unknown): void {
    const v2 = v2SignatureOf(signature);
    if (v2) rememberNonce(this.state, v2.nonce, v2.at, Date.now(), signatureWindowMs);
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
    return { ...statusOf(this.productId, this.state, this.governance), lifetime: this.lifetime };
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
  async loadGovernance(): Promise<DomainGovernance> {
    for (;;) {
      try {
        return await this.readGovernance();
      } catch (error) {
        wf.log.warn('mesh.yaml unreadable; trying again in a minute', {
          productId: this.productId,
          error: describeActivityFailure(error),
        });
        await wf.sleep('1 minute');
      }
    }
  }

  /** The stage and revision an act starts in: its event is stale once the product moved. */
  observe(): Observed {
    return { stage: this.stage, revision: this.state.revision };
  }

  /**
   * Report what happened; `decide` (src/domain/transitions.ts) says what it means and this applies
   * it: the only writer of the stage, the decisions, the last error and the degrade causes.
   */
  report(event: ProductEvent): Outcome {
    const outcome = decide(this.state, event, {
      governance: this.governance,
      now: Date.now(),
      // Several degrade causes at once; histories recorded before keep one cause at a time.
      degradeCauses: degradeRelevant.has(event.kind) && wf.patched('degrade-causes'),
    });
    if (outcome.refusal) refuse(outcome.refusal);
    applyOutcome(this.state, outcome, nowIso());
    for (const effect of outcome.effects) {
      if (effect.kind === 'searchStage')
        wf.upsertSearchAttributes([{ key: meshloopSearchAttributes.stage, value: effect.stage }]);
    }
    // Figures the stage modules noted since the last report count now (their diff, once).
    observeReport(this.status(), this.state, event, this.metricsSeen);
    this.metricsSeen = metricSnapshotOf(this.state);
    return outcome;
  }

  ignore(by: string, action: string, reason: string): void {
    const entry = recordIgnored(this.state, by, action, reason, nowIso());
    wf.log.info('message ignored', { productId: this.productId, by: entry.by, action, reason: entry.reason });
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

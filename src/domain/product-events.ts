import type { ApprovalProof } from './approval-signing';
import type { DomainGovernance, Refusal } from './governance';
import type { LastError, Stage } from './lifecycle';
import type { CarriedState, DecisionInput } from './product-state';
import type { ProductSpec } from './spec';

/**
 * What a product's workflow reports to `decide` (src/domain/transitions.ts), and what it answers:
 * the events, the context they are decided in, and the outcome the workflow applies.
 */

/** The stage and revision an act started in (the product may have moved while it awaited). */
export type Observed = Readonly<{ stage: Stage; revision: number }>;

/** How a job or a table looked, as far as the stage is concerned. */
export type Health = Readonly<{ healthy: true } | { healthy: false; settled: boolean; reason: string }>;

export type ProductEvent =
  /** A new product (not a continued run): the proposer's decision. */
  | Readonly<{ kind: 'proposed' }>
  /** The policies' verdict on the current spec, before the SQL guard runs. */
  | Readonly<{ kind: 'policiesChecked'; violations: readonly string[] }>
  /**
   * The Schema Registry's verdict on the output schema of the revision `observed`: `refusal` when
   * it would refuse it (or it could not be asked), with its reason.
   */
  | Readonly<{
      kind: 'schemaChecked';
      observed: Observed;
      refusal?: Readonly<{ type: string; message: string }>;
    }>
  /** The SQL guard's verdict on the revision `observed` (problems empty: it passed). */
  | Readonly<{ kind: 'sqlChecked'; observed: Observed; problems: readonly string[] }>
  /** A review that passed the permission checks. */
  | Readonly<{
      kind: 'reviewed';
      action: 'approve' | 'reject' | 'requestChanges';
      by: string;
      comment?: string;
      via?: string;
      keyId?: string;
      /** The approval's v2 signature (signing required), kept to verify it again in later runs. */
      proof?: ApprovalProof;
    }>
  /** An amendment that passed the permission checks, parsed. */
  | Readonly<{ kind: 'amended'; by: string; spec: ProductSpec; comment?: string }>
  /** Nobody decided before the deadline. */
  | Readonly<{ kind: 'deadlinePassed' }>
  /** An operator's act that passed the permission checks. */
  | Readonly<{
      kind: 'operatorActed';
      action: 'retryProvisioning' | 'deprecate' | 'redeploy' | 'retire';
      by: string;
      comment?: string;
    }>
  /** Provisioning deployed the revision; `health` is its job's; the catalog already holds the result. */
  | Readonly<{ kind: 'provisioned'; observed: Observed; health: Health; comment: string }>
  | Readonly<{ kind: 'provisioningFailed'; observed: Observed; failure: LastError }>
  /** The watch looked at the job; `rejectedChanged`: its rejected-records count moved. */
  | Readonly<{ kind: 'jobLooked'; observed: Observed; health: Health; rejectedChanged: boolean }>
  /** The watch looked at the table: its trouble (a suspension, a failed materialization), or whether it changed. */
  | Readonly<{ kind: 'tableLooked'; observed: Observed; trouble?: string; changed: boolean }>
  /**
   * The watch found the product's job or table down by the platform's fault (src/domain/job-faults.ts):
   * the product is degraded with the reason while the workflow redeploys it.
   */
  | Readonly<{ kind: 'platformFault'; observed: Observed; source: 'job' | 'table'; reason: string }>
  /**
   * An automatic redeploy after a platform fault: `recovered` when the job (and the table) run again,
   * else it failed; `comment` says what failed, what was done and from which checkpoint.
   */
  | Readonly<{ kind: 'recoveryAttempted'; observed: Observed; recovered: boolean; comment: string }>
  /** A confirmed analysis cycle, about the product as it is now. */
  | Readonly<{
      kind: 'analysisConfirmed';
      outcome: string;
      breach: string;
      pass: string;
      /**
       * When the cycle ran, as stored: it counts only when newer than every cycle applied before
       * (absent in histories recorded before cycles were ordered).
       */
      at?: string;
    }>
  /** The catalog holds the descriptor of `stage` now. */
  | Readonly<{ kind: 'published'; stage: Stage }>
  /** The job or the table stopped (deprecated or retired); `comment` says where. */
  | Readonly<{ kind: 'stopped'; comment: string }>
  /** Publishing or stopping failed for good: shown as the last error. */
  | Readonly<{ kind: 'actFailed'; failure: LastError }>;

export type DecideContext = Readonly<{
  governance: DomainGovernance | undefined;
  /** Workflow time, epoch ms. */
  now: number;
  /** Several degrade causes at once (`wf.patched('degrade-causes')`); off: the one-cause rules of recorded histories. */
  degradeCauses: boolean;
}>;

export type Effect =
  /** The workflow's `MeshloopStage` search attribute. */
  Readonly<{ kind: 'searchStage'; stage: Stage }>;

export type Outcome = Readonly<{
  /** The stage after the event; undefined when it stays. */
  next?: Stage;
  /** Other fields of the state, set before the decisions are recorded (undefined clears a field). */
  changes: Partial<CarriedState>;
  /** Decisions to record, in order, each in the stage it names. */
  record: readonly Readonly<{ stage: Stage; decision: DecisionInput }>[];
  effects: readonly Effect[];
  /** Set when the event asks for a move the lifecycle does not allow: nothing else happens. */
  refusal?: Refusal;
}>;

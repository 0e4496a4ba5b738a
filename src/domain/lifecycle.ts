/**
 * The data product lifecycle as pure rules: which stage may follow which, and who may decide.
 * The workflow asks these functions; they have no Temporal or I/O in them.
 */

export const Stage = {
  proposed: 'proposed',
  awaitingApproval: 'awaitingApproval',
  changesRequested: 'changesRequested',
  provisioning: 'provisioning',
  active: 'active',
  degraded: 'degraded',
  deprecated: 'deprecated',
  retired: 'retired',
  rejected: 'rejected',
  expired: 'expired',
  failed: 'failed',
  dismissed: 'dismissed',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

export const stages: readonly Stage[] = Object.values(Stage);

/** What each stage means, for the CLI, the README and error messages. */
export const stageMeaning: Readonly<Record<Stage, string>> = {
  proposed: 'just proposed (or amended); policy checks and the SQL guard run before anyone is asked',
  awaitingApproval: "waiting for the domain's approvers to approve, reject or request changes",
  changesRequested:
    'an approver, a policy or the SQL guard asked for changes; waiting for an amended spec (a running job runs on)',
  provisioning:
    'approved; creating the output topic, checking the SQL again, deploying its Flink job and materializing its Iceberg table',
  active: 'its Flink job runs and fills its topic; listed in the catalog, watched on a timer',
  degraded:
    'its job failed or cannot get a slot, a quality or SLA check failed, or its table is suspended; back to active when it recovers (a table: after a redeploy)',
  deprecated: 'still readable, but going away: consumers should move off it',
  retired: 'retired by an operator; no longer offered (its data is kept)',
  rejected: 'an approver rejected it',
  expired: 'nobody decided before the approval deadline',
  failed: 'provisioning failed; an operator can retry it once the cause is fixed',
  dismissed:
    'the critic found it redundant or of no stated value: never put before approvers (its reasons are shown); not proposed again unless its inputs change',
};

const transitions: Readonly<Record<Stage, readonly Stage[]>> = {
  // The critic may dismiss a proposal before any approver is asked.
  proposed: ['awaitingApproval', 'changesRequested', 'rejected', 'dismissed'],
  awaitingApproval: ['provisioning', 'rejected', 'changesRequested', 'expired'],
  // An amended spec is checked again (policies, SQL) before the approvers see it.
  changesRequested: ['proposed', 'awaitingApproval', 'rejected', 'expired'],
  // A deployed job that cannot get a task slot leaves provisioning degraded, not silently pending.
  provisioning: ['active', 'degraded', 'failed'],
  // Redeploying (an operator's `redeploy`) goes through provisioning again; an approver may ask
  // for changes to a running product (its job runs on until the amendment is approved).
  active: ['degraded', 'provisioning', 'changesRequested', 'deprecated', 'retired'],
  degraded: ['active', 'provisioning', 'changesRequested', 'deprecated', 'retired'],
  deprecated: ['retired'],
  failed: ['provisioning', 'retired'],
  retired: [],
  rejected: [],
  expired: [],
  dismissed: [],
};

/** May a product move from one stage to the other? */
export function canTransition(from: Stage, to: Stage): boolean {
  return transitions[from].includes(to);
}

/** Stages with no way out: the workflow completes once it reaches one. */
export function isTerminal(stage: Stage): boolean {
  return transitions[stage].length === 0;
}

/** Stages in which the product waits for a human decision (and the approval deadline runs). */
export function isAwaitingDecision(stage: Stage): boolean {
  return stage === Stage.awaitingApproval || stage === Stage.changesRequested;
}

/** Stages an operator may retire from. */
export function isRetirable(stage: Stage): boolean {
  return canTransition(stage, Stage.retired);
}

// Names are compared trimmed and case-insensitively: `Alice` in the UI is `alice` in mesh.yaml.
const normaliseName = (name: string) => name.trim().toLowerCase();

/** Is `who` one of the approvers (a domain's list, or its DomainConfig)? */
export function isApprover(
  approvers: readonly string[] | { approvers: readonly string[] },
  who: string,
): boolean {
  const list: readonly string[] = 'approvers' in approvers ? approvers.approvers : approvers;
  const name = normaliseName(who);
  return name !== '' && list.some((approver) => normaliseName(approver) === name);
}

/** Same person? (the rules `isApprover` uses) */
export function samePerson(a: string, b: string): boolean {
  return normaliseName(a) === normaliseName(b);
}

export const DecisionAction = {
  propose: 'propose',
  policyCheck: 'policyCheck',
  approve: 'approve',
  reject: 'reject',
  requestChanges: 'requestChanges',
  amend: 'amend',
  expire: 'expire',
  provision: 'provision',
  fail: 'fail',
  retryProvisioning: 'retryProvisioning',
  degrade: 'degrade',
  recover: 'recover',
  redeploy: 'redeploy',
  deprecate: 'deprecate',
  retire: 'retire',
  critique: 'critique',
} as const;
export type DecisionAction = (typeof DecisionAction)[keyof typeof DecisionAction];

/** One entry of a product's audit trail: who did what, when, and why. */
export type Decision = Readonly<{
  by: string;
  action: DecisionAction;
  /** ISO time (workflow time). */
  at: string;
  comment?: string;
  /** The spec revision the decision applies to (amendments raise it). */
  revision: number;
  /** The stage the product was in after this decision. */
  stage: Stage;
  /** How a human decision arrived (`cli`, `slack`, `ui`) and, when signed, the trusted key that signed it. */
  via?: string;
  keyId?: string;
}>;

/** A message that arrived but changed nothing: kept for the audit trail. */
export type IgnoredMessage = Readonly<{
  by: string;
  action: string;
  at: string;
  reason: string;
}>;

/** Something provisioning made (or found already there) for the product. */
export type ProvisionedResource = Readonly<{
  kind: 'kafkaTopic' | 'flinkJob' | 'icebergTable';
  name: string;
  /** Flink job id, Iceberg table uuid ... */
  id?: string;
  /** Where a person looks at it (Flink Web UI link). */
  url?: string;
  /** False when provisioning found it already there with the right settings (a retry or replay). */
  created: boolean;
  at: string;
}>;

export type LastError = Readonly<{ type: string; message: string; at: string }>;

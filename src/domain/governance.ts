import type { ApprovalSigning } from './approval-signing';
import type { Stage } from './lifecycle';
import { isApprover } from './lifecycle';
import type { MeshConfig } from './mesh-config';
import {
  defaultApprovalDeadlineMs,
  defaultJobWatchIntervalMs,
  defaultReminderIntervalMs,
} from './mesh-config';
import { ownValue } from './records';

/**
 * Who may decide about a domain's products, as mesh.yaml says *now*. A product's workflow reads
 * it through an activity at each decision, never from its start input: removing a person from
 * mesh.yaml revokes them for pending decisions too.
 */
export type DomainGovernance = Readonly<{
  domain: string;
  /** False when mesh.yaml does not name the domain: then nobody may approve. */
  known: boolean;
  approvers: readonly string[];
  /** The domain's operators and the mesh-wide ones. */
  operators: readonly string[];
  requiredApprovals: number;
  approvalDeadlineMs: number;
  reminderIntervalMs: number;
  /** How often an active product's Flink job is checked. */
  jobWatchIntervalMs: number;
  /** Every domain of the mesh, for the policy check. */
  knownDomains: readonly string[];
  /** mesh.yaml `approvals`: whether a decision must be signed, and the public keys trusted to sign. */
  approvalSigning: ApprovalSigning;
  /** The Slack channel the domain's proposals are posted to; none means no Slack message. */
  slackChannel?: string;
  /** Slack user id → approver name, for the users who are approvers of this domain. */
  slackUsers: Readonly<Record<string, string>>;
}>;

export function governanceOf(mesh: MeshConfig, domain: string): DomainGovernance {
  const config = ownValue(mesh.domains, domain);
  const knownDomains = Object.keys(mesh.domains).sort();
  if (!config) {
    return {
      domain,
      known: false,
      approvers: [],
      operators: [...mesh.operators],
      requiredApprovals: 1,
      approvalDeadlineMs: defaultApprovalDeadlineMs,
      reminderIntervalMs: defaultReminderIntervalMs,
      jobWatchIntervalMs: defaultJobWatchIntervalMs,
      knownDomains,
      approvalSigning: mesh.approvalSigning,
      slackUsers: {},
    };
  }
  return {
    domain,
    known: true,
    approvers: [...config.approvers],
    operators: [...config.operators],
    requiredApprovals: Math.max(1, config.requiredApprovals),
    approvalDeadlineMs: config.approvalDeadlineMs,
    reminderIntervalMs: config.reminderIntervalMs,
    jobWatchIntervalMs: config.jobWatchIntervalMs,
    knownDomains,
    approvalSigning: mesh.approvalSigning,
    ...(config.slackChannel ? { slackChannel: config.slackChannel } : {}),
    slackUsers: Object.fromEntries(
      Object.entries(mesh.slackUsers).filter(([, name]) => isApprover(config.approvers, name)),
    ),
  };
}

export type Refusal = Readonly<{ type: string; message: string }>;

/** Is `who` an operator of the domain (compared as approvers are: trimmed, ignoring case)? */
export function isOperator(governance: Pick<DomainGovernance, 'operators'>, who: string): boolean {
  return isApprover(governance.operators, who);
}

/**
 * May `by` perform an operator's act (retire, deprecate, retry provisioning, redeploy) on a product
 * in `stage`? Undefined when allowed, else the refusal with its reason. Pure: the workflow calls
 * it from update validators and again when the handler runs, with mesh.yaml as read then.
 */
export function operatorRefusal(input: {
  governance: Pick<DomainGovernance, 'operators' | 'domain'>;
  by: string;
  stage: Stage;
  allowedIn: (stage: Stage) => boolean;
  /** The act, as in `cannot <what> a product that is <stage>`. */
  what: string;
}): Refusal | undefined {
  const by = input.by.trim();
  if (by === '') return { type: 'InvalidRequest', message: 'say who you are: "by" is required' };
  if (!isOperator(input.governance, by)) {
    // Names no one: neither who asked nor who may (mesh.yaml lists them for those who may read it).
    return {
      type: 'NotAnOperator',
      message: `the sender is not an operator of domain ${input.governance.domain}; ask an operator listed in mesh.yaml`,
    };
  }
  if (!input.allowedIn(input.stage)) {
    return { type: 'WrongStage', message: `cannot ${input.what} a product that is ${input.stage}` };
  }
  return undefined;
}

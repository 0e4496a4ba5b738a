import { z } from 'zod';
import type { ApprovalSigning } from './approval-signing';
import { approvalSigningSchema } from './approval-signing';
import { durationHint, parseDuration } from './duration';
import { InvalidSpecError, MeshloopError } from './errors';
import { ownValue } from './records';
import { describeIssues, friendlyErrors } from './spec';

/**
 * `mesh.yaml`: the domains of the mesh, who approves their products, how long a proposal may
 * wait, and what each domain is trying to achieve (the discovery agent reads the goals).
 */

const durationMs = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be ${durationHint}` });
      return z.NEVER;
    }
    return ms;
  });

const approvalSettings = {
  /** How often a running product's Flink job is checked (default 1m). */
  jobWatchInterval: durationMs.optional(),
  approvalDeadline: durationMs.optional(),
  reminderInterval: durationMs.optional(),
  requiredApprovals: z.number().int('must be a whole number').min(1, 'must be ≥ 1').optional(),
};

const personName = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');
/** Who may retire, deprecate, retry or redeploy products (mesh-wide, or of one domain). */
const operators = z.array(personName).default([]);

const domainSchema = z.strictObject({
  description: z.string().default(''),
  approvers: z.array(personName).min(1, 'must name at least one approver'),
  operators,
  businessGoals: z.array(z.string().trim().min(1, 'must not be empty')).default([]),
  /** Slack channel id (C…) the domain's proposals are posted to. */
  slackChannel: z.string().trim().min(1).max(80).optional(),
  ...approvalSettings,
});

const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'Slack user ids look like U012AB3CD');

const meshConfigSchema = z
  .strictObject({
    defaults: z.strictObject(approvalSettings).prefault({}),
    /** Operators of every domain. */
    operators,
    /** Who may vouch for an approval; see docs/lifecycle.md "Who can approve". */
    approvals: approvalSigningSchema.prefault({}),
    /** Slack user id → approver name: the identity the Slack app records for a click. */
    slack: z
      .strictObject({ users: z.record(slackUserId, z.string().trim().min(1).max(200)).default({}) })
      .prefault({}),
    domains: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]*$/, 'domain names are lowercase letters, digits, - or _'),
        domainSchema,
      )
      .refine((domains) => Object.keys(domains).length > 0, { message: 'must name at least one domain' }),
  })
  .superRefine((mesh, ctx) => {
    const keyIds = mesh.approvals.keys.map((key) => key.id);
    for (const [index, id] of keyIds.entries()) {
      if (keyIds.indexOf(id) !== index) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvals', 'keys', index, 'id'],
          message: `key id '${id}' is listed twice`,
        });
      }
    }
    for (const [name, domain] of Object.entries(mesh.domains)) {
      const required = domain.requiredApprovals ?? mesh.defaults.requiredApprovals ?? 1;
      if (required > domain.approvers.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['domains', name, 'requiredApprovals'],
          message: `needs ${required} approvals but only ${domain.approvers.length} approvers are listed`,
        });
      }
    }
  });

export type DomainConfig = Readonly<{
  name: string;
  description: string;
  approvers: readonly string[];
  /** The domain's own operators and the mesh-wide ones. */
  operators: readonly string[];
  businessGoals: readonly string[];
  approvalDeadlineMs: number;
  reminderIntervalMs: number;
  /** Distinct approvers needed before provisioning starts. */
  requiredApprovals: number;
  /** How often an active product's Flink job is checked. */
  jobWatchIntervalMs: number;
  /** Slack channel id the domain's proposals are posted to. */
  slackChannel?: string;
}>;

export type MeshConfig = Readonly<{
  domains: Readonly<Record<string, DomainConfig>>;
  /** Mesh-wide operators (each domain's `operators` already include them). */
  operators: readonly string[];
  approvalSigning: ApprovalSigning;
  /** Slack user id → approver name. */
  slackUsers: Readonly<Record<string, string>>;
}>;

export const defaultApprovalDeadlineMs = 72 * 3_600_000;
export const defaultReminderIntervalMs = 24 * 3_600_000;
export const defaultJobWatchIntervalMs = 60_000;

/** Validate a decoded mesh.yaml; every problem is listed with its path. */
export function parseMeshConfig(value: unknown, source = 'mesh config'): MeshConfig {
  const parsed = meshConfigSchema.safeParse(value, { error: friendlyErrors });
  if (!parsed.success) throw new InvalidSpecError(`invalid ${source}`, describeIssues(parsed.error));
  const { defaults, domains, approvals, slack } = parsed.data;
  // Read it with `domainConfigOf` or `ownValue`: a plain object also answers to `constructor`.
  const resolved: Record<string, DomainConfig> = {};
  for (const [name, domain] of Object.entries(domains)) {
    resolved[name] = {
      name,
      description: domain.description,
      approvers: domain.approvers,
      operators: [...new Set([...domain.operators, ...parsed.data.operators])],
      businessGoals: domain.businessGoals,
      approvalDeadlineMs: domain.approvalDeadline ?? defaults.approvalDeadline ?? defaultApprovalDeadlineMs,
      reminderIntervalMs: domain.reminderInterval ?? defaults.reminderInterval ?? defaultReminderIntervalMs,
      requiredApprovals: domain.requiredApprovals ?? defaults.requiredApprovals ?? 1,
      jobWatchIntervalMs: Math.max(
        1000,
        domain.jobWatchInterval ?? defaults.jobWatchInterval ?? defaultJobWatchIntervalMs,
      ),
      ...(domain.slackChannel ? { slackChannel: domain.slackChannel } : {}),
    };
  }
  return {
    domains: resolved,
    operators: parsed.data.operators,
    approvalSigning: { mode: approvals.signing, keys: approvals.keys },
    slackUsers: slack.users,
  };
}

/** The domain's settings, or a clear error naming the domains that do exist. */
export function domainConfigOf(mesh: MeshConfig, domain: string): DomainConfig {
  const found = ownValue(mesh.domains, domain);
  if (!found) {
    throw new MeshloopError(
      'UnknownDomain',
      `domain '${domain}' is not in mesh.yaml (known: ${Object.keys(mesh.domains).sort().join(', ')})`,
      false,
    );
  }
  return found;
}

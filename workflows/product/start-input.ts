import { z } from 'zod';
import { ApprovalVia } from '../../src/domain/approval-signing';
import { MAX_DECISIONS, MAX_IGNORED } from '../../src/domain/audit';
import { InvalidSpecError } from '../../src/domain/errors';
import type { Refusal } from '../../src/domain/governance';
import { DecisionAction, stages } from '../../src/domain/lifecycle';
import { MAX_COMMENT_LENGTH, MAX_NAME_LENGTH, personName } from '../../src/domain/messages';
import type { ProductSpec } from '../../src/domain/spec';
import { describeIssues, friendlyErrors, parseSpec, productIdOf, workflowIdOf } from '../../src/domain/spec';
import type { CarriedState } from '../../src/domain/product-state';

/**
 * A product workflow's start input is untrusted: anyone who reaches Temporal can start a workflow
 * with any argument. Only the spec is taken from a starter. Carried state is taken only from the
 * workflow's own continue-as-new, and checked again then; who may decide comes from mesh.yaml.
 */

const MAX_LIST = 1000;
const text = (max: number) => z.string().max(max);
const isoTime = text(40);
const stage = z.enum(stages as [string, ...string[]]);
const degradeSource = z.enum(['job', 'analysis', 'table']);
const audit = z.strictObject({
  count: z.number().int().min(0),
  byAction: z.record(text(100), z.number().int().min(0)),
  from: isoTime,
  to: isoTime,
});

const carriedSchema = z.looseObject({
  stage,
  // Absent since the patch 'carried-spec-once': the input's own spec is the one carried.
  spec: z.unknown().optional(),
  revision: z.number().int().min(1),
  approvals: z.array(personName).max(100),
  decisions: z
    .array(
      z.strictObject({
        by: text(MAX_NAME_LENGTH),
        action: z.enum(Object.values(DecisionAction) as [string, ...string[]]),
        at: isoTime,
        comment: text(MAX_COMMENT_LENGTH * 3).optional(),
        revision: z.number().int().min(1),
        stage,
        // How a decision came and which trusted key signed it (approval signing).
        via: z.enum(Object.values(ApprovalVia) as [string, ...string[]]).optional(),
        keyId: text(64).optional(),
      }),
    )
    .max(MAX_DECISIONS),
  ignored: z
    .array(z.strictObject({ by: text(MAX_NAME_LENGTH), action: text(100), at: isoTime, reason: text(2000) }))
    .max(MAX_IGNORED),
  policyViolations: z.array(text(2000)).max(MAX_LIST),
  resources: z
    .array(z.looseObject({ kind: text(40), name: text(300), created: z.boolean(), at: isoTime }))
    .max(100),
  lastError: z.strictObject({ type: text(200), message: text(20_000), at: isoTime }).optional(),
  outputSchema: z
    .strictObject({
      subject: text(300),
      id: z.number().int().min(0),
      version: z.number().int().min(0),
      compatibility: text(40),
      revision: z.number().int().min(1),
      registered: z.boolean(),
    })
    .optional(),
  degradedBy: degradeSource.optional(),
  degradeCauses: z
    .array(z.strictObject({ by: degradeSource, type: text(200), message: text(20_000), at: isoTime }))
    .max(3)
    .optional(),
  remindersSent: z.number().int().min(0),
  continuedAsNew: z.number().int().min(0),
  proposedAt: isoTime,
  updatedAt: isoTime,
  deadlineAt: z.number().optional(),
  nextReminderAt: z.number().optional(),
  publishedStage: stage.optional(),
  decisionCount: z.number().int().min(0).optional(),
  olderDecisions: audit.optional(),
  olderIgnored: audit.optional(),
  recovery: z
    .strictObject({
      attempts: z.number().int().min(0).max(1000),
      since: isoTime,
      jobCheckpoint: text(2000).optional(),
      tableCheckpoint: text(2000).optional(),
    })
    .optional(),
});

const startInputSchema = z.strictObject({
  spec: z.unknown(),
  maxHistoryEvents: z.number().int().min(10).max(1_000_000).optional(),
  carried: z.unknown().optional(),
  // Older starters passed these; they are ignored (mesh.yaml decides, read at decision time).
  approvers: z.unknown().optional(),
  approvalDeadlineMs: z.unknown().optional(),
  reminderIntervalMs: z.unknown().optional(),
  requiredApprovals: z.unknown().optional(),
  knownDomains: z.unknown().optional(),
});

export type CheckedStart = {
  spec: ProductSpec;
  carried?: CarriedState;
  maxHistoryEvents?: number;
};

/** Check a start input against the workflow's own identity; a refusal fails the workflow at once. */
export function checkStartInput(
  input: unknown,
  run: { workflowId: string; continuedFromExecutionRunId?: string },
): { ok: true; value: CheckedStart } | { ok: false; refusal: Refusal } {
  const invalid = (message: string) => ({
    ok: false as const,
    refusal: { type: 'InvalidStartInput', message },
  });
  const parsed = startInputSchema.safeParse(input, { error: friendlyErrors });
  if (!parsed.success) return invalid(`invalid start input: ${describeIssues(parsed.error).join('; ')}`);
  const { carried, maxHistoryEvents } = parsed.data;
  let carriedState: CarriedState | undefined;
  let spec: ProductSpec;
  try {
    if (carried !== undefined) {
      if (!run.continuedFromExecutionRunId) {
        return invalid(
          'carried state is accepted only from the workflow continuing as new; start a product with its spec',
        );
      }
      const state = carriedSchema.safeParse(carried, { error: friendlyErrors });
      if (!state.success) {
        return invalid(`invalid carried state: ${describeIssues(state.error).slice(0, 20).join('; ')}`);
      }
      // Since the patch 'carried-spec-once' the spec travels once, at the top level; older runs
      // carried it inside the state too.
      spec =
        state.data.spec === undefined
          ? parseSpec(parsed.data.spec)
          : parseSpec(state.data.spec, 'carried spec');
      carriedState = { ...(state.data as unknown as CarriedState), spec };
    } else {
      spec = parseSpec(parsed.data.spec);
    }
  } catch (error) {
    if (error instanceof InvalidSpecError)
      return { ok: false, refusal: { type: error.type, message: error.message } };
    throw error;
  }
  const expected = workflowIdOf(productIdOf(spec));
  if (run.workflowId !== expected) {
    return invalid(
      `the workflow id must be ${expected} for product ${productIdOf(spec)}, not ${run.workflowId}`,
    );
  }
  return {
    ok: true,
    value: {
      spec,
      ...(carriedState ? { carried: carriedState } : {}),
      ...(maxHistoryEvents !== undefined ? { maxHistoryEvents } : {}),
    },
  };
}

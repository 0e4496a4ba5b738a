import { z } from 'zod';
import { approvalProofShape, signatureSchema } from './approval-signing';
import { describeIssues, friendlyErrors, MAX_SPEC_BYTES, specJsonBytes } from './spec';

/**
 * The strict shapes of every message a product's workflow accepts (signals and updates). Anyone
 * who reaches Temporal can send any JSON (the Temporal UI sends what is pasted), so each handler
 * parses its message with one of these first; nothing here throws.
 */

/** Longest `by` accepted: a person's or an operator's name, never a document. */
export const MAX_NAME_LENGTH = 100;
/** Longest comment kept in the audit trail. */
export const MAX_COMMENT_LENGTH = 2000;
/** Largest amended spec accepted: the one cap on specs (bytes of JSON), see spec.ts. */
export const MAX_SPEC_JSON_LENGTH = MAX_SPEC_BYTES;
/** Longest reason kept for an ignored message. */
export const MAX_REASON_LENGTH = 500;

export const personName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`);

const comment = z
  .string()
  .max(MAX_COMMENT_LENGTH, `must be at most ${MAX_COMMENT_LENGTH} characters`)
  .optional();

// A spec is validated by the spec schema afterwards; here only its size is bounded.
const specPayload = z.unknown().refine((value) => specJsonBytes(value) <= MAX_SPEC_JSON_LENGTH, {
  message: `must be at most ${MAX_SPEC_JSON_LENGTH} bytes of JSON`,
});

/** `{"by": "alice", "comment": "looks good"}` — what an approver pastes in the Temporal UI. */
export const approverMessageSchema = z.strictObject({ by: personName, comment, ...approvalProofShape });

export const reviewActions = ['approve', 'reject', 'requestChanges'] as const;
export const reviewRequestSchema = z.strictObject({
  action: z.enum(reviewActions, { error: `must be one of ${reviewActions.join(', ')}` }),
  by: personName,
  comment,
  amendedSpec: specPayload.optional(),
  // How the decision came (cli, slack, ui) and, where the mesh requires it, its signature.
  ...approvalProofShape,
});

// Operator acts and amendments carry a signature where the mesh requires one (an operator's key).
const signature = signatureSchema.optional();

export const amendRequestSchema = z.strictObject({ by: personName, spec: specPayload, comment, signature });

export const operatorRequestSchema = z.strictObject({ by: personName, comment, signature });

export const retireRequestSchema = z.strictObject({
  by: personName,
  comment,
  force: z.boolean({ error: 'must be true or false' }).optional(),
  signature,
});

export type ApproverMessage = z.output<typeof approverMessageSchema>;
export type ReviewAction = (typeof reviewActions)[number];
export type ReviewRequest = Omit<z.output<typeof reviewRequestSchema>, 'amendedSpec'> & {
  /** With `requestChanges`: the amended spec the product should take (it goes back to approval). */
  amendedSpec?: unknown;
};
export type AmendRequest = Omit<z.output<typeof amendRequestSchema>, 'spec'> & { spec: unknown };
export type OperatorRequest = z.output<typeof operatorRequestSchema>;
export type RetireRequest = z.output<typeof retireRequestSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Parse an untrusted message. Never throws: a malformed one comes back with the schema's reason
 * (bounded), e.g. `by: must be a string`.
 */
export function parseMessage<T>(schema: z.ZodType<T>, value: unknown, what = 'message'): Parsed<T> {
  try {
    const parsed = schema.safeParse(value, { error: friendlyErrors });
    if (parsed.success) return { ok: true, value: parsed.data };
    const issues = describeIssues(parsed.error).map((issue) => issue.replace(/^\(spec\):/, '(message):'));
    return { ok: false, reason: bounded(`malformed ${what}: ${issues.join('; ')}`) };
  } catch {
    return { ok: false, reason: `malformed ${what}: unreadable` };
  }
}

/** Who a malformed message says it is from, safe to record: a bounded string or a placeholder. */
export function claimedSender(value: unknown): string {
  try {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, 'by')) {
      const by = (value as { by: unknown }).by;
      if (typeof by === 'string' && by.trim() !== '') return bounded(by.trim(), MAX_NAME_LENGTH);
    }
  } catch {
    // a proxy or getter that throws: fall through
  }
  return '(malformed)';
}

/** Cut a string to `max` characters, saying how much was cut. */
export function bounded(text: string, max = MAX_REASON_LENGTH): string {
  if (text.length <= max) return text;
  const note = ` … (${text.length - max} more characters)`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

/** Length of a value as JSON, or Infinity when it cannot be serialised. */
export function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

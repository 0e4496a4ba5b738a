import { ed25519 } from '@noble/curves/ed25519';
import { z } from 'zod';
import { samePerson } from './lifecycle';

/**
 * Approvals nobody can forge: with `approvals.signing: required` in mesh.yaml, a decision counts
 * only when it carries an Ed25519 signature over (product id, revision, action, approver, time) by
 * a key the mesh trusts. Pure and deterministic (noble's verifier is plain JS), so the product
 * workflow runs it inside its sandbox; the signing half (Node's crypto) lives in src/signing.
 */

export const SigningMode = { off: 'off', required: 'required' } as const;
export type SigningMode = (typeof SigningMode)[keyof typeof SigningMode];

/** How an approval reached the workflow. */
export const ApprovalVia = { cli: 'cli', slack: 'slack', ui: 'ui' } as const;
export type ApprovalVia = (typeof ApprovalVia)[keyof typeof ApprovalVia];

/**
 * A public key the mesh trusts. An approver's own key vouches for that approver only; the Slack
 * app's key vouches for whoever Slack verified (the app maps Slack users to approvers).
 */
export type TrustedKey = Readonly<{
  id: string;
  /** Raw Ed25519 public key, 64 hex digits. */
  publicKey: string;
  /** Set for an approver's key: the only approver it may sign for. */
  approver?: string;
  /** Set for the Slack app's key: signs for any approver, always `via: slack`. */
  slackApp?: boolean;
}>;

export type ApprovalSigning = Readonly<{ mode: SigningMode; keys: readonly TrustedKey[] }>;

export const signingOff: ApprovalSigning = { mode: SigningMode.off, keys: [] };

/** What a signer attaches to an approval message. */
export type ApprovalSignature = { keyId: string; at: string; signature: string };

export type SignedApproval = Readonly<{
  productId: string;
  revision: number;
  action: string;
  approver: string;
  /** ISO time the signer signed at. */
  at: string;
}>;

/** A signature older or newer than this (against workflow time) is refused: it cannot be replayed later. */
export const signatureWindowMs = 10 * 60_000;

const hex = (length: number) =>
  z
    .string()
    .length(length)
    .regex(/^[0-9a-f]+$/, 'must be lowercase hex');

export const trustedKeySchema = z
  .strictObject({
    id: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'key ids are 1-64 letters, digits, . _ or -'),
    publicKey: hex(64),
    approver: z.string().trim().min(1).max(200).optional(),
    slackApp: z.boolean().optional(),
  })
  .refine((key) => (key.approver === undefined) !== (key.slackApp !== true), {
    message: 'a key names its approver, or is the Slack app key (slackApp: true), not both',
  });

export const approvalSigningSchema = z.strictObject({
  signing: z.enum([SigningMode.off, SigningMode.required]).default(SigningMode.off),
  keys: z.array(trustedKeySchema).max(500).default([]),
});

const signatureSchema = z.strictObject({
  keyId: z.string().max(64),
  at: z.string().max(40),
  signature: hex(128),
});

/**
 * The proof fields an approval message may carry (`via`, `signature`), for message schemas to
 * include. A malformed signature is also caught by `checkApprovalSignature` itself.
 */
export const approvalProofShape = {
  via: z.enum([ApprovalVia.cli, ApprovalVia.slack, ApprovalVia.ui]).optional(),
  signature: signatureSchema.optional(),
};

/** The exact bytes a signer signs: a JSON array, so no field can run into the next. */
export function approvalSigningBytes(approval: SignedApproval): Uint8Array {
  return utf8(
    JSON.stringify([
      'meshloop-approval/v1',
      approval.productId,
      approval.revision,
      approval.action,
      approval.approver.trim().toLowerCase(),
      approval.at,
    ]),
  );
}

/** The trusted key with this id, if the mesh lists one (ids compare exactly). */
export function trustedKeyOf(signing: ApprovalSigning, keyId: string): TrustedKey | undefined {
  return signing.keys.find((key) => key.id === keyId);
}

export type SignatureCheck =
  | { ok: true; key?: TrustedKey }
  | { ok: false; type: 'SignatureRequired' | 'InvalidSignature'; reason: string };

/**
 * Does this approval carry what the mesh requires? With signing off anything passes (and a
 * signature is not even looked at); with it required, the signature must be by a trusted key
 * allowed to sign for the approver, over these exact fields, made within the window around `nowMs`.
 */
export function checkApprovalSignature(
  signing: ApprovalSigning,
  approval: Omit<SignedApproval, 'at'>,
  signature: unknown,
  nowMs: number,
): SignatureCheck {
  if (signing.mode !== SigningMode.required) return { ok: true };
  if (signature === undefined || signature === null) {
    return {
      ok: false,
      type: 'SignatureRequired',
      reason: 'this mesh requires signed approvals; the message carries no signature',
    };
  }
  const parsed = signatureSchema.safeParse(signature);
  if (!parsed.success) {
    return { ok: false, type: 'InvalidSignature', reason: 'the signature is malformed' };
  }
  const { keyId, at, signature: signatureHex } = parsed.data;
  const key = trustedKeyOf(signing, keyId);
  if (!key)
    return { ok: false, type: 'InvalidSignature', reason: `key '${keyId}' is not trusted by this mesh` };
  if (key.approver !== undefined && !samePerson(key.approver, approval.approver)) {
    return {
      ok: false,
      type: 'InvalidSignature',
      reason: `key '${keyId}' belongs to ${key.approver} and cannot sign for ${approval.approver}`,
    };
  }
  const signedAt = Date.parse(at);
  if (Number.isNaN(signedAt) || Math.abs(nowMs - signedAt) > signatureWindowMs) {
    return {
      ok: false,
      type: 'InvalidSignature',
      reason: `the signature's time ${at} is not within ${signatureWindowMs / 60_000} minutes of now`,
    };
  }
  let valid = false;
  try {
    valid = ed25519.verify(signatureHex, approvalSigningBytes({ ...approval, at }), key.publicKey);
  } catch {
    valid = false; // a malformed point or signature is simply not valid
  }
  if (!valid) {
    return {
      ok: false,
      type: 'InvalidSignature',
      reason: `the signature by '${keyId}' does not match product ${approval.productId}, revision ${approval.revision}, ${approval.action} by ${approval.approver}`,
    };
  }
  return { ok: true, key };
}

// UTF-8 by hand: the workflow sandbox is not guaranteed a TextEncoder.
function utf8(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else
      bytes.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 63),
        0x80 | ((code >> 6) & 63),
        0x80 | (code & 63),
      );
  }
  return Uint8Array.from(bytes);
}

const viaValues: readonly string[] = Object.values(ApprovalVia);

/**
 * How to record an approval that passed `checkApprovalSignature`: a Slack app signature means
 * `via: slack` whatever the message claims; otherwise the claimed channel (or `fallback`). The key
 * id is recorded only when signing is required, i.e. when it was verified.
 */
export function approvalAuthentication(
  signing: ApprovalSigning,
  proof: { via?: unknown; signature?: unknown },
  fallback: ApprovalVia,
): { via: ApprovalVia; keyId?: string } {
  const claimed =
    typeof proof.via === 'string' && viaValues.includes(proof.via) ? (proof.via as ApprovalVia) : fallback;
  if (signing.mode !== SigningMode.required) return { via: claimed };
  const keyId = signatureSchema.shape.keyId.safeParse(
    (proof.signature as { keyId?: unknown } | undefined)?.keyId,
  );
  const key = keyId.success ? trustedKeyOf(signing, keyId.data) : undefined;
  if (!key) return { via: claimed };
  return { via: key.slackApp ? ApprovalVia.slack : claimed, keyId: key.id };
}

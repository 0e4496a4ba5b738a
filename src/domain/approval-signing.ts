import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { z } from 'zod';
import { samePerson } from './lifecycle';

/**
 * Approvals nobody can forge or replay: with `approvals.signing: required` in mesh.yaml, a review
 * or an operator's act counts only when it carries an Ed25519 signature by a key the mesh trusts,
 * over the product, its lifetime, the revision, the spec's content hash, the act, who acts, a
 * nonce and the time (v2). Pure and deterministic (noble's verifier is plain JS), so the product
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
  /** Set for an operator key: the only person whose operator acts (and amendments) it may sign. */
  operator?: string;
  /** Set for the Slack app's key: signs for any approver, always `via: slack`. */
  slackApp?: boolean;
}>;

export type ApprovalSigning = Readonly<{ mode: SigningMode; keys: readonly TrustedKey[] }>;

export const signingOff: ApprovalSigning = { mode: SigningMode.off, keys: [] };

/** What a signer attaches to an approval message. */
/** What a signer attaches to a message: v2 (`version: 2`, with a nonce); v1 only in recorded histories. */
export type ApprovalSignature = {
  keyId: string;
  at: string;
  signature: string;
  version?: 2;
  nonce?: string;
};

/** What a v1 signature covered (recorded histories only: it binds neither the spec nor the lifetime). */
export type SignedApproval = Readonly<{
  productId: string;
  revision: number;
  action: string;
  approver: string;
  /** ISO time the signer signed at. */
  at: string;
}>;

/**
 * What a v2 signature binds: the product, its lifetime (the first run id of its workflow chain,
 * which Temporal gives every run of the chain), the revision, the content hash of the exact spec
 * acted on, the act, who acts, the act's detail (an amended spec's hash; `force` for a forced
 * retirement), and a nonce the workflow remembers so the signature is usable once.
 */
export type BoundAct = Readonly<{
  /** `approval`: a review (approve, reject, requestChanges); `act`: an operator's act or an amendment. */
  kind: 'approval' | 'act';
  productId: string;
  lifetime: string;
  revision: number;
  specHash: string;
  action: string;
  by: string;
  detail: string;
}>;

export type SignedAct = BoundAct & Readonly<{ nonce: string; at: string }>;

/** A signature older or newer than this (against workflow time) is refused: it cannot be replayed later. */
export const signatureWindowMs = 10 * 60_000;

const hex = (length: number) =>
  z
    .string()
    .length(length)
    .regex(/^[0-9a-f]+$/, 'must be lowercase hex');

const holderName = z.string().trim().min(1).max(200);

export const trustedKeySchema = z
  .strictObject({
    id: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'key ids are 1-64 letters, digits, . _ or -'),
    publicKey: hex(64),
    approver: holderName.optional(),
    operator: holderName.optional(),
    slackApp: z.boolean().optional(),
  })
  .refine(
    (key) =>
      [key.approver !== undefined, key.operator !== undefined, key.slackApp === true].filter(Boolean)
        .length === 1,
    {
      message:
        'a key names its approver (approver: <name>), or its operator (operator: <name>), or is the Slack app key (slackApp: true), not both',
    },
  );

export const approvalSigningSchema = z.strictObject({
  signing: z.enum([SigningMode.off, SigningMode.required]).default(SigningMode.off),
  keys: z.array(trustedKeySchema).max(500).default([]),
});

const signatureV1Schema = z.strictObject({
  keyId: z.string().max(64),
  at: z.string().max(40),
  signature: hex(128),
});

const signatureV2Schema = z.strictObject({
  version: z.literal(2),
  keyId: z.string().max(64),
  at: z.string().max(40),
  nonce: hex(32),
  signature: hex(128),
});

export const signatureSchema = z.union([signatureV2Schema, signatureV1Schema]);

/**
 * The proof fields an approval message may carry (`via`, `signature`), for message schemas to
 * include. A malformed signature is also caught by `checkSignature` itself.
 */
export const approvalProofShape = {
  via: z.enum([ApprovalVia.cli, ApprovalVia.slack, ApprovalVia.ui]).optional(),
  signature: signatureSchema.optional(),
};

/** An approval's v2 signature as the workflow keeps it, to verify it again in every later run. */
export type ApprovalProof = Readonly<{
  by: string;
  keyId: string;
  at: string;
  nonce: string;
  signature: string;
}>;

export const approvalProofSchema = z.strictObject({
  by: z.string().max(200),
  keyId: z.string().max(64),
  at: z.string().max(40),
  nonce: hex(32),
  signature: hex(128),
});

/** The bytes a v1 signer signed (recorded histories only). */
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

/** The exact bytes a v2 signer signs: a JSON array, so no field can run into the next. */
export function signingBytes(act: SignedAct): Uint8Array {
  return utf8(
    JSON.stringify([
      act.kind === 'approval' ? 'meshloop-approval/v2' : 'meshloop-act/v2',
      act.productId,
      act.lifetime,
      act.revision,
      act.specHash,
      act.action,
      act.by.trim().toLowerCase(),
      act.detail,
      act.nonce,
      act.at,
    ]),
  );
}

/**
 * The content hash of a spec (or any JSON value): SHA-256 of its canonical JSON (keys sorted,
 * undefined left out, as JSON drops it), lowercase hex. Signers and the workflow compute it alike.
 */
export function specHashOf(value: unknown): string {
  return bytesToHex(sha256(utf8(canonicalJson(value))));
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** The trusted key with this id, if the mesh lists one (ids compare exactly). */
export function trustedKeyOf(signing: ApprovalSigning, keyId: string): TrustedKey | undefined {
  return signing.keys.find((key) => key.id === keyId);
}

/**
 * May this key sign this act for `by`? An approver's key signs reviews for its approver; the Slack
 * app's key signs reviews for whoever Slack verified; an operator key signs operator acts for its
 * operator; an amendment is signed by the amender's own key (approver or operator key).
 */
export function keyMaySign(key: TrustedKey, act: Pick<BoundAct, 'kind' | 'action' | 'by'>): boolean {
  const holds = (name: string | undefined) => name !== undefined && samePerson(name, act.by);
  if (act.kind === 'approval') return key.slackApp === true || holds(key.approver);
  if (act.action === 'amend') return holds(key.approver) || holds(key.operator);
  return holds(key.operator);
}

export type SignatureCheck =
  | { ok: true; key?: TrustedKey; nonce?: string }
  | { ok: false; type: 'SignatureRequired' | 'InvalidSignature'; reason: string };

export type SignatureOptions = Readonly<{
  /** Workflow time: the signature must be made within the window around it. Absent: not checked (a carried proof). */
  nowMs?: number;
  /** Accept a v1 signature for a review (recorded histories of runs started before v2 only). */
  acceptV1?: boolean;
  /** Was this nonce used already (in this product's lifetime)? */
  isUsed?: (nonce: string) => boolean;
}>;

const invalid = (reason: string): SignatureCheck => ({ ok: false, type: 'InvalidSignature', reason });

/**
 * Does this act carry what the mesh requires? With signing off anything passes (and a signature is
 * not even looked at); with it required, the signature must be v2, by a trusted key allowed to
 * sign this act for `act.by`, over exactly these fields, made within the window, with an unused
 * nonce. Refusals name no one (not the key's holder, not the mesh's approvers or operators).
 */
export function checkSignature(
  signing: ApprovalSigning,
  act: BoundAct,
  signature: unknown,
  options: SignatureOptions = {},
): SignatureCheck {
  if (signing.mode !== SigningMode.required) return { ok: true };
  if (signature === undefined || signature === null) {
    return {
      ok: false,
      type: 'SignatureRequired',
      reason: `this mesh requires signed ${act.kind === 'approval' ? 'approvals' : 'operator acts'}; the message carries no signature`,
    };
  }
  const parsed = signatureSchema.safeParse(signature);
  if (!parsed.success) return invalid('the signature is malformed');
  const proof = parsed.data;
  const key = trustedKeyOf(signing, proof.keyId);
  const problem = signerProblem(key, act, proof.at, options.nowMs);
  if (problem !== undefined || !key) return invalid(problem ?? 'no key');
  if (!('version' in proof)) return checkV1(key, act, proof, options.acceptV1 === true);
  if (options.isUsed?.(proof.nonce)) return invalid('this signature was used already; sign the act again');
  const check = verified(key, proof.signature, signingBytes({ ...act, nonce: proof.nonce, at: proof.at }));
  return check.ok ? { ...check, nonce: proof.nonce } : check;
}

/** A v1 signature: taken only for a review, in a run recorded before v2 (`acceptV1`). */
function checkV1(
  key: TrustedKey,
  act: BoundAct,
  proof: { at: string; signature: string },
  acceptV1: boolean,
): SignatureCheck {
  if (!acceptV1 || act.kind !== 'approval') {
    return invalid(
      'the signature is in the old format (v1), which binds neither the spec nor the product lifetime; sign again with this version of meshloop',
    );
  }
  const v1 = { productId: act.productId, revision: act.revision, action: act.action, approver: act.by };
  return verified(key, proof.signature, approvalSigningBytes({ ...v1, at: proof.at }));
}

/** Why this key may not sign this act at this time (a key that is not trusted, another holder's, a stale time). */
function signerProblem(
  key: TrustedKey | undefined,
  act: BoundAct,
  at: string,
  nowMs: number | undefined,
): string | undefined {
  if (!key) return 'the signing key is not one this mesh trusts (mesh.yaml approvals.keys)';
  if (!keyMaySign(key, act))
    return `the signing key may not sign this ${act.kind === 'approval' ? 'review' : 'act'} for this sender`;
  const signedAt = Date.parse(at);
  if (Number.isNaN(signedAt) || (nowMs !== undefined && Math.abs(nowMs - signedAt) > signatureWindowMs))
    return `the signature's time ${at} is not within ${signatureWindowMs / 60_000} minutes of now`;
  return undefined;
}

function verified(key: TrustedKey, signatureHex: string, bytes: Uint8Array): SignatureCheck {
  let valid = false;
  try {
    valid = ed25519.verify(signatureHex, bytes, key.publicKey);
  } catch {
    valid = false; // a malformed point or signature is simply not valid
  }
  if (!valid) {
    return invalid(
      'the signature does not match this product, its lifetime, revision, spec, act and sender; sign the product as it is now',
    );
  }
  return { ok: true, key };
}

/** The v2 signature of a message, if it carries one (for the nonce and the proof kept). */
export function v2SignatureOf(signature: unknown): z.output<typeof signatureV2Schema> | undefined {
  const parsed = signatureV2Schema.safeParse(signature);
  return parsed.success ? parsed.data : undefined;
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
 * How to record an approval that passed `checkSignature`: a Slack app signature means
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
  const keyId = signatureV1Schema.shape.keyId.safeParse(
    (proof.signature as { keyId?: unknown } | undefined)?.keyId,
  );
  const key = keyId.success ? trustedKeyOf(signing, keyId.data) : undefined;
  if (!key) return { via: claimed };
  return { via: key.slackApp ? ApprovalVia.slack : claimed, keyId: key.id };
}

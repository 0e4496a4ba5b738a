import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ApprovalSignature, BoundAct, TrustedKey } from '../domain/approval-signing';
import { signingBytes, trustedKeySchema } from '../domain/approval-signing';
import { boundAct } from '../domain/permissions';
import type { ProductSpec } from '../domain/spec';
import { MeshloopError } from '../domain/errors';

/**
 * The signing half of approval signing: a key pair per CLI approver (and one for the Slack app),
 * kept in a file only its owner can read. The workflow verifies with the public half from mesh.yaml.
 */

export type SigningKey = Readonly<{ trusted: TrustedKey; privateKey: KeyObject }>;

const keyFileSchema = z.strictObject({
  id: z.string(),
  approver: z.string().optional(),
  operator: z.string().optional(),
  slackApp: z.boolean().optional(),
  publicKey: z.string(),
  /** Ed25519 private key as JWK `d` (base64url of the 32-byte seed). */
  privateKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 seed'),
});

export function newSigningKey(owner: {
  id: string;
  approver?: string;
  operator?: string;
  slackApp?: boolean;
}): {
  key: SigningKey;
  fileText: string;
} {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (!jwk.d || !jwk.x) throw new Error('Node did not export the Ed25519 key as JWK');
  const trusted = trustedKeySchema.parse({
    id: owner.id,
    publicKey: Buffer.from(jwk.x, 'base64url').toString('hex'),
    ...(owner.approver !== undefined ? { approver: owner.approver } : {}),
    ...(owner.operator !== undefined ? { operator: owner.operator } : {}),
    ...(owner.slackApp ? { slackApp: true } : {}),
  });
  const fileText = JSON.stringify({ ...trusted, privateKey: jwk.d }, null, 2) + '\n';
  return { key: { trusted, privateKey }, fileText };
}

/** Write a new key file, readable by its owner only; never overwrites an existing key. */
export async function writeSigningKeyFile(file: string, fileText: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, fileText, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MeshloopError('KeyExists', `${file} exists already; choose another --out`, false);
    }
    throw error;
  }
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  const parsed = keyFileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success)
    throw new MeshloopError('InvalidKeyFile', `${file} is not a Meshloop signing key`, false);
  const { privateKey: d, ...rest } = parsed.data;
  const trusted = trustedKeySchema.parse(rest);
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d, x: Buffer.from(trusted.publicKey, 'hex').toString('base64url') },
    format: 'jwk',
  });
  return { trusted, privateKey };
}

/** Sign an act (v2) at `at` (now by default), with a fresh nonce: the signature is usable once. */
export function signAct(key: SigningKey, act: BoundAct, at: Date = new Date()): ApprovalSignature {
  const signedAt = at.toISOString();
  const nonce = randomBytes(16).toString('hex');
  const signature = sign(null, signingBytes({ ...act, nonce, at: signedAt }), key.privateKey);
  return { version: 2, keyId: key.trusted.id, at: signedAt, nonce, signature: signature.toString('hex') };
}

/**
 * Sign an act on a product as its status shows it: the spec shown (its content hash), its revision
 * and its lifetime. A review (`approval`) or an operator's act or amendment (`act`); `detail` is the
 * amended spec's hash, or `force` for a forced retirement.
 */
export function signForProduct(
  key: SigningKey,
  status: { spec: ProductSpec; revision: number; lifetime?: string },
  act: Pick<BoundAct, 'kind' | 'action' | 'by'> & { detail?: string },
  at: Date = new Date(),
): ApprovalSignature {
  if (!status.lifetime) {
    throw new MeshloopError(
      'CannotSign',
      "the product's workflow does not report its lifetime (a worker older than this meshloop); upgrade the worker and sign again",
      false,
    );
  }
  return signAct(key, boundAct(status, { lifetime: status.lifetime }, act), at);
}

/** The lines to add under `approvals.keys` in mesh.yaml for this key. */
export function meshYamlEntry(trusted: TrustedKey): string {
  const lines = [`    - id: ${trusted.id}`, `      publicKey: ${trusted.publicKey}`];
  if (trusted.approver !== undefined) lines.push(`      approver: ${trusted.approver}`);
  if (trusted.operator !== undefined) lines.push(`      operator: ${trusted.operator}`);
  if (trusted.slackApp) lines.push('      slackApp: true');
  return lines.join('\n');
}

/** The CLI's key file: the configured one (which must exist), or the default one if it exists. */
export async function approverKeyFile(config: {
  signing: { keyFile: string; explicit: boolean };
}): Promise<string | undefined> {
  try {
    await access(config.signing.keyFile);
    return config.signing.keyFile;
  } catch {
    if (!config.signing.explicit) return undefined;
    throw new MeshloopError(
      'InvalidKeyFile',
      `MESHLOOP_SIGNING_KEY_FILE=${config.signing.keyFile} does not exist; create it with \`meshloop keys new\``,
      false,
    );
  }
}

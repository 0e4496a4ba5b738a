import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { MeshloopError } from '../domain/errors';

/**
 * AES-256-GCM encryption of every payload Temporal stores (workflow inputs, results, signals,
 * updates, activity inputs and results). Keys have ids: the first key encrypts, every key decrypts,
 * so a key is rotated by putting a new one first and keeping the old ones until old histories are gone.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type PayloadKey = Readonly<{ id: string; key: Buffer }>;

/** `id:base64key,id2:base64key2` (each key 32 bytes, e.g. `openssl rand -base64 32`); the first encrypts. */
export function parsePayloadKeys(text: string): PayloadKey[] {
  const keys = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf(':');
      const id = at > 0 ? part.slice(0, at).trim() : '';
      const key = Buffer.from(at > 0 ? part.slice(at + 1).trim() : '', 'base64');
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
        throw new MeshloopError(
          'InvalidPayloadKeys',
          'each key needs an id (letters, digits, . _ -) before ":"',
          false,
        );
      }
      if (key.length !== 32) {
        throw new MeshloopError(
          'InvalidPayloadKeys',
          `key ${id} must be 32 bytes, base64 (it is ${key.length})`,
          false,
        );
      }
      return { id, key };
    });
  if (keys.length === 0) throw new MeshloopError('InvalidPayloadKeys', 'no key given', false);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) {
    throw new MeshloopError('InvalidPayloadKeys', 'key ids must be unique', false);
  }
  return keys;
}

// A payload as bytes: its metadata and data, so both are encrypted (the encoding says what it holds).
function serialise(payload: Payload): Buffer {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload.metadata ?? {})) {
    if (value) metadata[name] = Buffer.from(value).toString('base64');
  }
  return Buffer.from(
    JSON.stringify({
      metadata,
      data: payload.data ? Buffer.from(payload.data).toString('base64') : undefined,
    }),
  );
}

function deserialise(bytes: Buffer): Payload {
  const decoded = JSON.parse(bytes.toString('utf8')) as { metadata: Record<string, string>; data?: string };
  const metadata: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(decoded.metadata)) metadata[name] = Buffer.from(value, 'base64');
  return { metadata, ...(decoded.data !== undefined ? { data: Buffer.from(decoded.data, 'base64') } : {}) };
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: PayloadKey;

  constructor(keys: readonly PayloadKey[]) {
    const [first] = keys;
    if (!first) throw new MeshloopError('InvalidPayloadKeys', 'no key given', false);
    this.current = first;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  // async: a failure rejects the promise rather than throwing at the caller.
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return await Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
        cipher.setAAD(Buffer.from(this.current.id));
        const sealed = Buffer.concat([cipher.update(serialise(payload)), cipher.final()]);
        return {
          metadata: {
            encoding: Buffer.from(ENCRYPTED_ENCODING),
            [KEY_ID]: Buffer.from(this.current.id),
          },
          data: Buffer.concat([iv, sealed, cipher.getAuthTag()]),
        };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return await Promise.resolve(
      payloads.map((payload) => {
        const encoding = payload.metadata?.encoding;
        if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
        const idBytes = payload.metadata?.[KEY_ID];
        const id = idBytes ? Buffer.from(idBytes).toString() : '';
        const key = this.byId.get(id);
        if (!key) {
          throw new MeshloopError(
            'UnknownPayloadKey',
            `payload encrypted with key '${id}', which is not configured`,
            false,
          );
        }
        const data = Buffer.from(payload.data ?? new Uint8Array());
        if (data.length < IV_BYTES + TAG_BYTES)
          throw new MeshloopError('CorruptPayload', 'encrypted payload too short', false);
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(id));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return deserialise(plain);
      }),
    );
  }
}

/** The data converter for clients and workers: encrypting when keys are set, Temporal's default otherwise. */
export function dataConverterFor(
  payloadKeys: string | undefined,
): { payloadCodecs: PayloadCodec[] } | undefined {
  return payloadKeys ? { payloadCodecs: [new AesGcmPayloadCodec(parsePayloadKeys(payloadKeys))] } : undefined;
}

/**
 * For listing workflows only: a memo this client cannot decrypt (another key, or none configured)
 * reads as `null` instead of failing the whole list, so one unreadable product does not hide the
 * others. Never for anything a decision reads.
 */
export class ListingPayloadCodec implements PayloadCodec {
  private readonly inner: AesGcmPayloadCodec | undefined;

  constructor(payloadKeys: string | undefined) {
    this.inner = payloadKeys ? new AesGcmPayloadCodec(parsePayloadKeys(payloadKeys)) : undefined;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return this.inner ? this.inner.encode(payloads) : Promise.resolve(payloads);
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return await Promise.all(
      payloads.map(async (payload) => {
        const encoding = payload.metadata?.encoding;
        if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
        const decoded = await this.inner?.decode([payload]).catch(() => undefined);
        return decoded?.[0] ?? { metadata: { encoding: Buffer.from('binary/null') } };
      }),
    );
  }
}

/** The data converter for listing workflows (visibility rows): see ListingPayloadCodec. */
export function listingDataConverterFor(payloadKeys: string | undefined): { payloadCodecs: PayloadCodec[] } {
  return { payloadCodecs: [new ListingPayloadCodec(payloadKeys)] };
}

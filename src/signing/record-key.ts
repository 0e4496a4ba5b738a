import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { MeshloopError } from '../domain/errors';

/**
 * The worker's record key: an HMAC-SHA256 secret that signs what the worker writes where anyone
 * with access to Kafka or the lake can write too (catalog descriptors, topic claims, analysis
 * result rows). Readers verify with the same key and ignore what it did not sign, so a record
 * written by hand (a forged descriptor with a huge version, a claim, a results row) is never taken
 * for the worker's. The key lives in a file only its owner can read (`MESHLOOP_RECORD_KEY_FILE`,
 * default `~/.meshloop/record-key`, made 0600 on first use): never in workflow history, the
 * catalog, logs or a platform process's environment.
 *
 * A signature names what it signs (`purpose`) so one kind of record cannot pass for another, and
 * the key (`keyId`, a hash prefix, never the key) so a reader with another key says so.
 */

const SCHEME = 'hmac-sha256';
const KEY_BYTES = 32;

export class RecordKey {
  readonly id: string;

  private constructor(private readonly secret: Buffer) {
    this.id = createHash('sha256').update(secret).digest('hex').slice(0, 12);
  }

  static fromSecret(secret: Buffer): RecordKey {
    if (secret.length < KEY_BYTES) throw new Error(`a record key has at least ${KEY_BYTES} bytes`);
    return new RecordKey(secret);
  }

  static generate(): RecordKey {
    return new RecordKey(randomBytes(KEY_BYTES));
  }

  /** `hmac-sha256:<key id>:<base64url MAC>` over the purpose and the text. */
  sign(purpose: string, text: string): string {
    return `${SCHEME}:${this.id}:${this.mac(purpose, text).toString('base64url')}`;
  }

  /** True only for a signature this key made over exactly this purpose and text. */
  verify(purpose: string, text: string, signature: unknown): boolean {
    if (typeof signature !== 'string' || signature.length > 200) return false;
    const [scheme, keyId, mac, ...rest] = signature.split(':');
    if (scheme !== SCHEME || keyId !== this.id || mac === undefined || rest.length > 0) return false;
    const given = Buffer.from(mac, 'base64url');
    const wanted = this.mac(purpose, text);
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }

  private mac(purpose: string, text: string): Buffer {
    return createHmac('sha256', this.secret).update(`meshloop:${purpose}\n`).update(text).digest();
  }
}

/**
 * The record key in `file` (base64 of at least 32 random bytes, as `openssl rand -base64 32`
 * writes). With `create`, a missing file is made (0600, its folder 0700); without, a missing file
 * is an error naming the setting.
 */
export function loadRecordKey(file: string, options: { create?: boolean } = {}): RecordKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!options.create) {
      throw new MeshloopError(
        'RecordKeyMissing',
        `no record key at ${file} (MESHLOOP_RECORD_KEY_FILE): start the worker once (it makes the key), or point MESHLOOP_RECORD_KEY_FILE at the worker's key`,
        false,
      );
    }
    const key = randomBytes(KEY_BYTES).toString('base64');
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    } catch (raced) {
      // Another process made it first: use theirs.
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
    }
    text = readFileSync(file, 'utf8');
  }
  const secret = Buffer.from(text.trim(), 'base64');
  if (secret.length < KEY_BYTES || !/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    throw new MeshloopError(
      'InvalidRecordKey',
      `${file} (MESHLOOP_RECORD_KEY_FILE) is not a record key: it must hold base64 of at least ${KEY_BYTES} random bytes (openssl rand -base64 32)`,
      false,
    );
  }
  return RecordKey.fromSecret(secret);
}

const loaded = new Map<string, RecordKey>();

/**
 * This process's record key, from the configuration (made on first use): the worker signs with it,
 * every reader of the catalog, the topic claims and the analysis results verifies with it.
 */
export function processRecordKey(file: string = loadConfig().records.keyFile): RecordKey {
  let key = loaded.get(file);
  if (!key) {
    key = loadRecordKey(file, { create: true });
    loaded.set(file, key);
  }
  return key;
}

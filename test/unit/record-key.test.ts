import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadRecordKey, RecordKey } from '../../src/signing/record-key';

describe('the record key (signs descriptors, claims and results rows)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'record-key-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is made 0600 in a 0700 folder on first use, and read back the same', async () => {
    const file = path.join(dir, 'keys', 'record-key');
    const made = loadRecordKey(file, { create: true });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    const again = loadRecordKey(file);
    assert.equal(again.id, made.id);
    const signature = made.sign('catalog-descriptor', 'text');
    assert.ok(again.verify('catalog-descriptor', 'text', signature));
    const secret = (await readFile(file, 'utf8')).trim();
    assert.ok(!signature.includes(secret.slice(0, 20)), 'the key is not in a signature');
  });

  it('verifies only its own signature over the same purpose and text', () => {
    const key = RecordKey.generate();
    const signature = key.sign('topic-claim', 'orders.a\n{}');
    assert.ok(key.verify('topic-claim', 'orders.a\n{}', signature));
    assert.ok(!key.verify('catalog-descriptor', 'orders.a\n{}', signature), 'another purpose');
    assert.ok(!key.verify('topic-claim', 'orders.b\n{}', signature), 'other text');
    assert.ok(!RecordKey.generate().verify('topic-claim', 'orders.a\n{}', signature), 'another key');
    for (const bad of [
      undefined,
      42,
      '',
      'hmac-sha256',
      `${signature}:x`,
      signature.slice(0, -2),
      'x'.repeat(300),
    ])
      assert.ok(!key.verify('topic-claim', 'orders.a\n{}', bad), String(bad));
  });

  it('a missing file (without create) or one that is not a key names the setting', async () => {
    assert.throws(
      () => loadRecordKey(path.join(dir, 'none')),
      /MESHLOOP_RECORD_KEY_FILE.*start the worker once/,
    );
    const short = path.join(dir, 'short');
    await writeFile(short, 'c2hvcnQ=\n');
    assert.throws(
      () => loadRecordKey(short),
      /MESHLOOP_RECORD_KEY_FILE\) is not a record key.*openssl rand -base64 32/,
    );
  });
});

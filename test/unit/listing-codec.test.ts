import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, ListingPayloadCodec, parsePayloadKeys } from '../../src/codec/payload-codec';

const json = (value: unknown): Payload => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(value)),
});

describe('ListingPayloadCodec (listing workflows whose memos may be encrypted)', () => {
  const keys = `k1:${randomBytes(32).toString('base64')}`;

  it('reads an encrypted memo as null without the key, decrypts it with the key, leaves plain ones alone', async () => {
    const [encrypted] = await new AesGcmPayloadCodec(parsePayloadKeys(keys)).encode([
      json({ verdict: 'approve' }),
    ]);
    const plain = json({ verdict: 'dismiss' });

    const [withoutKey, untouched] = await new ListingPayloadCodec(undefined).decode([encrypted!, plain]);
    assert.equal(Buffer.from(withoutKey!.metadata!.encoding!).toString(), 'binary/null');
    assert.equal(untouched, plain);

    const otherKey = `k1:${randomBytes(32).toString('base64')}`;
    const [wrongKey] = await new ListingPayloadCodec(otherKey).decode([encrypted!]);
    assert.equal(Buffer.from(wrongKey!.metadata!.encoding!).toString(), 'binary/null');

    const [decrypted] = await new ListingPayloadCodec(keys).decode([encrypted!]);
    assert.deepEqual(JSON.parse(Buffer.from(decrypted!.data!).toString()), { verdict: 'approve' });
  });
});

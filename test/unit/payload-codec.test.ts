import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, parsePayloadKeys } from '../../src/codec/payload-codec';
import { createCodecServer, listenLocally } from '../../src/codec/server';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const plain = (text: string): Payload => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify({ description: text })),
});

describe('AES-GCM payload codec', () => {
  const k1 = key('k1');
  const k2 = key('k2');

  it('encrypts metadata and data, and decrypts them back', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(k1));
    const [sealed] = await codec.encode([plain('secret revenue spec')]);
    assert.ok(sealed);
    assert.equal(Buffer.from(sealed.metadata!.encoding!).toString(), 'binary/encrypted');
    assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('secret revenue'));
    assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('json/plain'));
    const [opened] = await codec.decode([sealed]);
    assert.equal(
      Buffer.from(opened!.data!).toString(),
      JSON.stringify({ description: 'secret revenue spec' }),
    );
    assert.equal(Buffer.from(opened!.metadata!.encoding!).toString(), 'json/plain');
  });

  it('rotates: the first key encrypts, every listed key decrypts, a dropped key cannot', async () => {
    const old = new AesGcmPayloadCodec(parsePayloadKeys(k1));
    const rotated = new AesGcmPayloadCodec(parsePayloadKeys(`${k2},${k1}`));
    const [byOld] = await old.encode([plain('a')]);
    const [byNew] = await rotated.encode([plain('b')]);
    assert.equal(Buffer.from(byNew!.metadata!['encryption-key-id']!).toString(), 'k2');
    assert.ok(await rotated.decode([byOld!, byNew!]));
    await assert.rejects(
      new AesGcmPayloadCodec(parsePayloadKeys(k2)).decode([byOld!]),
      /key 'k1', which is not configured/,
    );
  });

  it('refuses a tampered payload and malformed keys', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(k1));
    const [sealed] = await codec.encode([plain('x')]);
    const data = Buffer.from(sealed!.data!);
    data[20] = (data[20] ?? 0) ^ 1;
    await assert.rejects(codec.decode([{ ...sealed!, data }]));
    assert.throws(() => parsePayloadKeys('nokey'), /needs an id/);
    assert.throws(() => parsePayloadKeys(`k:${Buffer.alloc(16).toString('base64')}`), /must be 32 bytes/);
    assert.throws(() => parsePayloadKeys(`${k1},${k1}`), /unique/);
  });
});

describe('codec server', () => {
  it('decodes for the UI origin only, bound to 127.0.0.1', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(key('k1')));
    const uiOrigin = 'http://127.0.0.1:8233';
    const server = createCodecServer({
      codec,
      uiOrigin,
      log: createLogger('test', 'error', () => undefined),
    });
    const port = await listenLocally(server, 0);
    try {
      assert.equal((server.address() as AddressInfo).address, '127.0.0.1');
      const [sealed] = await codec.encode([plain('hello')]);
      const body = JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
            ),
            data: Buffer.from(sealed!.data!).toString('base64'),
          },
        ],
      });
      const post = (origin: string) =>
        fetch(`http://127.0.0.1:${port}/decode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin },
          body,
        });
      const ok = await post(uiOrigin);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), uiOrigin);
      const decoded = (await ok.json()) as { payloads: Array<{ data: string }> };
      assert.equal(Buffer.from(decoded.payloads[0]!.data, 'base64').toString(), '{"description":"hello"}');

      const evil = await post('http://evil.example');
      assert.equal(evil.status, 403);
      assert.equal(evil.headers.get('access-control-allow-origin'), null);
      const preflight = await fetch(`http://127.0.0.1:${port}/decode`, {
        method: 'OPTIONS',
        headers: { origin: uiOrigin },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);
    } finally {
      server.close();
    }
  });
});

describe('payload key configuration', () => {
  it('refuses malformed keys at start-up and points the UI at the codec server when keys are set', () => {
    assert.throws(
      () => loadConfig({ MESHLOOP_PAYLOAD_KEYS: 'k1:short' }),
      /MESHLOOP_PAYLOAD_KEYS: must be id:base64key/,
    );
    const config = loadConfig({ MESHLOOP_PAYLOAD_KEYS: key('k1'), MESHLOOP_CODEC_SERVER_PORT: '18234' });
    assert.equal(config.stack.temporal.uiCodecEndpoint, 'http://127.0.0.1:18234');
    assert.equal(config.codec.uiOrigin, 'http://127.0.0.1:8233');
    assert.equal(loadConfig({}).stack.temporal.uiCodecEndpoint, undefined);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, parsePayloadKeys } from '../../src/codec/payload-codec';
import { createCodecServer, listenLocally } from '../../src/codec/server';
import { codecServerToken, loadConfig } from '../../src/config';
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
    const token = codecServerToken(key('k1'));
    const server = createCodecServer({
      codec,
      uiOrigin,
      token,
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
        fetch(`http://127.0.0.1:${port}/${token}/decode`, {
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
      const preflight = await fetch(`http://127.0.0.1:${port}/${token}/decode`, {
        method: 'OPTIONS',
        headers: { origin: uiOrigin },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);
    } finally {
      server.close();
    }
  });

  it('decodes and encodes only with its token, in the path or as a bearer header, whatever the Origin', async () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(key('k1')));
    const uiOrigin = 'http://127.0.0.1:8233';
    const token = codecServerToken(key('k1'));
    const server = createCodecServer({
      codec,
      uiOrigin,
      token,
      log: createLogger('test', 'error', () => undefined),
    });
    const port = await listenLocally(server, 0);
    const [sealed] = await codec.encode([plain('secret text')]);
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
    const encodeBody = JSON.stringify({
      payloads: [{ metadata: {}, data: Buffer.from('x').toString('base64') }],
    });
    const call = async (route: string, headers: Record<string, string> = {}, payload = body) => {
      const reply = await fetch(`http://127.0.0.1:${port}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
      });
      return { status: reply.status, text: await reply.text() };
    };
    const other = codecServerToken(key('k2'));
    try {
      // Refused: no Origin and no token (the hole), a wrong token, a token of another key, a prefix
      // of the token, the token in a query string, a Basic header, and the same for /encode.
      for (const [route, headers] of [
        ['/decode', {}],
        ['/decode', { origin: uiOrigin }],
        [`/${other}/decode`, {}],
        [`/${token.slice(0, -1)}/decode`, {}],
        [`/${token}x/decode`, {}],
        [`/decode?token=${token}`, {}],
        ['/decode', { authorization: `Basic ${token}` }],
        ['/decode', { authorization: `Bearer ${other}` }],
        ['/decode', { authorization: `Bearer${token}` }],
        [`/${other}/decode`, { authorization: `Bearer ${token}` }],
        ['/encode', {}],
        [`/${other}/encode`, { origin: uiOrigin }],
      ] as Array<[string, Record<string, string>]>) {
        const reply = await call(route, headers);
        assert.equal(reply.status, 401, `${route} ${JSON.stringify(headers)} answered ${reply.status}`);
        assert.doesNotMatch(reply.text, /secret text|c2VjcmV0/);
      }
      // Accepted: the token as the UI sends it (path) and as a bearer header; decode and encode.
      for (const [route, headers] of [
        [`/${token}/decode`, {}],
        ['/decode', { authorization: `Bearer ${token}` }],
        [`/${token}/decode`, { origin: uiOrigin }],
      ] as Array<[string, Record<string, string>]>) {
        const reply = await call(route, headers);
        assert.equal(reply.status, 200, `${route} ${JSON.stringify(headers)}`);
        const decoded = JSON.parse(reply.text) as { payloads: Array<{ data: string }> };
        assert.match(Buffer.from(decoded.payloads[0]!.data, 'base64').toString(), /secret text/);
      }
      assert.equal((await call(`/${token}/encode`, {}, encodeBody)).status, 200);
      assert.equal((await call('/encode', { authorization: `Bearer ${token}` }, encodeBody)).status, 200);
      // A bad origin stays refused even with the token.
      assert.equal((await call(`/${token}/decode`, { origin: 'http://evil.example' })).status, 403);
    } finally {
      server.close();
    }
  });

  it('will not start without a real token', () => {
    const codec = new AesGcmPayloadCodec(parsePayloadKeys(key('k1')));
    assert.throws(
      () =>
        createCodecServer({
          codec,
          uiOrigin: 'x',
          token: '',
          log: createLogger('test', 'error', () => undefined),
        }),
      /token/,
    );
  });
});

describe('payload key configuration', () => {
  it('refuses malformed keys at start-up and points the UI at the codec server when keys are set', () => {
    assert.throws(
      () => loadConfig({ MESHLOOP_PAYLOAD_KEYS: 'k1:short' }),
      /MESHLOOP_PAYLOAD_KEYS: must be id:base64key/,
    );
    const keys = key('k1');
    const config = loadConfig({ MESHLOOP_PAYLOAD_KEYS: keys, MESHLOOP_CODEC_SERVER_PORT: '18234' });
    assert.equal(config.stack.temporal.uiCodecEndpoint, `http://127.0.0.1:18234/${codecServerToken(keys)}`);
    assert.equal(config.codec.serverToken, codecServerToken(keys));
    assert.notEqual(codecServerToken(key('k1')), codecServerToken(key('k2')));
    assert.equal(config.codec.uiOrigin, 'http://127.0.0.1:8233');
    assert.equal(loadConfig({}).stack.temporal.uiCodecEndpoint, undefined);
  });
});

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { slackRequestGuard } from '../../src/slack/app';

const SECRET = 'guard-secret-0123456789';
const sign = (ts: string, body: string, secret = SECRET) =>
  'v0=' + createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');

describe('the Slack request guard (verify first, then remember for the whole window)', () => {
  let clock = 1_800_000_000_000;
  let server: Server;
  let port = 0;
  const passed: string[] = [];

  before(async () => {
    const web = express();
    web.use(
      '/slack',
      slackRequestGuard(SECRET, () => clock),
    );
    web.post('/slack/events', (req: Request, res: Response) => {
      passed.push(String((req as Request & { rawBody?: Buffer }).rawBody));
      res.status(200).send('ok');
    });
    server = web.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  const post = async (ts: string, signature: string, body: string) =>
    (
      await fetch(`http://127.0.0.1:${port}/slack/events`, {
        method: 'POST',
        headers: { 'x-slack-request-timestamp': ts, 'x-slack-signature': signature },
        body,
      })
    ).status;

  it('passes a verified request on once, with its raw body, and refuses it until its timestamp is stale', async () => {
    const now = Math.floor(clock / 1000);
    // A request stamped 290 s ahead (a sender's clock skew): acceptable for nearly ten minutes.
    for (const ts of [now, now - 290, now + 290].map(String)) {
      const body = `payload=${ts}`;
      assert.equal(await post(ts, sign(ts, body), body), 200);
      assert.equal(passed.at(-1), body);
      for (const step of [0, 60_000, 240_000, 330_000, 580_000]) {
        clock += step;
        const fresh = Math.abs(clock / 1000 - Number(ts)) <= 300;
        assert.equal(await post(ts, sign(ts, body), body), 401, `replay after ${step} ms (fresh: ${fresh})`);
        clock -= step;
      }
    }
  });

  it('refuses stale, future, unsigned and wrongly signed requests without remembering them', async () => {
    const now = Math.floor(clock / 1000);
    const body = 'payload=x';
    for (const [ts, signature] of [
      [String(now - 301), sign(String(now - 301), body)],
      [String(now + 301), sign(String(now + 301), body)],
      [String(now), ''],
      [String(now), sign(String(now), body, 'other-secret')],
      ['', sign('', body)],
    ]) {
      assert.equal(await post(ts!, signature!, body), 401, `${ts} ${signature}`);
    }
    // The wrongly signed one was not remembered: the genuine one with the same timestamp passes.
    assert.equal(await post(String(now), sign(String(now), body), body), 200);
  });

  it('keeps a verified request refused after 20,050 junk requests (junk is never stored)', async () => {
    const guard = slackRequestGuard(SECRET, () => clock);
    const ts = String(Math.floor(clock / 1000));
    const run = (signature: string, body: string) =>
      new Promise<number>((resolve) => {
        const req = Object.assign(Readable.from([Buffer.from(body)]), {
          header: (name: string) =>
            name === 'x-slack-signature' ? signature : name === 'x-slack-request-timestamp' ? ts : undefined,
        }) as unknown as Request;
        const res = { status: (code: number) => ({ send: () => resolve(code) }) } as unknown as Response;
        guard(req, res, (() => resolve(200)) as NextFunction);
      });
    const genuine = sign(ts, 'payload=genuine');
    assert.equal(await run(genuine, 'payload=genuine'), 200);
    for (let i = 0; i < 20_050; i += 1) {
      assert.equal(await run(`v0=${i.toString(16).padStart(64, '0')}`, `payload=junk${i}`), 401);
    }
    assert.equal(await run(genuine, 'payload=genuine'), 401);
  });
});

import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../log';

/**
 * The codec server the Temporal UI calls to show encrypted payloads (and to encode what a person
 * types into a signal): `POST /decode` and `POST /encode` with `{ payloads: [...] }`, payloads in
 * Temporal's JSON form (base64 metadata values and data). Bound to 127.0.0.1; browsers may call it
 * from the UI's origin only; and every call carries the token (config's `codecServerToken`): the UI
 * as the first path segment of its codec endpoint (`/<token>/decode`), other clients as
 * `Authorization: Bearer <token>`. Without it, 401, whatever the origin (a process that sends no
 * Origin header is not a browser we can vouch for).
 */

const MAX_BODY_BYTES = 4 * 1024 * 1024;

type JsonPayload = { metadata?: Record<string, string>; data?: string };

function fromJson(payload: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(payload.metadata ?? {})) {
    if (typeof value === 'string') metadata[name] = Buffer.from(value, 'base64');
  }
  return {
    metadata,
    ...(typeof payload.data === 'string' ? { data: Buffer.from(payload.data, 'base64') } : {}),
  };
}

function toJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload.metadata ?? {})) {
    if (value) metadata[name] = Buffer.from(value).toString('base64');
  }
  return { metadata, ...(payload.data ? { data: Buffer.from(payload.data).toString('base64') } : {}) };
}

function sameSecret(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The action of an authorised request (token in the path or a bearer header), else why not. */
export function codecRoute(
  url: string | undefined,
  authorization: string | undefined,
  token: string,
): 'decode' | 'encode' | 'unauthorised' | 'unknown' {
  const pathname = (url ?? '').split('?')[0] ?? '';
  const match = /^(?:\/([^/]+))?\/(decode|encode)$/.exec(pathname);
  if (!match) return 'unknown';
  const bearer = /^Bearer ([^\s]+)$/.exec(authorization ?? '')?.[1];
  const fromPath = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
  const ok = fromPath !== undefined ? sameSecret(fromPath, token) : sameSecret(bearer, token);
  return ok ? (match[2] as 'decode' | 'encode') : 'unauthorised';
}

export function createCodecServer(options: {
  codec: PayloadCodec;
  uiOrigin: string;
  /** The credential every /decode and /encode must carry. */
  token: string;
  log: Logger;
}): http.Server {
  const { codec, uiOrigin, log, token } = options;
  if (token.length < 16) throw new Error('the codec server needs a token of 16 characters or more');
  return http.createServer((request, response) => {
    const origin = request.headers.origin;
    const send = (status: number, body?: unknown) => {
      if (origin === uiOrigin) {
        response.setHeader('Access-Control-Allow-Origin', uiOrigin);
        response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
        response.setHeader('Vary', 'Origin');
      }
      response.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      response.end(body === undefined ? undefined : JSON.stringify(body));
    };
    // A browser page from any other origin gets nothing (and no CORS grant).
    if (origin !== undefined && origin !== uiOrigin) return send(403, { error: 'origin not allowed' });
    if (request.method === 'OPTIONS') return send(204);
    const route = codecRoute(request.url, request.headers.authorization, token);
    if (route === 'unauthorised') {
      return send(401, {
        error: 'the codec server needs its token (see docs/trust-model.md, "Encrypted history")',
      });
    }
    if (request.method !== 'POST' || route === 'unknown')
      return send(404, { error: 'POST /encode or /decode' });
    const action = route;
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        send(413, { error: 'body too large' });
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: unknown };
          if (!Array.isArray(body.payloads)) return send(400, { error: 'expected { payloads: [...] }' });
          const payloads = (body.payloads as JsonPayload[]).map(fromJson);
          const result = action === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
          send(200, { payloads: result.map(toJson) });
        } catch (error) {
          log.warn('codec request refused', {
            action,
            error: error instanceof Error ? error.message : 'error',
          });
          send(400, { error: 'cannot decode this request' });
        }
      })();
    });
  });
}

/** Listen on 127.0.0.1 only: the codec server holds the keys. */
export async function listenLocally(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

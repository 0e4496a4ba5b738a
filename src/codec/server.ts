import http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../log';

/**
 * The codec server the Temporal UI calls to show encrypted payloads (and to encode what a person
 * types into a signal): `POST /decode` and `POST /encode` with `{ payloads: [...] }`, payloads in
 * Temporal's JSON form (base64 metadata values and data). Bound to 127.0.0.1; browsers may call it
 * from the UI's origin only.
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

export function createCodecServer(options: {
  codec: PayloadCodec;
  uiOrigin: string;
  log: Logger;
}): http.Server {
  const { codec, uiOrigin, log } = options;
  return http.createServer((request, response) => {
    const origin = request.headers.origin;
    const send = (status: number, body?: unknown) => {
      if (origin === uiOrigin) {
        response.setHeader('Access-Control-Allow-Origin', uiOrigin);
        response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace');
        response.setHeader('Vary', 'Origin');
      }
      response.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      response.end(body === undefined ? undefined : JSON.stringify(body));
    };
    // A browser page from any other origin gets nothing (and no CORS grant).
    if (origin !== undefined && origin !== uiOrigin) return send(403, { error: 'origin not allowed' });
    if (request.method === 'OPTIONS') return send(204);
    const action = request.url === '/decode' ? 'decode' : request.url === '/encode' ? 'encode' : undefined;
    if (request.method !== 'POST' || !action) return send(404, { error: 'POST /encode or /decode' });
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

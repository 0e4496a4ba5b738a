import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Slack Web API on 127.0.0.1, driven through the real `@slack/web-api` client: it keeps
 * channels, threads and message metadata as Slack does, and can answer 429, 500 or "lose" the
 * answer to a call that succeeded, so tests see what retries do.
 */

export type FakeMessage = {
  ts: string;
  channel: string;
  text: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  updates: number;
};

type Failure = 429 | 500 | 'lostAnswer';

export class FakeSlack {
  readonly messages: FakeMessage[] = [];
  readonly ephemerals: { channel: string; user: string; text: string }[] = [];
  readonly views: { trigger_id: string; view: Record<string, unknown> }[] = [];
  readonly calls: { method: string; status: number }[] = [];
  private readonly failures = new Map<string, Failure[]>();
  private server?: Server;
  private clock = 1_700_000_000;
  url = '';

  /** The next calls of `method` fail this way, one per call, in order. */
  failNext(method: string, ...failures: Failure[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...failures]);
  }

  callsOf(method: string): { method: string; status: number }[] {
    return this.calls.filter((call) => call.method === method);
  }

  topLevel(channel?: string): FakeMessage[] {
    return this.messages.filter((m) => !m.thread_ts && (channel === undefined || m.channel === channel));
  }

  replies(ts: string): FakeMessage[] {
    return this.messages.filter((m) => m.thread_ts === ts);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const args: Record<string, unknown> = {};
    if ((req.headers['content-type'] ?? '').includes('application/json'))
      Object.assign(args, JSON.parse(raw || '{}'));
    else for (const [key, value] of new URLSearchParams(raw)) args[key] = parseMaybeJson(value);

    const failure = this.failures.get(method)?.shift();
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.calls.push({ method, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (failure === 429) return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' });
    if (failure === 500) return send(500, { ok: false, error: 'internal_error' });
    const answer = this.answer(method, args);
    // A lost answer: Slack did the work, the caller never heard.
    if (failure === 'lostAnswer') return send(500, { ok: false, error: 'internal_error' });
    send(200, answer);
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T0001', user: 'meshloop' };
      case 'chat.postMessage': {
        const message: FakeMessage = {
          ts: `${(this.clock += 1)}.000100`,
          channel: text(args.channel),
          text: text(args.text),
          ...(Array.isArray(args.blocks) ? { blocks: args.blocks as unknown[] } : {}),
          ...(args.metadata ? { metadata: args.metadata as FakeMessage['metadata'] } : {}),
          ...(args.thread_ts ? { thread_ts: text(args.thread_ts) } : {}),
          updates: 0,
        };
        this.messages.push(message);
        return { ok: true, channel: message.channel, ts: message.ts };
      }
      case 'chat.update': {
        const message = this.messages.find((m) => m.channel === args.channel && m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.text = text(args.text);
        if (Array.isArray(args.blocks)) message.blocks = args.blocks as unknown[];
        message.updates += 1;
        return { ok: true, channel: message.channel, ts: message.ts };
      }
      case 'chat.postEphemeral':
        this.ephemerals.push({ channel: text(args.channel), user: text(args.user), text: text(args.text) });
        return { ok: true, message_ts: `${this.clock}.000200` };
      case 'conversations.history': {
        const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
        const messages = this.topLevel(text(args.channel))
          .slice()
          .reverse()
          .slice(0, Number(args.limit ?? 100))
          .map((m) => present(m, withMetadata));
        return { ok: true, messages, has_more: false };
      }
      case 'conversations.replies': {
        const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
        const parent = this.messages.find((m) => m.channel === args.channel && m.ts === args.ts);
        if (!parent) return { ok: false, error: 'thread_not_found' };
        return {
          ok: true,
          messages: [parent, ...this.replies(parent.ts)].map((m) => present(m, withMetadata)),
        };
      }
      case 'views.open':
        this.views.push({ trigger_id: text(args.trigger_id), view: args.view as Record<string, unknown> });
        return { ok: true, view: { id: `V${this.views.length}` } };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function present(message: FakeMessage, withMetadata: boolean): Record<string, unknown> {
  const { metadata, updates: _updates, ...rest } = message;
  return { type: 'message', ...rest, ...(withMetadata && metadata ? { metadata } : {}) };
}

function parseMaybeJson(value: string): unknown {
  if (!/^[[{]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

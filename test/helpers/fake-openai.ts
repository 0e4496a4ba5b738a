import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A scripted OpenAI-compatible server on 127.0.0.1, spoken to by the real `openai` client. Each
 * request to /v1/chat/completions takes the next scripted answer; when the script runs out the
 * request fails with HTTP 400 naming the problem, and `close()` throws, so a test that calls the
 * model more often than it meant to fails loudly.
 */
export type ScriptedAnswer =
  /** A completion whose message content is this JSON (or raw text when a string). */
  | { content: unknown }
  | { refusal: string }
  | { status: number; error: string }
  /** Answer only after this long (the client should time out first), then with `then`. */
  | { delayMs: number; then: ScriptedAnswer };

export type RecordedRequest = {
  model: string;
  messages: Array<{ role: string; content: string }>;
  authorization?: string;
  responseFormat?: unknown;
};

export class FakeOpenAi {
  readonly requests: RecordedRequest[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private readonly overruns: string[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private port = 0;

  static async start(): Promise<FakeOpenAi> {
    const fake = new FakeOpenAi();
    fake.server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  answer(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  get remaining(): number {
    return this.script.length;
  }

  /** Stops the server; throws if the script was overrun or (unless allowed) not used up. */
  async close(options: { allowUnused?: boolean } = {}): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.overruns.length > 0)
      throw new Error(`fake OpenAI ran out of answers: ${this.overruns.join('; ')}`);
    if (!options.allowUnused && this.script.length > 0) {
      throw new Error(`fake OpenAI: ${this.script.length} scripted answer(s) never asked for`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake OpenAI: no route ${req.method} ${req.url}` } }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      model: string;
      messages: RecordedRequest['messages'];
      response_format?: unknown;
    };
    this.requests.push({
      model: body.model,
      messages: body.messages,
      authorization: req.headers.authorization,
      responseFormat: body.response_format,
    });
    const next = this.script.shift();
    if (!next) {
      const problem = `request #${this.requests.length} has no scripted answer`;
      this.overruns.push(problem);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: `fake OpenAI: ${problem}`, type: 'invalid_request_error' } }),
      );
      return;
    }
    await this.respond(next, body.model, res);
  }

  private async respond(answer: ScriptedAnswer, model: string, res: ServerResponse): Promise<void> {
    if ('delayMs' in answer) {
      await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      if (res.destroyed || res.socket?.destroyed) return;
      return this.respond(answer.then, model, res);
    }
    if ('status' in answer) {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: answer.error, type: 'fake_error' } }));
      return;
    }
    const message =
      'refusal' in answer
        ? { role: 'assistant', content: null, refusal: answer.refusal }
        : {
            role: 'assistant',
            content: typeof answer.content === 'string' ? answer.content : JSON.stringify(answer.content),
            refusal: null,
          };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: `chatcmpl-fake-${this.requests.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
  }
}

import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { z } from 'zod';
import { LlmOutputInvalidError, MeshloopError, UpstreamUnavailableError } from '../../domain/errors';

/** An OpenAI-compatible endpoint. The key stays in here: it is never logged nor returned. */
export type LlmSettings = Readonly<{ apiKey: string; baseURL?: string; model: string; timeoutMs: number }>;

export type LlmMessage = ChatCompletionMessageParam;

/** Tokens one call used, as the API reported them (absent when it did not). */
export type LlmUsage = Readonly<{ promptTokens: number; completionTokens: number }>;

/** What one structured call gave back: the parsed answer, or the model's refusal. */
export type LlmAnswer<T> = (
  { kind: 'parsed'; value: T; raw: string } | { kind: 'refused'; refusal: string }
) & { usage?: LlmUsage };

export interface LlmClient {
  readonly model: string;
  /**
   * One chat completion with structured output validated by `schema`. Throws
   * LlmOutputInvalidError when the answer is not valid JSON for the schema (asking again may help),
   * UpstreamUnavailableError on timeouts, 408, 429 and 5xx (Temporal retries those), and a
   * non-retryable MeshloopError on other 4xx (a wrong key or model will not heal).
   */
  parse<T>(request: {
    messages: readonly LlmMessage[];
    schema: z.ZodType<T>;
    schemaName: string;
  }): Promise<LlmAnswer<T>>;
}

/** The real client, with retries off: Temporal owns retries. */
export function createLlmClient(settings: LlmSettings): LlmClient {
  const openai = new OpenAI({
    apiKey: settings.apiKey,
    ...(settings.baseURL ? { baseURL: settings.baseURL } : {}),
    maxRetries: 0,
    timeout: settings.timeoutMs,
  });
  return {
    model: settings.model,
    async parse<T>(request: { messages: readonly LlmMessage[]; schema: z.ZodType<T>; schemaName: string }) {
      let completion: {
        choices: Array<{ message: { refusal?: string | null; parsed?: unknown; content?: string | null } }>;
        usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
      };
      try {
        completion = await openai.chat.completions.parse({
          model: settings.model,
          messages: [...request.messages],
          response_format: zodResponseFormat(request.schema, request.schemaName),
        });
      } catch (error) {
        throw translateLlmError(error);
      }
      const message = completion.choices[0]?.message;
      if (!message) throw new LlmOutputInvalidError('the LLM answered without a message', ['no choices']);
      const usage = usageOf(completion.usage);
      if (message.refusal) return { kind: 'refused', refusal: message.refusal, ...usage };
      if (message.parsed === null || message.parsed === undefined) {
        throw new LlmOutputInvalidError('the LLM answered without content', ['empty content']);
      }
      return { kind: 'parsed', value: message.parsed as T, raw: message.content ?? '', ...usage };
    },
  };
}

/** The usage the API reported, as counts (bounded, never negative); nothing when it reported none. */
function usageOf(usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): {
  usage?: LlmUsage;
} {
  const count = (n: number | undefined) =>
    typeof n === 'number' && Number.isFinite(n) ? Math.min(Math.max(0, Math.trunc(n)), 10_000_000) : 0;
  if (!usage) return {};
  return {
    usage: { promptTokens: count(usage.prompt_tokens), completionTokens: count(usage.completion_tokens) },
  };
}

/** The one place OpenAI client errors become Meshloop errors (with the retry bit). */
export function translateLlmError(error: unknown): Error {
  if (error instanceof MeshloopError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new UpstreamUnavailableError('LLM', 'the request timed out', error);
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new UpstreamUnavailableError('LLM', `cannot connect (${error.message})`, error);
  }
  if (error instanceof OpenAI.APIError) {
    const status: number = typeof error.status === 'number' ? error.status : 0;
    if (status === 408 || status === 429 || status >= 500) {
      return new UpstreamUnavailableError('LLM', `HTTP ${status}: ${error.message}`, error);
    }
    return new MeshloopError(
      'LlmRequestRejected',
      `the LLM API refused the request: HTTP ${status}: ${error.message}`,
      false,
    );
  }
  // The SDK parses content itself: invalid JSON or a schema mismatch surfaces here.
  if (error instanceof SyntaxError || (error instanceof Error && error.name === 'ZodError')) {
    return new LlmOutputInvalidError('the LLM answer is not valid JSON for the schema', [
      error.message.slice(0, 500),
    ]);
  }
  return error instanceof Error ? error : new Error(String(error));
}

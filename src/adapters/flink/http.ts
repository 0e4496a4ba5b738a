import { explainServerTrace, FlinkRequestError } from './errors';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * A JSON request to one of Flink's REST endpoints. Failures become `FlinkRequestError`s carrying
 * Flink's message (its `errors` array) and whether a retry can help; the caller decides whether to
 * retry (in activities, Temporal does).
 */
export async function flinkRequest<T>(
  api: 'sql-gateway' | 'rest',
  method: HttpMethod,
  url: string,
  options: { body?: unknown; timeoutMs?: number; headers?: Readonly<Record<string, string>> } = {},
): Promise<T> {
  let response: Response;
  // Extra headers (config.flink.headers: a gateway behind a proxy) go on every request; they may carry
  // credentials, so they are never part of an error's message.
  const headers = {
    ...options.headers,
    ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
  try {
    response = await fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    const reason = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new FlinkRequestError(api, method, url, undefined, String(reason), { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    const { message, trace } = parseErrorBody(text);
    throw new FlinkRequestError(api, method, url, response.status, message, { serverTrace: trace });
  }
  if (text.trim() === '') return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new FlinkRequestError(
      api,
      method,
      url,
      response.status,
      `answer is not JSON: ${text.slice(0, 200)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Flink answers errors as `{"errors": ["Internal server error.", "<Exception on server side: ...>"]}`:
 * a summary, then (for server-side exceptions) the whole Java stack trace.
 */
export function parseErrorBody(text: string): { message: string; trace?: string } {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      const entries = body.errors.map(String);
      const trace = entries.find((entry) => entry.includes('\n\tat '));
      const summary = entries
        .filter((entry) => entry !== trace)
        .map((entry) => entry.split('\n')[0]!.trim())
        .join('; ');
      // The summary of a server-side exception is only "Internal server error."; its cause chain says why.
      const explained = trace ? explainServerTrace(trace).message : undefined;
      return { message: [summary, explained].filter(Boolean).join(': ') || 'error', trace };
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return { message: text.slice(0, 500) || 'empty answer' };
}

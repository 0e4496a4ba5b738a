import type { LlmClient } from '../adapters/llm/client';
import { LlmOutputInvalidError, UpstreamUnavailableError } from '../domain/errors';
import type { MeshloopMetrics } from './meshloop-metrics';

/** Why a call failed, as the `reason` label says it. */
function failureOf(error: unknown): 'unavailable' | 'invalid' | 'rejected' {
  if (error instanceof UpstreamUnavailableError) return 'unavailable';
  if (error instanceof LlmOutputInvalidError) return 'invalid';
  return 'rejected';
}

/**
 * The LLM client, counted: every call by purpose (the schema name asked for) and outcome, its
 * duration, the tokens the API reported, and failures by reason. Answers and errors pass unchanged.
 */
export function instrumentedLlm(llm: LlmClient, metrics: MeshloopMetrics): LlmClient {
  return {
    model: llm.model,
    async parse(request) {
      const started = performance.now();
      const took = () => (performance.now() - started) / 1000;
      try {
        const answer = await llm.parse(request);
        metrics.llmCall(request.schemaName, answer.kind, took(), answer.usage);
        return answer;
      } catch (error) {
        const reason = failureOf(error);
        metrics.llmCall(
          request.schemaName,
          reason === 'invalid' ? 'invalid' : 'failed',
          took(),
          undefined,
          reason,
        );
        throw error;
      }
    },
  };
}

import type {
  MetricCounter,
  MetricGauge,
  MetricHistogram,
  MetricMeter,
  MetricTags,
} from '@temporalio/common';
import { z } from 'zod';
import type { ProductMetricUpdate } from '../domain/product-metrics';

/**
 * Meshloop's own Prometheus metrics, made on the Temporal SDK's metric meter so they are served
 * beside the SDK's at the worker's one endpoint (127.0.0.1:<MESHLOOP_METRICS_PORT>/metrics). Names
 * follow Prometheus conventions: `meshloop_` prefix, `_total` counters, base units (`_seconds`).
 * Label values that come from data (product ids, agent names, LLM purposes) are bounded: the
 * first `maxProducts` (or `maxNames`) seen keep their own value, the rest share `_other`.
 * docs/metrics.md lists every metric.
 */

/** The value every label past its cap is aggregated under. */
export const OTHER_LABEL = '_other';
/** Product ids that keep a label of their own, per worker process. */
export const DEFAULT_MAX_PRODUCT_LABELS = 200;
/** Agent names and LLM purposes that keep a label of their own. */
export const DEFAULT_MAX_NAME_LABELS = 50;

/** Bounded label values: the first `cap` distinct values are kept, the rest become `_other`. */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly cap: number) {}

  of(value: string): string {
    const clean = value.slice(0, 200);
    if (this.seen.has(clean)) return clean;
    if (this.seen.size >= this.cap) return OTHER_LABEL;
    this.seen.add(clean);
    return clean;
  }
}

/** Durations from seconds to a week: proposals wait for people, cycles take seconds. */
const decisionBuckets = [1, 10, 60, 300, 900, 3600, 4 * 3600, 86_400, 3 * 86_400, 7 * 86_400];
const cycleBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const llmBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Bucket bounds by metric (as the SDK's histogramBucketOverrides wants them: name without unit). */
export const histogramBuckets: Readonly<Record<string, number[]>> = {
  meshloop_proposal_decision_duration: decisionBuckets,
  meshloop_analysis_cycle_duration: cycleBuckets,
  meshloop_llm_call_duration: llmBuckets,
};

export type LlmCallOutcome = 'parsed' | 'refused' | 'invalid' | 'failed';

const productUpdateSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('proposed'), productId: z.string().max(300), agent: z.string().max(300) }),
  z.object({
    kind: z.literal('decided'),
    productId: z.string().max(300),
    agent: z.string().max(300),
    outcome: z.enum(['approved', 'rejected', 'expired', 'dismissed']),
    seconds: z.number().min(0),
  }),
  z.object({ kind: z.literal('jobRestarted'), productId: z.string().max(300), recovered: z.boolean() }),
  z.object({
    kind: z.literal('recordsRejected'),
    productId: z.string().max(300),
    source: z.enum(['job', 'table']),
    count: z.number().int().min(0),
  }),
  z.object({
    kind: z.literal('table'),
    productId: z.string().max(300),
    rows: z.number().min(0),
    lastCommitSeconds: z.number().min(0).optional(),
  }),
]);
/** What a workflow's sink call may carry: at most 20 updates (one event makes a handful). */
export const productUpdatesSchema = z.array(productUpdateSchema).max(20);

export class MeshloopMetrics {
  private readonly products: BoundedLabel;
  private readonly names: BoundedLabel;
  private readonly proposals: MetricCounter;
  private readonly decisions: MetricCounter;
  private readonly decisionSeconds: MetricHistogram;
  private readonly productsByStage: MetricGauge;
  private readonly jobRestarts: MetricCounter;
  private readonly recordsRejected: MetricCounter;
  private readonly tableRows: MetricGauge;
  private readonly tableCommit: MetricGauge;
  private readonly cycles: MetricCounter;
  private readonly cycleSeconds: MetricHistogram;
  private readonly llmCalls: MetricCounter;
  private readonly llmSeconds: MetricHistogram;
  private readonly llmTokens: MetricCounter;
  private readonly llmFailures: MetricCounter;

  constructor(meter: MetricMeter, limits: { maxProducts?: number; maxNames?: number } = {}) {
    this.products = new BoundedLabel(limits.maxProducts ?? DEFAULT_MAX_PRODUCT_LABELS);
    this.names = new BoundedLabel(limits.maxNames ?? DEFAULT_MAX_NAME_LABELS);
    const counter = (name: string, help: string) => meter.createCounter(name, '', help);
    const seconds = (name: string, help: string) => meter.createHistogram(name, 'float', 'seconds', help);
    this.proposals = counter(
      'meshloop_proposals',
      'Products proposed, by proposing agent (`person`: a spec someone wrote)',
    );
    this.decisions = counter(
      'meshloop_proposal_decisions',
      'Proposals decided, by proposing agent and outcome (approved, rejected, expired, dismissed)',
    );
    this.decisionSeconds = seconds(
      'meshloop_proposal_decision_duration',
      'Time from a proposal (or amendment) to its decision, by outcome',
    );
    this.productsByStage = meter.createGauge(
      'meshloop_products',
      'int',
      '',
      'Products whose workflow runs, by stage (Temporal visibility, refreshed by the worker)',
    );
    this.jobRestarts = counter(
      'meshloop_job_restarts',
      "Automatic redeploys of a product's Flink job after a platform fault, by product and outcome",
    );
    this.recordsRejected = counter(
      'meshloop_records_rejected',
      "Records rejected by a product's Flink job (`job`) or its materialization (`table`, dead letters)",
    );
    this.tableRows = meter.createGauge(
      'meshloop_table_rows',
      'int',
      '',
      "Rows in the product's Iceberg table",
    );
    this.tableCommit = meter.createGauge(
      'meshloop_table_last_commit_timestamp_seconds',
      'float',
      '',
      "Unix time of the last commit to the product's Iceberg table (freshness: time() minus this)",
    );
    this.cycles = counter(
      'meshloop_analysis_cycles',
      'Analysis cycles run, by product and outcome (pass, breach, noData, failed)',
    );
    this.cycleSeconds = seconds(
      'meshloop_analysis_cycle_duration',
      'How long an analysis cycle took, by outcome',
    );
    this.llmCalls = counter(
      'meshloop_llm_calls',
      'LLM calls, by purpose (the structured answer asked for) and outcome',
    );
    this.llmSeconds = seconds('meshloop_llm_call_duration', 'How long an LLM call took, by purpose');
    this.llmTokens = counter('meshloop_llm_tokens', 'LLM tokens, by purpose and type (prompt, completion)');
    this.llmFailures = counter(
      'meshloop_llm_failures',
      'LLM calls that failed, by purpose and reason (unavailable, rejected, invalid)',
    );
  }

  private product(productId: string): string {
    return this.products.of(productId);
  }

  /** What a product's workflow reported (through the sink): parsed, then counted. */
  productUpdates(raw: unknown): { ok: true } | { ok: false; reason: string } {
    const parsed = productUpdatesSchema.safeParse(raw);
    if (!parsed.success) return { ok: false, reason: parsed.error.issues[0]?.message ?? 'invalid' };
    for (const update of parsed.data) this.apply(update);
    return { ok: true };
  }

  apply(update: ProductMetricUpdate): void {
    switch (update.kind) {
      case 'proposed':
        this.proposals.add(1, { agent: this.names.of(update.agent) });
        return;
      case 'decided':
        this.decisions.add(1, { agent: this.names.of(update.agent), outcome: update.outcome });
        this.decisionSeconds.record(update.seconds, { outcome: update.outcome });
        return;
      case 'jobRestarted':
        this.jobRestarts.add(1, {
          product: this.product(update.productId),
          outcome: update.recovered ? 'recovered' : 'failed',
        });
        return;
      case 'recordsRejected':
        this.recordsRejected.add(update.count, {
          product: this.product(update.productId),
          source: update.source,
        });
        return;
      case 'table': {
        const tags: MetricTags = { product: this.product(update.productId) };
        this.tableRows.set(update.rows, tags);
        if (update.lastCommitSeconds !== undefined) this.tableCommit.set(update.lastCommitSeconds, tags);
        return;
      }
    }
  }

  /** Products whose workflow runs in `stage`, as Temporal's visibility counts them. */
  productsInStage(stage: string, count: number): void {
    this.productsByStage.set(count, { stage });
  }

  analysisCycle(productId: string, outcome: string, seconds: number): void {
    this.cycles.add(1, { product: this.product(productId), outcome });
    this.cycleSeconds.record(seconds, { outcome });
  }

  llmCall(
    purpose: string,
    outcome: LlmCallOutcome,
    seconds: number,
    usage?: { promptTokens: number; completionTokens: number },
    failure?: string,
  ): void {
    const label = this.names.of(purpose);
    this.llmCalls.add(1, { purpose: label, outcome });
    this.llmSeconds.record(seconds, { purpose: label });
    if (usage) {
      this.llmTokens.add(usage.promptTokens, { purpose: label, type: 'prompt' });
      this.llmTokens.add(usage.completionTokens, { purpose: label, type: 'completion' });
    }
    if (failure) this.llmFailures.add(1, { purpose: label, reason: failure });
  }
}

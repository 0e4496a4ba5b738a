import type { Kafka } from 'kafkajs';
import type { SqlGatewayClient } from '../src/adapters/flink/sql-gateway';
import { readCatalog } from '../src/adapters/kafka/catalog';
import { CATALOG_TOPIC } from '../src/adapters/kafka/client';
import type { SampledMessage } from '../src/adapters/kafka/sampler';
import { sampleTopics } from '../src/adapters/kafka/sampler';
import type { LlmClient } from '../src/adapters/llm/client';
import type { ExistingProduct, InputFacts } from '../src/agents/critic';
import { critique } from '../src/agents/critic';
import { llmCritique } from '../src/agents/llm-critic';
import type { ValueSchemaLookup } from '../src/creation/avro-sql';
import { inputBindingsOf } from '../src/creation/inputs';
import { fingerprintOf } from '../src/creation/inputs-fingerprint';
import type { FlinkConnectors } from '../src/creation/job-sql';
import type { PreviewLimits } from '../src/creation/preview';
import { defaultPreviewLimits, previewProductSql } from '../src/creation/preview';
import type { CatalogView } from '../src/domain/catalog-view';
import type { InputBinding, ProductJobInput } from '../src/domain/creation';
import type { Critique, InputRate, ProposalPreview } from '../src/domain/critique';
import { boundedCritique } from '../src/domain/critique';
import { Stage } from '../src/domain/lifecycle';
import { ownValue } from '../src/domain/records';
import type { Logger } from '../src/log';
import { TopicProfiler } from '../src/profile';
import { loadMeshConfig } from '../src/specs/load';
import { upstreamLookupFor } from './creation-guard';

/**
 * The critic's activities: the preview (the proposal's SQL over a bounded sample, in Flink's batch
 * mode) and the review (measured figures gathered here, judged by src/agents/critic.ts, or by the
 * LLM critic with its figures checked against them). Both run after the SQL guard passed and
 * before any approver is asked.
 */

export type CriticSettings = Readonly<{
  /** `enforce`: a redundant or valueless proposal is dismissed; `advise`: the review is only recorded. */
  mode: 'enforce' | 'advise';
  /** The recent window input rates are measured over. Default 15 minutes. */
  rateWindowMs: number;
  /** Records profiled per input (key cardinalities, record sizes, late data). */
  sampleRecords: number;
  preview: PreviewLimits;
  /** Task slots a product's job takes (its parallelism). */
  parallelism: number;
}>;

export const defaultCriticSettings: CriticSettings = {
  mode: 'enforce',
  rateWindowMs: 15 * 60_000,
  sampleRecords: 2000,
  preview: defaultPreviewLimits,
  parallelism: 1,
};

export type CriticActivityDependencies = Readonly<{
  kafka: Kafka;
  gateway: SqlGatewayClient;
  connectors: FlinkConnectors;
  valueSchemas?: ValueSchemaLookup;
  meshFile: string;
  llm?: LlmClient;
  log: Logger;
  catalogTopic?: string;
  settings?: Partial<CriticSettings>;
}>;

/** Stages whose products count as existing (or proposed) for redundancy. */
const liveStages: ReadonlySet<string> = new Set<string>([
  Stage.awaitingApproval,
  Stage.changesRequested,
  Stage.provisioning,
  Stage.active,
  Stage.degraded,
  Stage.deprecated,
]);

export function createCriticActivities(deps: CriticActivityDependencies) {
  const log = deps.log.child('critic');
  const settings: CriticSettings = { ...defaultCriticSettings, ...deps.settings };
  const bindingsOf = async (input: ProductJobInput) => {
    const lookup = await upstreamLookupFor(input.spec, {
      kafka: deps.kafka,
      catalogTopic: deps.catalogTopic,
      log,
    });
    return inputBindingsOf(input.spec, lookup);
  };
  return {
    /** The proposal's SQL over a bounded sample of its inputs: the first rows, how many, how long. */
    async previewProposal(input: ProductJobInput): Promise<ProposalPreview> {
      const { bindings, problems } = await bindingsOf(input);
      if (settings.preview.recordsPerInput === 0)
        problems.push('the preview is off (MESHLOOP_PREVIEW_RECORDS=0)');
      if (problems.length > 0) {
        const at = new Date().toISOString();
        return {
          outcome: 'failed',
          columns: [],
          rows: [],
          rowCount: 0,
          capped: false,
          sampled: [],
          tookMs: 0,
          failure: problems.join('; '),
          at,
        };
      }
      const preview = await previewProductSql(
        {
          kafka: deps.kafka,
          gateway: deps.gateway,
          connectors: deps.connectors,
          ...(deps.valueSchemas ? { valueSchemas: deps.valueSchemas } : {}),
          log,
        },
        {
          spec: input.spec,
          inputs: bindings,
          jobName: `meshloop-preview:${input.productId}:r${input.revision}`,
        },
        settings.preview,
      );
      log.info('proposal previewed', {
        productId: input.productId,
        revision: input.revision,
        outcome: preview.outcome,
        rows: preview.rowCount,
        tookMs: preview.tookMs,
      });
      return preview;
    },

    /** The critic's review: measured cost, redundancy, value against mesh.yaml's goals, risk. */
    async critiqueProposal(input: ProductJobInput & { preview?: ProposalPreview }): Promise<Critique> {
      const { bindings } = await bindingsOf(input);
      const [{ view }, mesh] = await Promise.all([
        readCatalog(deps.kafka, { topic: deps.catalogTopic ?? CATALOG_TOPIC, log }),
        loadMeshConfig(deps.meshFile),
      ]);
      const goals = ownValue(mesh.domains, input.spec.domain)?.businessGoals ?? [];
      const inputs = await measureInputs(deps.kafka, bindings, view, settings);
      const existing = existingProducts(view, input.productId);
      const facts = {
        productId: input.productId,
        spec: input.spec,
        inputs,
        existing,
        goals,
        ...(input.preview ? { preview: input.preview } : {}),
        parallelism: settings.parallelism,
        inputsFingerprint: fingerprintOf(bindings, view),
        now: new Date().toISOString(),
      };
      const rules = critique(facts);
      const judged = deps.llm ? await llmCritique({ llm: deps.llm, facts, rules, log }) : rules;
      // Advising only: the approvers see what the critic would have dismissed, and why.
      const review =
        settings.mode === 'advise' && judged.verdict === 'dismiss'
          ? {
              ...judged,
              verdict: 'propose' as const,
              reasons: judged.reasons.map((r) => `(advice, MESHLOOP_CRITIC=advise) ${r}`),
            }
          : judged;
      log.info('proposal reviewed', {
        productId: input.productId,
        revision: input.revision,
        verdict: review.verdict,
        by: review.by,
        reasons: review.reasons,
      });
      return boundedCritique(review);
    },
  };
}

/** The raw topics a product derives from, through the catalog's specs (cycles cut). */
export function upstreamTopicsOf(view: CatalogView, productId: string, seen = new Set<string>()): string[] {
  if (seen.has(productId)) return [];
  seen.add(productId);
  const spec = view.specOf(productId);
  if (!spec) return [];
  return [
    ...new Set(
      spec.inputs.flatMap((i) => ('topic' in i ? [i.topic] : upstreamTopicsOf(view, i.product, seen))),
    ),
  ].sort();
}

function existingProducts(view: CatalogView, self: string): ExistingProduct[] {
  return view
    .all()
    .filter((d) => d.productId !== self && liveStages.has(d.stage))
    .map((d) => ({
      productId: d.productId,
      stage: d.stage,
      upstreamTopics: upstreamTopicsOf(view, d.productId),
      columns: d.spec.schema.fields.map((f) => f.name),
      keys: d.spec.schema.key,
    }));
}

async function measureInputs(
  kafka: Kafka,
  bindings: readonly InputBinding[],
  view: CatalogView,
  settings: CriticSettings,
): Promise<InputFacts[]> {
  const topics = [...new Set(bindings.map((b) => b.topic))];
  const samples = new Map<string, SampledMessage[]>(topics.map((t) => [t, []]));
  const summaries = await sampleTopics(
    kafka,
    topics,
    { maxMessages: settings.sampleRecords, maxBytes: 16 * 1024 * 1024, deadlineMs: 30_000 },
    { onMessages: (topic, messages) => void samples.get(topic)?.push(...messages) },
  );
  const now = Date.now();
  const facts: InputFacts[] = [];
  for (const binding of bindings) {
    const messages = samples.get(binding.topic) ?? [];
    // A sample that read the whole topic knows its first record: a topic younger than the window.
    const whole = summaries.find((t) => t.topic === binding.topic)?.stoppedBy === 'complete';
    const rate = await measureRate(kafka, binding, { messages, whole }, now, settings.rateWindowMs);
    const profiler = new TopicProfiler(binding.topic);
    profiler.addAll(messages);
    const profile = profiler.finish();
    const declared = new Map(binding.fields.map((f) => [f.name, f]));
    const fields: InputFacts['fields'] = Object.fromEntries(
      profile.fields
        .filter((f) => declared.has(f.name))
        .map((f) => [
          f.name,
          {
            distinct: f.distinct,
            present: f.present,
            personal: f.pii.length > 0 || declared.get(f.name)?.personal !== undefined,
          },
        ]),
    );
    facts.push({
      alias: binding.alias,
      topic: binding.topic,
      ...(binding.productId ? { productId: binding.productId } : {}),
      upstreamTopics: binding.productId ? upstreamTopicsOf(view, binding.productId) : [binding.topic],
      rate,
      sampleRecords: profile.parsed,
      fields,
      ...lateness(binding, messages),
    });
  }
  return facts;
}

/**
 * Records and bytes per second over the recent window: Kafka's offsets for the window's start
 * time give the records, the sample's record sizes the bytes. A topic younger than the window is
 * measured over its own age (its first record's broker time, when the sample read the whole topic).
 */
async function measureRate(
  kafka: Kafka,
  binding: InputBinding,
  sample: { messages: readonly SampledMessage[]; whole: boolean },
  now: number,
  windowMs: number,
): Promise<InputRate> {
  const { messages } = sample;
  const admin = kafka.admin();
  await admin.connect();
  let inWindow = 0;
  try {
    const since = now - windowMs;
    const [ends, starts] = await Promise.all([
      admin.fetchTopicOffsets(binding.topic),
      admin.fetchTopicOffsetsByTimestamp(binding.topic, since),
    ]);
    const startOf = new Map(starts.map((s) => [s.partition, Number(s.offset)]));
    for (const end of ends) {
      const start = startOf.get(end.partition);
      const high = Number(end.high);
      inWindow += start === undefined || start < 0 ? 0 : Math.max(0, high - start);
    }
  } finally {
    await admin.disconnect();
  }
  const bytes = messages.reduce((s, m) => s + (m.key?.length ?? 0) + (m.value?.length ?? 0), 0);
  const bytesPerRecord = messages.length > 0 ? bytes / messages.length : 0;
  const oldest =
    sample.whole && messages.length > 0
      ? messages.reduce((min, m) => Math.min(min, m.timestamp), now)
      : now - windowMs;
  const seconds = Math.max(1, (now - Math.max(oldest, now - windowMs)) / 1000);
  const recordsPerSecond = inWindow / seconds;
  return {
    input: binding.alias,
    topic: binding.topic,
    recordsPerSecond: Number(recordsPerSecond.toFixed(4)),
    bytesPerSecond: Number((recordsPerSecond * bytesPerRecord).toFixed(2)),
    windowSeconds: Math.round(seconds),
    bytesPerRecord: Math.round(bytesPerRecord),
  };
}

/** How late records arrive: broker time minus event time, 95th percentile, seconds. */
function lateness(binding: InputBinding, messages: readonly SampledMessage[]): { lateSeconds?: number } {
  const field = binding.eventTimeField;
  if (!field || binding.format === 'avro') return {};
  const lags: number[] = [];
  for (const message of messages.slice(-1000)) {
    try {
      const value = JSON.parse(message.value?.toString('utf8') ?? 'null') as Record<string, unknown> | null;
      const raw = value?.[field];
      const time = typeof raw === 'number' ? raw : typeof raw === 'string' ? Date.parse(raw) : NaN;
      if (Number.isFinite(time)) lags.push((message.timestamp - time) / 1000);
    } catch {
      // not JSON: the job rejects it; no lateness from it
    }
  }
  if (lags.length === 0) return {};
  lags.sort((a, b) => a - b);
  return { lateSeconds: Math.max(0, lags[Math.floor(lags.length * 0.95)] ?? 0) };
}

import path from 'node:path';
import type { SampledMessage, SampleStopReason } from '../adapters/kafka/sampler';
import { RegistryDecoder } from '../profile/registry-decoder';
import { looksLikeWireFormat } from '../adapters/schema-registry/wire';
import { listDataTopics, sampleTopics } from '../adapters/kafka/sampler';
import type { ProfileRequest, ProfilesRef, TopicSummary } from '../domain/discovery';
import type { RegisteredSchema, TopicProfile } from '../profile';
import { applyRegisteredSchema, TopicProfiler } from '../profile';
import { ThreadedProfiler } from '../profile/threaded';
import type { DiscoveryDependencies } from './run';
import { readJson, runDirOf, writeJsonAtomically } from './run';

const summarise = (profile: TopicProfile, stoppedBy: SampleStopReason): TopicSummary => ({
  topic: profile.topic,
  records: profile.records,
  parsed: profile.parsed,
  unparseable: profile.unparseable.total,
  mistyped: (profile.mistyped ?? []).reduce((sum, m) => sum + m.records, 0),
  duplicates: profile.duplicates ?? 0,
  stoppedBy,
  piiFields: new Set(profile.pii.map((s) => s.field)).size,
});

/**
 * Sample every data topic within the limits, profile each, store the profiles as a file. Keyed by
 * the run: a retry finds the profiles it stored earlier.
 */
export async function profileTopics(
  deps: DiscoveryDependencies,
  request: ProfileRequest,
): Promise<ProfilesRef> {
  const { kafka, log } = deps;
  const heartbeat = deps.heartbeat ?? (() => undefined);
  const file = path.join(runDirOf(deps.dataDir, request.runKey), 'profiles.json');
  const earlier = await readJson<{ profiles: TopicProfile[]; summaries: TopicSummary[] }>(file);
  if (earlier) {
    log.info('profiles of this run already stored', { runKey: request.runKey, file });
    return { runKey: request.runKey, file, topics: earlier.summaries };
  }
  const topics = (await listDataTopics(kafka)).filter(
    (topic) =>
      (!request.topics || request.topics.includes(topic)) &&
      (!request.topicPrefix || topic.startsWith(request.topicPrefix)),
  );
  // Parsing and statistics run on a profiling thread beside the consumer (see bench/profile).
  const profiler = new ThreadedProfiler();
  // Registry records (Confluent wire format) are decoded here, before the thread: the client is async
  // and caches schemas. It is made on the first such record, so JSON-only meshes never load it.
  let decoder: Promise<RegistryDecoder> | undefined;
  const decoded = async (topic: string, messages: readonly SampledMessage[]) => {
    if (!deps.schemaRegistry || (!decoder && !messages.some((m) => looksLikeWireFormat(m.value))))
      return messages;
    decoder ??= RegistryDecoder.create(deps.schemaRegistry, { log });
    return (await decoder).decode(topic, messages);
  };
  const began = Date.now();
  let samples;
  try {
    samples = await sampleTopics(
      kafka,
      topics,
      {
        maxMessages: request.maxMessages,
        maxBytes: request.maxBytes,
        deadlineMs: request.sampleDeadlineMs,
      },
      {
        onMessages: async (topic, messages) => profiler.add(topic, await decoded(topic, messages)),
        onProgress: (progress) => {
          const messages = progress.reduce((sum, p) => sum + p.messages, 0);
          heartbeat({ phase: 'sampling', topics: progress.length, messages });
        },
      },
    );
  } catch (error) {
    await profiler.close();
    throw error;
  }
  heartbeat({ phase: 'profiling' });
  const registered = decoder ? (await decoder).registered() : new Map<string, RegisteredSchema>();
  const byTopic = new Map(
    (await profiler.finish()).map((p) => {
      const schema = registered.get(p.topic);
      return [p.topic, schema ? applyRegisteredSchema(p, schema) : p];
    }),
  );
  // A topic without messages still gets its (empty) profile.
  const profiles = topics.map((topic) => byTopic.get(topic) ?? new TopicProfiler(topic).finish());
  const stopped = new Map(samples.map((s) => [s.topic, s.stoppedBy]));
  const summaries = profiles.map((p) => summarise(p, stopped.get(p.topic) ?? 'complete'));
  await writeJsonAtomically(file, { runKey: request.runKey, profiles, summaries });
  log.info('topics profiled', {
    runKey: request.runKey,
    topics: profiles.length,
    records: summaries.reduce((sum, s) => sum + s.records, 0),
    unparseable: summaries.reduce((sum, s) => sum + s.unparseable, 0),
    ms: Date.now() - began,
    file,
  });
  return { runKey: request.runKey, file, topics: summaries };
}

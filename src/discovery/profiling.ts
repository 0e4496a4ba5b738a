import path from 'node:path';
import type { SampleStopReason } from '../adapters/kafka/sampler';
import { listDataTopics, sampleTopics } from '../adapters/kafka/sampler';
import type { ProfileRequest, ProfilesRef, TopicSummary } from '../domain/discovery';
import type { TopicProfile } from '../profile';
import { TopicProfiler } from '../profile';
import { ThreadedProfiler } from '../profile/threaded';
import type { DiscoveryDependencies } from './run';
import { readJson, runDirOf, writeJsonAtomically } from './run';

const summarise = (profile: TopicProfile, stoppedBy: SampleStopReason): TopicSummary => ({
  topic: profile.topic,
  records: profile.records,
  parsed: profile.parsed,
  unparseable: profile.unparseable.total,
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
        onMessages: (topic, messages) => profiler.add(topic, messages),
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
  const byTopic = new Map((await profiler.finish()).map((p) => [p.topic, p]));
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

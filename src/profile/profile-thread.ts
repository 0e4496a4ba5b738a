import { parentPort, workerData } from 'node:worker_threads';
import type { ProfilerOptions } from './profiler';
import { TopicProfiler } from './profiler';
import type { PackedBatch } from './threaded';
import { DECODE_FAILURES, META_SLOTS } from './threaded';

/**
 * The profiling thread: unpacks batches (one transferred buffer each, no copies) and profiles
 * them, so JSON parsing runs beside the consumer instead of after it.
 */
const options = (workerData as { options: ProfilerOptions }).options;
const profilers = new Map<string, TopicProfiler>();
const port = parentPort;

port?.on('message', (message: { type: 'batch'; batch: PackedBatch } | { type: 'finish' }) => {
  if (message.type === 'finish') {
    port.postMessage({ type: 'profiles', profiles: [...profilers.values()].map((p) => p.finish()) });
    return;
  }
  const { topic, bytes, meta, offsets } = message.batch;
  let profiler = profilers.get(topic);
  if (!profiler) profilers.set(topic, (profiler = new TopicProfiler(topic, options)));
  const data = Buffer.from(bytes);
  for (let i = 0; i < offsets.length; i++) {
    const at = i * META_SLOTS;
    const failure = DECODE_FAILURES[meta[at + 6] as number];
    const valueStart = meta[at] as number;
    const valueLength = meta[at + 1] as number;
    const keyStart = meta[at + 2] as number;
    const keyLength = meta[at + 3] as number;
    profiler.add({
      partition: meta[at + 4] as number,
      timestamp: meta[at + 5] as number,
      offset: offsets[i] as string,
      value: valueLength < 0 ? null : data.subarray(valueStart, valueStart + valueLength),
      key: keyLength < 0 ? null : data.subarray(keyStart, keyStart + keyLength),
      ...(failure ? { decodeFailure: failure } : {}),
    });
  }
  port.postMessage({ type: 'done' });
});

import { parentPort, workerData } from 'node:worker_threads';
import type { DecodeFailure, ProfiledMessage, ProfilerOptions } from './profiler';
import { TopicProfiler } from './profiler';
import type { PackedBatch } from './threaded';
import { DECODE_FAILURES, META_SLOTS } from './threaded';

/**
 * One message of a packed batch, as the profiler reads it: one object per batch, moved from
 * message to message (the profiler keeps no message); the offset becomes a string only when asked
 * for (the profiler asks for the first few unparseable records' only).
 */
class PackedRecord implements ProfiledMessage {
  partition = 0;
  timestamp = 0;
  value: Buffer | null = null;
  key: Buffer | null = null;
  decodeFailure: DecodeFailure | undefined;
  private index = 0;
  constructor(
    private readonly data: Buffer,
    private readonly meta: Float64Array,
  ) {}

  get offset(): string {
    return String(this.meta[this.index * META_SLOTS + 7]);
  }

  at(i: number): this {
    const meta = this.meta;
    const at = i * META_SLOTS;
    this.index = i;
    const valueStart = meta[at] as number;
    const valueLength = meta[at + 1] as number;
    const keyStart = meta[at + 2] as number;
    const keyLength = meta[at + 3] as number;
    this.value = valueLength < 0 ? null : this.data.subarray(valueStart, valueStart + valueLength);
    this.key = keyLength < 0 ? null : this.data.subarray(keyStart, keyStart + keyLength);
    this.partition = meta[at + 4] as number;
    this.timestamp = meta[at + 5] as number;
    this.decodeFailure = DECODE_FAILURES[meta[at + 6] as number];
    return this;
  }
}

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
  const { topic, bytes, meta, count } = message.batch;
  let profiler = profilers.get(topic);
  if (!profiler) profilers.set(topic, (profiler = new TopicProfiler(topic, options)));
  const record = new PackedRecord(Buffer.from(bytes), meta);
  for (let i = 0; i < count; i++) profiler.add(record.at(i));
  port.postMessage({ type: 'done' });
});

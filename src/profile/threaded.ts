import { Worker } from 'node:worker_threads';
import type { DecodeFailure, ProfiledMessage, ProfilerOptions } from './profiler';
import { TopicProfiler } from './profiler';
import type { TopicProfile } from './types';

/** A batch as it crosses to the profiling thread: all bytes in one transferable buffer, all else in numbers. */
export type PackedBatch = {
  topic: string;
  bytes: ArrayBuffer;
  /**
   * Per message: value start, value length (-1: null), key start, key length, partition, timestamp,
   * decode failure (an index into DECODE_FAILURES, -1: none), offset (exact below 2^53, which no
   * partition reaches). No strings: a batch is two transfers, nothing to clone.
   */
  meta: Float64Array;
  count: number;
};

export const META_SLOTS = 8;
export const DECODE_FAILURES: readonly DecodeFailure[] = ['unknownSchema', 'undecodable'];

export function packBatch(topic: string, messages: readonly ProfiledMessage[]): PackedBatch {
  let size = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as ProfiledMessage;
    size += (m.value?.length ?? 0) + (m.key?.length ?? 0);
  }
  const bytes = new Uint8Array(size);
  const meta = new Float64Array(messages.length * META_SLOTS);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as ProfiledMessage;
    const base = i * META_SLOTS;
    meta[base] = at;
    if (m.value) {
      bytes.set(m.value, at);
      at += m.value.length;
    }
    meta[base + 1] = m.value ? m.value.length : -1;
    meta[base + 2] = at;
    if (m.key) {
      bytes.set(m.key, at);
      at += m.key.length;
    }
    meta[base + 3] = m.key ? m.key.length : -1;
    meta[base + 4] = m.partition;
    meta[base + 5] = m.timestamp;
    meta[base + 6] = m.decodeFailure ? DECODE_FAILURES.indexOf(m.decodeFailure) : -1;
    meta[base + 7] = Number(m.offset);
  }
  return { topic, bytes: bytes.buffer, meta, count: messages.length };
}

/**
 * Profiles on a worker thread, so parsing and statistics run beside the Kafka consumer rather than
 * after it on the same thread. Batches are packed into one buffer each and transferred; at most
 * `maxInFlight` batches wait, and `add` resolves when there is room (backpressure for the
 * consumer). Falls back to profiling on the calling thread when no thread can be started.
 */
export class ThreadedProfiler {
  private readonly worker: Worker | undefined;
  private readonly local = new Map<string, TopicProfiler>();
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  private failure: Error | undefined;
  private finished: ((profiles: TopicProfile[]) => void) | undefined;

  constructor(
    private readonly options: ProfilerOptions = {},
    private readonly maxInFlight = 16,
  ) {
    try {
      // The thread runs what this module runs: compiled JavaScript from dist/, or TypeScript through tsx
      // (resolved here: the thread's own require resolves from the working directory).
      const entry = require.resolve('./profile-thread');
      const tsx = entry.endsWith('.ts')
        ? `require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register(); `
        : '';
      this.worker = new Worker(`${tsx}require(${JSON.stringify(entry)});`, {
        eval: true,
        workerData: { options },
      });
      this.worker.on(
        'message',
        (message: { type: 'done' } | { type: 'profiles'; profiles: TopicProfile[] }) => {
          if (message.type === 'profiles') {
            this.finished?.(message.profiles);
            return;
          }
          this.inFlight--;
          this.waiting.shift()?.();
        },
      );
      this.worker.on('error', (error) => {
        this.failure = error;
        for (const wake of this.waiting.splice(0)) wake();
      });
    } catch {
      this.worker = undefined;
    }
  }

  /** How long the profiling thread has been busy (not waiting for batches), in ms: for bench/profile. */
  busyMs(): number {
    return this.finalBusyMs ?? this.worker?.performance.eventLoopUtilization().active ?? 0;
  }
  private finalBusyMs: number | undefined;

  get threaded(): boolean {
    return this.worker !== undefined;
  }

  private rethrow(): void {
    if (this.failure) throw this.failure;
  }

  async add(topic: string, messages: readonly ProfiledMessage[]): Promise<void> {
    this.rethrow();
    if (!this.worker) {
      let profiler = this.local.get(topic);
      if (!profiler) this.local.set(topic, (profiler = new TopicProfiler(topic, this.options)));
      profiler.addAll(messages);
      return;
    }
    if (messages.length === 0) return;
    const batch = packBatch(topic, messages);
    this.inFlight++;
    this.worker.postMessage({ type: 'batch', batch }, [batch.bytes, batch.meta.buffer as ArrayBuffer]);
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.rethrow();
  }

  /** Every topic's profile (topics that got no messages are absent); stops the thread. */
  async finish(): Promise<TopicProfile[]> {
    if (!this.worker) return [...this.local.values()].map((p) => p.finish());
    const worker = this.worker;
    try {
      return await new Promise<TopicProfile[]>((resolve, reject) => {
        this.finished = resolve;
        worker.once('error', reject);
        worker.postMessage({ type: 'finish' });
      });
    } finally {
      this.finalBusyMs = worker.performance.eventLoopUtilization().active;
      await worker.terminate();
    }
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/**
 * Small sketches for profiling: a 32-bit hash and a HyperLogLog distinct counter. Exact counting
 * (a set of hashes) is used until a cap, HyperLogLog beyond it, so small samples get exact figures
 * and large ones stay in bounded memory.
 */

/** murmur3's finaliser: spreads the bits of a weak hash (FNV) so HyperLogLog sees them uniform. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over a byte range (an Arrow Utf8 value is a range of its values buffer). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/**
 * A 53-bit id of a record's bytes: two 32-bit murmur3-style hashes (different constants) taken four
 * bytes at a time in one pass, no allocation. Equal records get equal ids, different ones collide
 * about once in 2^53 pairs. Ids live only while one profile is made (redeliveries are recognised
 * by them), so the function may change between versions.
 */
export function recordIdOf(value: Uint8Array, key: Uint8Array | null): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  const n = value.length;
  const whole = n & ~3;
  for (let i = 0; i < whole; i += 4) {
    const w =
      (value[i] as number) |
      ((value[i + 1] as number) << 8) |
      ((value[i + 2] as number) << 16) |
      ((value[i + 3] as number) << 24);
    a = mixA(a, w);
    b = mixB(b, w);
  }
  let tail = 0;
  for (let i = n - 1; i >= whole; i--) tail = (tail << 8) | (value[i] as number);
  a = mixA(a, tail ^ n);
  b = mixB(b, tail ^ n);
  if (key !== null) {
    for (let i = 0; i < key.length; i++) b = mixB(b, key[i] as number);
    b = mixB(b, key.length ^ 0x5bd1e995);
  }
  return fmix32(a) * 0x200000 + (fmix32(b) >>> 11);
}

function mixA(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixB(h: number, w: number): number {
  let k = Math.imul(w, 0x85ebca77);
  k = Math.imul((k << 17) | (k >>> 15), 0xc2b2ae3d);
  h ^= k;
  h = (h << 11) | (h >>> 21);
  return (Math.imul(h, 9) + 0x27d4eb2f) | 0;
}

/** FNV-1a over a string's UTF-16 code units: no encoding, no allocation. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

const float = new Float64Array(1);
const words = new Uint32Array(float.buffer);
export function hashNumber(value: number): number {
  float[0] = value;
  return fmix32(Math.imul((words[0] as number) ^ 0x9e3779b9, 0x01000193) ^ (words[1] as number));
}

export class HyperLogLog {
  readonly registers: Uint8Array;
  private readonly p: number;
  constructor(p = 14) {
    this.p = p;
    this.registers = new Uint8Array(1 << p);
  }

  add(hash: number): void {
    const index = hash >>> (32 - this.p);
    const rest = (hash << this.p) >>> 0;
    const rank = rest === 0 ? 32 - this.p + 1 : Math.clz32(rest) + 1;
    if (rank > (this.registers[index] as number)) this.registers[index] = rank;
  }

  estimate(): number {
    const m = this.registers.length;
    let sum = 0;
    let zeros = 0;
    for (const r of this.registers) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / sum;
    // Linear counting is far more accurate while many registers are still empty.
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(raw);
  }
}

/**
 * A set of 32-bit hashes with open addressing in a typed array: no per-entry objects, a few ns per
 * add. Grows by doubling; 0 marks an empty slot, so the hash 0 is remembered by a flag.
 */
class HashSet32 {
  private slots = new Uint32Array(1024);
  private hasZero = false;
  size = 0;

  add(hash: number): void {
    if (hash === 0) {
      if (!this.hasZero) {
        this.hasZero = true;
        this.size++;
      }
      return;
    }
    const mask = this.slots.length - 1;
    let i = hash & mask;
    for (;;) {
      const slot = this.slots[i] as number;
      if (slot === hash) return;
      if (slot === 0) break;
      i = (i + 1) & mask;
    }
    this.slots[i] = hash;
    this.size++;
    if (this.size * 2 > this.slots.length) this.grow();
  }

  *values(): Generator<number> {
    if (this.hasZero) yield 0;
    for (const slot of this.slots) if (slot !== 0) yield slot;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (const hash of old) {
      if (hash === 0) continue;
      let i = hash & mask;
      while (this.slots[i] !== 0) i = (i + 1) & mask;
      this.slots[i] = hash;
    }
  }
}

/**
 * A set of record ids (integers below 2^53, as `recordIdOf` makes them) with open addressing in a
 * Float64Array: no entry objects and no boxed numbers (a Set of a million such ids costs about
 * 60 MB and a lot of garbage collection; this costs 16 MB). Grows by doubling; 0 is a flag.
 */
export class IdSet {
  private slots = new Float64Array(1024);
  private hasZero = false;
  size = 0;

  has(id: number): boolean {
    if (id === 0) return this.hasZero;
    const slots = this.slots;
    const mask = slots.length - 1;
    // The low bits of an id are its second hash's: well spread.
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === id) return true;
      if (slot === 0) return false;
    }
  }

  /** Add `id`; false when it was there already (one probe for both questions). */
  add(id: number): boolean {
    if (id === 0) {
      if (this.hasZero) return false;
      this.hasZero = true;
      this.size++;
      return true;
    }
    if (!this.place(this.slots, id)) return false;
    this.size++;
    if (this.size * 2 > this.slots.length) {
      const old = this.slots;
      this.slots = new Float64Array(old.length * 2);
      for (const slot of old) if (slot !== 0) this.place(this.slots, slot);
    }
    return true;
  }

  private place(slots: Float64Array, id: number): boolean {
    const mask = slots.length - 1;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const slot = slots[i] as number;
      if (slot === id) return false;
      if (slot === 0) {
        slots[i] = id;
        return true;
      }
    }
  }
}

/** Exact distinct count (of hashes) up to `cap` values, then a HyperLogLog estimate. */
export class DistinctCounter {
  private exact: HashSet32 | undefined = new HashSet32();
  private readonly hll = new HyperLogLog();
  constructor(private readonly cap = 20_000) {}

  add(hash: number): void {
    if (!this.exact) {
      this.hll.add(hash);
      return;
    }
    this.exact.add(hash);
    if (this.exact.size > this.cap) {
      // Past the cap: the sketch takes over, seeded with every hash seen so far.
      for (const seen of this.exact.values()) this.hll.add(seen);
      this.exact = undefined;
    }
  }

  get isExact(): boolean {
    return this.exact !== undefined;
  }

  count(): number {
    return this.exact ? this.exact.size : this.hll.estimate();
  }
}

/**
 * The k smallest distinct 32-bit hashes of a field's values (a KMV / bottom-k sketch): bounded
 * memory (k × 4 bytes), and a uniform sample of the distinct values that lines up across topics,
 * because the same value has the same hash everywhere. Below its threshold a sketch holds every
 * hash of the field, so two sketches compared under the smaller threshold tell how many of one
 * field's values the other holds (see `keyOverlap`). Adding costs one comparison once full.
 */
export class BottomKSketch {
  private readonly hashes: Uint32Array;
  private size = 0;
  // The largest hash kept once full: anything not below it cannot enter.
  private threshold = 0xffffffff;

  constructor(readonly k = KEY_SKETCH_SIZE) {
    this.hashes = new Uint32Array(k);
  }

  add(hash: number): void {
    if (this.size === this.k && hash >= this.threshold) return;
    let low = 0;
    let high = this.size;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.hashes[mid] as number) < hash) low = mid + 1;
      else high = mid;
    }
    if (low < this.size && this.hashes[low] === hash) return;
    const end = this.size === this.k ? this.k - 1 : this.size++;
    this.hashes.copyWithin(low + 1, low, end);
    this.hashes[low] = hash;
    if (this.size === this.k) this.threshold = this.hashes[this.k - 1] as number;
  }

  /** Plain data for a profile (JSON, structured clone): the hashes in ascending order. */
  toJSON(): KeySketch {
    return { k: this.k, hashes: Array.from(this.hashes.subarray(0, this.size)) };
  }
}

/** Hashes kept per key-like field: 512 × 4 bytes while profiling, about 5 KB in a profile's JSON. */
export const KEY_SKETCH_SIZE = 512;

/** A bottom-k sketch as a profile carries it. `hashes.length < k` means it holds every value. */
export type KeySketch = { k: number; hashes: number[] };

export type KeyOverlap = {
  /** Share of `child`'s distinct values that `parent` also holds, estimated (0–1). */
  containment: number;
  /** Share of `parent`'s distinct values that `child` holds, estimated (0–1). */
  coverage: number;
  /** How many hashes each estimate rests on (more is surer). */
  sampled: { child: number; parent: number };
  /** Both sketches hold every value: the figures are exact (up to 32-bit hash collisions). */
  exact: boolean;
};

const isComplete = (sketch: KeySketch) => sketch.hashes.length < sketch.k;
const thresholdOf = (sketch: KeySketch) =>
  isComplete(sketch) ? Infinity : (sketch.hashes[sketch.hashes.length - 1] ?? Infinity);

/**
 * How far two fields' value sets overlap, from their sketches. Below the lower of the two
 * thresholds both sketches are complete, so every hash there is a uniformly sampled value whose
 * membership in the other set is known exactly. A small set inside a much larger one leaves few
 * hashes under the larger one's threshold: `sampled` says how much the figures can be trusted.
 */
export function keyOverlap(child: KeySketch, parent: KeySketch): KeyOverlap {
  const limit = Math.min(thresholdOf(child), thresholdOf(parent));
  let i = 0;
  let j = 0;
  let childCount = 0;
  let parentCount = 0;
  let common = 0;
  const a = child.hashes;
  const b = parent.hashes;
  while (i < a.length || j < b.length) {
    const x = i < a.length ? (a[i] as number) : Infinity;
    const y = j < b.length ? (b[j] as number) : Infinity;
    const next = Math.min(x, y);
    if (next > limit) break;
    if (x === next) {
      childCount++;
      i++;
    }
    if (y === next) {
      parentCount++;
      j++;
    }
    if (x === next && y === next) common++;
  }
  return {
    containment: childCount === 0 ? 0 : common / childCount,
    coverage: parentCount === 0 ? 0 : common / parentCount,
    sampled: { child: childCount, parent: parentCount },
    exact: isComplete(child) && isComplete(parent),
  };
}

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

/**
 * Seeded pseudo-random numbers for the benchmark dataset. Never `Math.random`: every byte of the
 * dataset must be reproducible from its seed, so a rerun measures the same tree.
 */

/** Derives a well-mixed 32-bit seed from a base seed and any number of integers (splitmix32 rounds). */
export function deriveSeed(base: number, ...parts: number[]): number {
  let h = base >>> 0;
  for (const part of [...parts, parts.length]) {
    h = (h + 0x9e3779b9 + (part >>> 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/**
 * Marsaglia's xorshift128 on 32-bit words: fast enough in JavaScript to fill buffers at several
 * hundred MB/s, and its output does not compress (which is what the "incompressible" files need).
 */
export class Prng {
  #x: number;
  #y: number;
  #z: number;
  #w: number;

  /** Creates a generator from a 32-bit seed; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.#x = deriveSeed(seed, 1) | 1;
    this.#y = deriveSeed(seed, 2);
    this.#z = deriveSeed(seed, 3);
    this.#w = deriveSeed(seed, 4);
  }

  /** The next unsigned 32-bit integer. */
  nextU32(): number {
    const t = this.#x ^ (this.#x << 11);
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = (this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.#w;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** `length` pseudo-random bytes in a fresh Buffer. */
  bytes(length: number): Buffer {
    const words = new Uint32Array(Math.ceil(length / 4));
    let x = this.#x;
    let y = this.#y;
    let z = this.#z;
    let w = this.#w;
    for (let i = 0; i < words.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      words[i] = w;
    }
    this.#x = x;
    this.#y = y;
    this.#z = z;
    this.#w = w;
    return Buffer.from(words.buffer, 0, length);
  }
}

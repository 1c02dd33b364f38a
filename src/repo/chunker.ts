/**
 * Content-defined chunking, FastCDC style (Xia et al., 2016) with normalized chunking
 * (level 2) and cut-point skipping. Boundaries depend only on content, so an insert
 * near the start of a file moves only the chunks around it and the rest dedup.
 *
 * The rolling "gear" hash is 32 bits: `h = (h << 1) + GEAR[byte]`; each byte falls
 * out of the hash after 32 steps, so a boundary depends on the last 32 bytes. The
 * gear table is fixed (derived from a constant seed) and part of the repository
 * format: changing it changes where chunks are cut (dedup across the change is lost,
 * stored data stays readable).
 */

import { GearScanner } from "./gear-scan.js";

/** Chunk size parameters in bytes. `avgSize` must be a power of two. */
export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

/** Defaults for files and dumps: 512 KiB / 1 MiB / 8 MiB, as restic uses. */
export const DEFAULT_CHUNKER_PARAMS: Readonly<ChunkerParams> = Object.freeze({
  minSize: 512 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 8 * 1024 * 1024,
});

export const GEAR = buildGearTable(0x9e3779b9);
let scanner: GearScanner | undefined;

/** splitmix32 from a fixed seed: deterministic across versions and platforms. */
function buildGearTable(seed: number): Int32Array {
  const table = new Int32Array(256);
  let state = seed >>> 0;
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    table[i] = (z ^ (z >>> 16)) | 0;
  }
  return table;
}

/** A mask of `bits` one-bits taken from the top of the word, where the hash has seen the most bytes. */
function topBitsMask(bits: number): number {
  const b = Math.max(1, Math.min(31, bits));
  return ((0xffffffff << (32 - b)) >>> 0) | 0;
}

/** Validates params and derives the two normalized-chunking masks. */
export function chunkerMasks(params: ChunkerParams): { small: number; large: number } {
  const { minSize, avgSize, maxSize } = params;
  if (!(minSize > 0 && minSize < avgSize && avgSize < maxSize) || (avgSize & (avgSize - 1)) !== 0) {
    throw new Error(
      `invalid chunker parameters ${JSON.stringify(params)}: need 0 < min < avg < max, avg a power of two`,
    );
  }
  const bits = Math.log2(avgSize);
  // Harder to cut before the average size, easier after: sizes cluster around avgSize.
  return { small: topBitsMask(bits + 2), large: topBitsMask(bits - 2) };
}

/**
 * A push-based chunker: feed bytes with `push`, which returns the chunks completed so
 * far; `finish` returns the last, short chunk. Memory is bounded by `maxSize` plus the
 * buffers pushed. Every byte appears in exactly one chunk, in order, and the cut points
 * do not depend on how the input was split into buffers.
 */
export class Chunker {
  readonly #small: number;
  readonly #large: number;
  readonly #params: ChunkerParams;
  #pieces: Buffer[] = [];
  #pos = 0; // bytes in the current chunk so far
  #hash = 0;

  constructor(params: ChunkerParams = DEFAULT_CHUNKER_PARAMS) {
    const masks = chunkerMasks(params);
    this.#small = masks.small;
    this.#large = masks.large;
    this.#params = { ...params };
  }

  /** Adds bytes; returns the chunks they completed (possibly none). */
  push(input: Uint8Array): Buffer[] {
    const buf = Buffer.isBuffer(input)
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const out: Buffer[] = [];
    let start = 0;
    this.#scan(buf, (cut) => {
      this.#pieces.push(buf.subarray(start, cut));
      out.push(this.#take());
      start = cut;
    });
    if (start < buf.length) this.#pieces.push(buf.subarray(start));
    return out;
  }

  /**
   * Like push, but keeps no bytes: returns the sizes of the chunks completed, for a caller
   * that holds the stream's bytes itself. Use either push or pushSizes on one chunker.
   */
  pushSizes(input: Uint8Array): number[] {
    const sizes: number[] = [];
    this.#scan(input, (_cut, size) => sizes.push(size));
    return sizes;
  }

  /** Ends a pushSizes input: the size of the final, short chunk (0 when none is pending). */
  finishSize(): number {
    const size = this.#pos;
    this.#pos = 0;
    this.#hash = 0;
    return size;
  }

  /** Finds the cut points in `buf`, calling `onCut` with each one's offset in buf and its chunk's size. */
  #scan(buf: Uint8Array, onCut: (cut: number, size: number) => void): void {
    const { minSize, avgSize, maxSize } = this.#params;
    const small = this.#small;
    const large = this.#large;
    let offset = 0;
    while (offset < buf.length) {
      if (this.#pos < minSize) {
        const skip = Math.min(minSize - this.#pos, buf.length - offset);
        this.#pos += skip;
        offset += skip;
        continue;
      }
      // Scan until a cut point, the max size, or the end of this buffer.
      const limit = Math.min(buf.length, offset + (maxSize - this.#pos));
      const normalEnd = Math.min(limit, offset + Math.max(0, avgSize - this.#pos));
      const scan = (scanner ??= new GearScanner(GEAR));
      let cut = scan.scan(buf, offset, normalEnd, this.#hash, small);
      if (cut < 0) cut = scan.scan(buf, normalEnd, limit, scan.hash, large);
      const h = scan.hash;
      if (cut < 0 && this.#pos + (limit - offset) >= maxSize) cut = limit;
      if (cut < 0) {
        this.#pos += limit - offset;
        offset = limit;
        this.#hash = h;
        continue;
      }
      const size = this.#pos + (cut - offset);
      this.#pos = 0;
      this.#hash = 0;
      onCut(cut, size);
      offset = cut;
    }
  }

  /** Ends the input; returns the final chunk, or undefined when no bytes are pending. */
  finish(): Buffer | undefined {
    return this.#pieces.length > 0 ? this.#take() : undefined;
  }

  #take(): Buffer {
    const chunk = this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces);
    this.#pieces = [];
    this.#pos = 0;
    this.#hash = 0;
    return chunk;
  }
}

/** Splits a byte stream into content-defined chunks (see Chunker). */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
): AsyncGenerator<Buffer> {
  const chunker = new Chunker(params);
  for await (const input of source) yield* chunker.push(input);
  const last = chunker.finish();
  if (last) yield last;
}

import type { FrameEncoding, PackIndex } from "./pack-format.js";

/** A frame, as a reader needs it. */
export interface FrameRef {
  pack: string;
  offset: number;
  length: number;
  encoding: FrameEncoding;
  /** The dictionary chunk of a `zstd-ref` frame. */
  ref?: string;
}

/** Where a packed chunk's plain bytes are: a slice of its frame's decoded bytes. */
export interface ChunkLocation {
  frame: FrameRef;
  start: number;
  size: number;
}

/** A SHA-256 chunk id is held as eight 32-bit words. */
const WORDS = 8;
const ENCODINGS: readonly FrameEncoding[] = ["raw", "zstd", "zstd-ref"];

/**
 * Every packed chunk's location in typed arrays: about 60–80 bytes a chunk, where a Map of
 * hex ids to location objects took about 430 (16.7 MB for the 2 GB benchmark tree, and it
 * grew with the repository). Chunks are kept in the order their packs were added,
 * duplicates included, so each pack's index can be given back whole for prune; an open
 * addressing table over the id's first word (already uniform: it is a hash) finds the
 * first copy of each id.
 */
export class ChunkTable {
  // Per chunk, in the order added.
  #ids = new Int32Array(WORDS * 1024);
  #starts = new Uint32Array(1024);
  #sizes = new Uint32Array(1024);
  #frameOf = new Int32Array(1024);
  #count = 0;
  // Per frame: its chunks are [first[f], first[f + 1]).
  #frameFirst = new Int32Array(256);
  #framePack = new Int32Array(256);
  #frameOffset = new Float64Array(256);
  #frameLength = new Float64Array(256);
  #frameEncoding = new Uint8Array(256);
  readonly #frameRefs = new Map<number, string>();
  #frames = 0;
  // Per pack: its frames are [firstFrame[p], firstFrame[p + 1]).
  readonly #packIds: string[] = [];
  readonly #packFirstFrame: number[] = [];
  /** Chunk number + 1 of the first copy of each id; 0 is an empty slot. */
  #slots = new Int32Array(2048);
  #unique = 0;
  readonly #key = new Int32Array(WORDS);
  readonly #keyBytes = Buffer.from(this.#key.buffer);

  /** Distinct chunk ids. */
  get size(): number {
    return this.#unique;
  }

  /** Adds a pack's frames and chunks; returns the pack's number for `packIndex`. */
  addPack(index: PackIndex): number {
    const packNo = this.#packIds.length;
    this.#packIds.push(index.pack);
    this.#packFirstFrame.push(this.#frames);
    for (const frame of index.frames) {
      const f = this.#addFrame(packNo, frame.offset, frame.length, frame.encoding);
      if (frame.ref !== undefined) this.#frameRefs.set(f, frame.ref);
      let start = 0;
      for (const [id, size] of frame.chunks) {
        this.#addChunk(id, f, start, size);
        start += size;
      }
    }
    return packNo;
  }

  has(id: string): boolean {
    return this.#find(id) >= 0;
  }

  get(id: string): ChunkLocation | undefined {
    const chunk = this.#find(id);
    return chunk < 0 ? undefined : this.#location(chunk);
  }

  /** Each distinct id with its first location, in the order added. */
  *[Symbol.iterator](): IterableIterator<[string, ChunkLocation]> {
    for (let chunk = 0; chunk < this.#count; chunk += 1) {
      if (this.#lookup(this.#ids, chunk * WORDS) !== chunk) continue; // a later copy
      yield [this.#hex(chunk), this.#location(chunk)];
    }
  }

  /** A pack's index as it was added: its frames, each with all its chunks. */
  packIndex(packNo: number): PackIndex {
    const pack = this.#packIds[packNo];
    if (pack === undefined) throw new Error(`internal: no pack number ${packNo}`);
    const endFrame = this.#packFirstFrame[packNo + 1] ?? this.#frames;
    const frames: PackIndex["frames"] = [];
    for (let f = this.#packFirstFrame[packNo]!; f < endFrame; f += 1) {
      const end = f + 1 < this.#frames ? this.#frameFirst[f + 1]! : this.#count;
      const chunks: [string, number][] = [];
      for (let chunk = this.#frameFirst[f]!; chunk < end; chunk += 1) {
        chunks.push([this.#hex(chunk), this.#sizes[chunk]!]);
      }
      const { offset, length, encoding } = this.#frameFields(f);
      const ref = this.#frameRefs.get(f);
      frames.push({ offset, length, encoding, ...(ref !== undefined ? { ref } : {}), chunks });
    }
    return { version: 1, pack, frames };
  }

  #frameFields(f: number): Omit<FrameRef, "ref"> {
    return {
      pack: this.#packIds[this.#framePack[f]!]!,
      offset: this.#frameOffset[f]!,
      length: this.#frameLength[f]!,
      encoding: ENCODINGS[this.#frameEncoding[f]!]!,
    };
  }

  #location(chunk: number): ChunkLocation {
    const f = this.#frameOf[chunk]!;
    const { pack, offset, length, encoding } = this.#frameFields(f);
    const ref = this.#frameRefs.get(f);
    return {
      frame: { pack, offset, length, encoding, ...(ref !== undefined ? { ref } : {}) },
      start: this.#starts[chunk]!,
      size: this.#sizes[chunk]!,
    };
  }

  #hex(chunk: number): string {
    return Buffer.from(this.#ids.buffer, chunk * WORDS * 4, WORDS * 4).toString("hex");
  }

  #addFrame(packNo: number, offset: number, length: number, encoding: FrameEncoding): number {
    const f = this.#frames;
    if (f === this.#frameFirst.length) {
      const capacity = f * 2;
      this.#frameFirst = grow(this.#frameFirst, capacity);
      this.#framePack = grow(this.#framePack, capacity);
      this.#frameOffset = grow(this.#frameOffset, capacity);
      this.#frameLength = grow(this.#frameLength, capacity);
      this.#frameEncoding = grow(this.#frameEncoding, capacity);
    }
    this.#frameFirst[f] = this.#count;
    this.#framePack[f] = packNo;
    this.#frameOffset[f] = offset;
    this.#frameLength[f] = length;
    this.#frameEncoding[f] = ENCODINGS.indexOf(encoding);
    this.#frames += 1;
    return f;
  }

  #addChunk(id: string, frame: number, start: number, size: number): void {
    if (!this.#parse(id)) throw new Error(`internal: "${id}" is not a chunk id`);
    const chunk = this.#count;
    if (chunk === this.#sizes.length) {
      const capacity = chunk * 2;
      this.#ids = grow(this.#ids, capacity * WORDS);
      this.#starts = grow(this.#starts, capacity);
      this.#sizes = grow(this.#sizes, capacity);
      this.#frameOf = grow(this.#frameOf, capacity);
    }
    this.#ids.set(this.#key, chunk * WORDS);
    this.#starts[chunk] = start;
    this.#sizes[chunk] = size;
    this.#frameOf[chunk] = frame;
    this.#count += 1;
    const slot = this.#slotOf(this.#key, 0);
    if (this.#slots[slot] !== 0) return; // a second copy: found through the first
    this.#slots[slot] = chunk + 1;
    this.#unique += 1;
    // Kept at most half full, so a probe for an absent id ends after a slot or two.
    if (this.#unique * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
  }

  /** Chunk number of the first copy of `id`, or -1. */
  #find(id: string): number {
    return this.#parse(id) ? this.#lookup(this.#key, 0) : -1;
  }

  /** Puts a hex id's bytes into #key; false when it is not 64 hex digits. */
  #parse(id: string): boolean {
    return id.length === WORDS * 8 && this.#keyBytes.write(id, "hex") === WORDS * 4;
  }

  #lookup(words: Int32Array, at: number): number {
    const found = this.#slots[this.#slotOf(words, at)]!;
    return found - 1;
  }

  /** The slot holding the id at words[at..at+8], or the empty slot where it would go. */
  #slotOf(words: Int32Array, at: number): number {
    const mask = this.#slots.length - 1;
    const ids = this.#ids;
    for (let slot = words[at]! & mask; ; slot = (slot + 1) & mask) {
      const found = this.#slots[slot]!;
      if (found === 0) return slot;
      const base = (found - 1) * WORDS;
      let same = true;
      for (let w = 0; w < WORDS; w += 1) {
        if (ids[base + w] !== words[at + w]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
    }
  }

  #rehash(capacity: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(capacity);
    for (const found of old) {
      if (found !== 0) this.#slots[this.#slotOf(this.#ids, (found - 1) * WORDS)] = found;
    }
  }
}

function grow<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(array: T, capacity: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(capacity);
  bigger.set(array);
  return bigger;
}

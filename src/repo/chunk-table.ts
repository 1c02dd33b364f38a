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

/** Read back as 0x01020304 only in the byte order it was written in. */
const BYTE_ORDER = 0x01020304;
/** Room a table starts with (growth doubles it). */
const MIN_CHUNKS = 1024;
const MIN_FRAMES = 256;
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
  #ids = new Int32Array(WORDS * MIN_CHUNKS);
  #starts = new Uint32Array(MIN_CHUNKS);
  #sizes = new Uint32Array(MIN_CHUNKS);
  #frameOf = new Int32Array(MIN_CHUNKS);
  #count = 0;
  // Per frame: its chunks are [first[f], first[f + 1]).
  #frameFirst = new Int32Array(MIN_FRAMES);
  #framePack = new Int32Array(MIN_FRAMES);
  #frameOffset = new Float64Array(MIN_FRAMES);
  #frameLength = new Float64Array(MIN_FRAMES);
  #frameEncoding = new Uint8Array(MIN_FRAMES);
  #frameRefs = new Map<number, string>();
  #frames = 0;
  // Per pack: its frames are [firstFrame[p], firstFrame[p + 1]).
  #packIds: string[] = [];
  #packFirstFrame: number[] = [];
  /** Chunk number + 1 of the first copy of each id; 0 is an empty slot. */
  #slots = new Int32Array(2048);
  #unique = 0;
  readonly #key = new Int32Array(WORDS);
  readonly #keyBytes = Buffer.from(this.#key.buffer);

  /**
   * The table as bytes, for `fromBytes`: its arrays cut to what is used, in this machine's
   * byte order (which the header records), and the few strings (packs, refs) as JSON.
   * Loading it is a copy per array, where adding the packs again is work per chunk.
   */
  toBytes(): Buffer {
    const strings = Buffer.from(
      JSON.stringify({ packs: this.#packIds, firstFrames: this.#packFirstFrame, refs: [...this.#frameRefs] }),
    );
    const head = new Uint32Array([
      BYTE_ORDER,
      this.#count,
      this.#frames,
      this.#unique,
      this.#slots.length,
      strings.length,
    ]);
    const count = this.#count;
    const frames = this.#frames;
    const parts: ArrayBufferView[] = [
      head,
      strings,
      this.#ids.subarray(0, count * WORDS),
      this.#starts.subarray(0, count),
      this.#sizes.subarray(0, count),
      this.#frameOf.subarray(0, count),
      this.#frameFirst.subarray(0, frames),
      this.#framePack.subarray(0, frames),
      this.#frameOffset.subarray(0, frames),
      this.#frameLength.subarray(0, frames),
      this.#frameEncoding.subarray(0, frames),
      this.#slots,
    ];
    return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
  }

  /** A table from `toBytes`; throws a plain Error when the bytes are not one (or of another byte order). */
  static fromBytes(bytes: Buffer): ChunkTable {
    let at = 0;
    /** The next n elements, in an array of at least `capacity` (growth doubles it, so never 0). */
    const take = <T extends ArrayBufferView>(
      make: { new (n: number): T; readonly BYTES_PER_ELEMENT: number },
      n: number,
      capacity = n,
    ): T => {
      const bytesOf = n * make.BYTES_PER_ELEMENT;
      if (at + bytesOf > bytes.length) throw new Error("chunk table is cut short");
      const array = new make(Math.max(n, capacity));
      new Uint8Array(array.buffer).set(bytes.subarray(at, at + bytesOf));
      at += bytesOf;
      return array;
    };
    const [order, count, frames, unique, slots, stringsLength] = Array.from(take(Uint32Array, 6)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (order !== BYTE_ORDER) throw new Error("chunk table of another byte order");
    if (at + stringsLength > bytes.length) throw new Error("chunk table is cut short");
    const strings = JSON.parse(bytes.toString("utf8", at, at + stringsLength)) as {
      packs: string[];
      firstFrames: number[];
      refs: [number, string][];
    };
    at += stringsLength;
    const table = new ChunkTable();
    const chunkRoom = Math.max(count, MIN_CHUNKS);
    const frameRoom = Math.max(frames, MIN_FRAMES);
    table.#ids = take(Int32Array, count * WORDS, chunkRoom * WORDS);
    table.#starts = take(Uint32Array, count, chunkRoom);
    table.#sizes = take(Uint32Array, count, chunkRoom);
    table.#frameOf = take(Int32Array, count, chunkRoom);
    table.#frameFirst = take(Int32Array, frames, frameRoom);
    table.#framePack = take(Int32Array, frames, frameRoom);
    table.#frameOffset = take(Float64Array, frames, frameRoom);
    table.#frameLength = take(Float64Array, frames, frameRoom);
    table.#frameEncoding = take(Uint8Array, frames, frameRoom);
    table.#slots = take(Int32Array, slots);
    if (
      at !== bytes.length ||
      slots < 2 ||
      (slots & (slots - 1)) !== 0 ||
      unique * 2 > slots ||
      strings.packs.length !== strings.firstFrames.length
    ) {
      throw new Error("chunk table has the wrong length");
    }
    table.#count = count;
    table.#frames = frames;
    table.#unique = unique;
    table.#packIds = strings.packs;
    table.#packFirstFrame = strings.firstFrames;
    table.#frameRefs = new Map(strings.refs);
    return table;
  }

  /** Pack ids in the order added (a pack's number is its place here). */
  get packIds(): readonly string[] {
    return this.#packIds;
  }

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

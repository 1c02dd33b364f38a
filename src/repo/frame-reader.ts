import { closeSync, fstatSync, openSync } from "node:fs";
import path from "node:path";
// The low-level binding decodes into a given buffer (the Decompressor class allocates one per call).
import binding from "zstd-napi/binding.js";
import { chunkId, chunkKey } from "./chunk-id.js";
import { OBJECT_RAW, OBJECT_ZSTD } from "./frame-encoder.js";
import type { FrameRef } from "./pack-catalog.js";
import { packKey } from "./pack-format.js";
import { readFullySync } from "../util/fs.js";

const { DCtx, getFrameContentSize } = binding;

/** A frame as a worker thread reads it from `packs/<xx>/<pack>`. */
export type WireFrame = Omit<FrameRef, "ref">;

/** A `zstd-ref` frame's dictionary chunk and where it is. */
export interface WireRef {
  id: string;
  frame: WireFrame;
  start: number;
  size: number;
}

/** Damage to the repository (as opposed to a failure of this machine), named by chunk. */
export class FrameDamage extends Error {}

/** Open pack files and decoded dictionary frames kept: consecutive chunks share them. */
const KEEP = 8;

/**
 * Synchronous reads of a local repository's frames and chunk objects, for worker threads
 * (decode-worker.ts, the files restore's write-worker.ts): a few packs kept open, the
 * dictionaries of `zstd-ref` frames kept decoded, and zstd decoding into buffers the
 * caller provides, so a thread that decodes gigabytes allocates almost nothing.
 */
export class FrameReader {
  readonly #root: string;
  readonly #dctx = new DCtx();
  readonly #refDctx = new DCtx();
  readonly #packs = new Map<string, number>();
  readonly #dictionaries = new Map<string, Buffer>();
  #scratch = Buffer.allocUnsafe(1024 * 1024);

  constructor(root: string) {
    this.#root = root;
  }

  /** A frame decoded into `output(size)` (raw frames are read into it); `id` names the damage. */
  frame(frame: WireFrame, ref: WireRef | undefined, id: string, output: (size: number) => Buffer): Buffer {
    if (frame.encoding === "raw") return this.#read(frame, id, output(frame.length));
    if (this.#scratch.length < frame.length) this.#scratch = Buffer.allocUnsafe(frame.length);
    const body = this.#read(frame, id, this.#scratch.subarray(0, frame.length));
    try {
      const out = output(frameSize(body));
      let n: number;
      if (frame.encoding === "zstd") n = this.#dctx.decompress(out, body);
      else {
        this.#refDctx.loadDictionary(this.#dictionary(ref!));
        n = this.#refDctx.decompress(out, body);
      }
      return out.subarray(0, n);
    } catch (err) {
      throw new FrameDamage(
        `chunk ${id} is damaged: frame at byte ${frame.offset} of pack ${frame.pack}: ${(err as Error).message}`,
      );
    }
  }

  /**
   * The wanted chunks ([id, start, size]) of a decoded frame, each checked against its id;
   * a mismatch throws the damage to name (see damaged()).
   */
  checkChunks(frame: Buffer, chunks: readonly [string, number, number][], ref: WireRef | undefined): void {
    for (const [id, start, size] of chunks) {
      const data = frame.subarray(start, start + size);
      if (data.length !== size || chunkId(data) !== id) throw this.damaged(id, ref);
    }
  }

  /**
   * A chunk object (`data/<xx>/<id>`: an encoding byte, then raw or zstd bytes), decoded
   * into `output(size)` and checked against its id.
   */
  object(id: string, output: (size: number) => Buffer): Buffer {
    const data = this.#decodeObject(id, output);
    if (chunkId(data) !== id) throw this.damaged(id, undefined);
    return data;
  }

  #decodeObject(id: string, output: (size: number) => Buffer): Buffer {
    const file = path.join(this.#root, ...chunkKey(id).split("/"));
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new FrameDamage(`chunk ${id} is missing from the repository`);
      }
      throw err;
    }
    try {
      const length = fstatSync(fd).size;
      if (this.#scratch.length < length) this.#scratch = Buffer.allocUnsafe(length);
      const body = this.#scratch.subarray(0, readFullySync(fd, this.#scratch, 0, length, 0));
      try {
        if (body[0] === OBJECT_RAW) {
          const out = output(body.length - 1);
          body.copy(out, 0, 1);
          return out;
        }
        if (body[0] !== OBJECT_ZSTD) throw new Error(`unknown encoding byte ${body[0]}`);
        const zstd = body.subarray(1);
        const out = output(frameSize(zstd));
        return out.subarray(0, this.#dctx.decompress(out, zstd));
      } catch (err) {
        throw new FrameDamage(`chunk ${id} is damaged: ${(err as Error).message}`);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The damage to name when chunk `id` does not match its id: its dictionary's, if that is the damaged one. */
  damaged(id: string, ref: WireRef | undefined): FrameDamage {
    if (ref && chunkId(this.#dictionary(ref)) !== ref.id) {
      return new FrameDamage(
        `chunk ${id} cannot be decoded: chunk ${ref.id} is damaged: its content does not match its hash`,
      );
    }
    return new FrameDamage(`chunk ${id} is damaged: its content does not match its hash`);
  }

  close(): void {
    for (const fd of this.#packs.values()) closeSync(fd);
    this.#packs.clear();
  }

  /** A `zstd-ref` frame's dictionary: its ref chunk's bytes, not hash-checked here (see damaged()). */
  #dictionary(ref: WireRef): Buffer {
    const key = `${ref.frame.pack}@${ref.frame.offset}`;
    let frame = this.#dictionaries.get(key);
    if (!frame) {
      const body = this.#read(ref.frame, ref.id, Buffer.allocUnsafe(ref.frame.length));
      if (ref.frame.encoding === "raw") frame = body;
      else {
        frame = Buffer.allocUnsafe(frameSize(body));
        frame = frame.subarray(0, this.#dctx.decompress(frame, body));
      }
      this.#dictionaries.set(key, frame);
      if (this.#dictionaries.size > KEEP) this.#dictionaries.delete(this.#dictionaries.keys().next().value!);
    }
    return frame.subarray(ref.start, ref.start + ref.size);
  }

  #read(frame: WireFrame, id: string, into: Buffer): Buffer {
    let fd = this.#packs.get(frame.pack);
    if (fd === undefined) {
      const file = path.join(this.#root, ...packKey(frame.pack).split("/"));
      try {
        fd = openSync(file, "r");
      } catch (err) {
        const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
        throw new FrameDamage(
          `chunk ${id} is missing: its pack ${frame.pack} ${missing ? "is missing" : `cannot be read: ${(err as Error).message}`}`,
        );
      }
      this.#packs.set(frame.pack, fd);
      if (this.#packs.size > KEEP) {
        const [oldest, oldFd] = this.#packs.entries().next().value!;
        this.#packs.delete(oldest);
        closeSync(oldFd);
      }
    }
    if (readFullySync(fd, into, 0, frame.length, frame.offset) < frame.length) {
      throw new FrameDamage(`chunk ${id} is damaged: its frame in pack ${frame.pack} is too short`);
    }
    return into;
  }
}

/** Decoded frames are at most about this big (a pack frame of 512 KiB plus one chunk). */
const FRAME_BUFFER_BYTES = 1024 * 1024;

/**
 * Buffers a worker decodes frames into, given back once their bytes are written (by the
 * main thread, or the worker itself), so that decoding gigabytes allocates a few dozen.
 */
export class SpareBuffers {
  readonly #spare: ArrayBuffer[] = [];
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** A buffer of `size` bytes: a spare one when it is big enough. */
  readonly take = (size: number): Buffer => {
    const reused = this.#spare.pop();
    if (reused && reused.byteLength >= size) return Buffer.from(reused, 0, size);
    return Buffer.from(new ArrayBuffer(Math.max(size, FRAME_BUFFER_BYTES)), 0, size);
  };

  give(buffer: ArrayBuffer): void {
    if (this.#spare.length < this.#max) this.#spare.push(buffer);
  }
}

/** The plain size a zstd frame's header declares (our frames always declare it). */
function frameSize(body: Buffer): number {
  const size = getFrameContentSize(body);
  if (size === null) throw new Error("the frame does not declare its size");
  return size;
}

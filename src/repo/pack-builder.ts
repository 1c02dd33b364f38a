import fs from "node:fs/promises";
import { writeFully } from "../util/fs.js";
import type { Backend } from "./backend.js";
import {
  encodePackIndex,
  FRAME_TARGET_BYTES,
  newPackId,
  PACK_TARGET_BYTES,
  packIndexKey,
  packKey,
  packTrailer,
  type PackFrame,
  type PackIndex,
} from "./pack-format.js";

/** Encodes a frame's plain bytes: zstd when it shrinks them, else raw. */
export type FrameEncoder = (plain: Buffer) => { encoding: "zstd" | "raw"; body: Uint8Array };

/** A finished pack, ready to be written: its body (frames + trailer) and its index. */
export interface SealedPack {
  id: string;
  body: Uint8Array[];
  index: PackIndex;
  chunkCount: number;
  bytes: number;
}

/**
 * Collects small chunks into frames and frames into packs, in the order they are added
 * (consecutive chunks of a stream share a frame, so a restore decodes each frame once).
 * Memory is bounded by one pack: a pack is handed out as soon as it is full.
 */
export class PackBuilder {
  readonly #encode: FrameEncoder;
  readonly #frameTarget: number;
  readonly #packTarget: number;
  #frameParts: Buffer[] = [];
  #frameChunks: [string, number][] = [];
  #frameBytes = 0;
  #packId = newPackId();
  #packParts: Uint8Array[] = [];
  #packFrames: PackFrame[] = [];
  #packBytes = 0;
  #packChunks = 0;

  constructor(encode: FrameEncoder, options: { frameTargetBytes?: number; packTargetBytes?: number } = {}) {
    this.#encode = encode;
    this.#frameTarget = options.frameTargetBytes ?? FRAME_TARGET_BYTES;
    this.#packTarget = options.packTargetBytes ?? PACK_TARGET_BYTES;
  }

  /** True when nothing is waiting to be written. */
  get empty(): boolean {
    return this.#frameChunks.length === 0 && this.#packFrames.length === 0;
  }

  /** Adds a chunk; returns a pack when this chunk filled one. */
  add(id: string, data: Buffer): SealedPack | undefined {
    this.#frameParts.push(data);
    this.#frameChunks.push([id, data.length]);
    this.#frameBytes += data.length;
    if (this.#frameBytes < this.#frameTarget) return undefined;
    this.#sealFrame();
    return this.#packBytes >= this.#packTarget ? this.#sealPack() : undefined;
  }

  /**
   * Ends the current frame early (at the end of a file or stream), so one damaged frame
   * costs at most the data of one file, never its neighbours'. Returns a pack when full.
   */
  endFrame(): SealedPack | undefined {
    if (this.#frameChunks.length > 0) this.#sealFrame();
    return this.#packBytes >= this.#packTarget ? this.#sealPack() : undefined;
  }

  /**
   * Adds a chunk already encoded against `ref` (a `zstd-ref` frame of its own, after the
   * frame being filled is sealed). Returns a pack when full.
   */
  addRef(id: string, size: number, body: Uint8Array, ref: string): SealedPack | undefined {
    return this.addFrame("zstd-ref", body, [[id, size]], ref);
  }

  /**
   * Adds a frame the caller encoded (plain chunks `chunks`, in order), after the frame
   * being filled is sealed. Returns a pack when full.
   */
  addFrame(
    encoding: "zstd" | "raw" | "zstd-ref",
    body: Uint8Array,
    chunks: [string, number][],
    ref?: string,
  ): SealedPack | undefined {
    if (this.#frameChunks.length > 0) this.#sealFrame();
    this.#packFrames.push({
      offset: this.#packBytes,
      length: body.length,
      encoding,
      ...(ref !== undefined ? { ref } : {}),
      chunks,
    });
    this.#packParts.push(body);
    this.#packBytes += body.length;
    this.#packChunks += chunks.length;
    return this.#packBytes >= this.#packTarget ? this.#sealPack() : undefined;
  }

  /** Seals what is left (a partial frame and pack), or returns undefined when empty. */
  finish(): SealedPack | undefined {
    if (this.#frameChunks.length > 0) this.#sealFrame();
    return this.#packFrames.length > 0 ? this.#sealPack() : undefined;
  }

  #sealFrame(): void {
    const plain =
      this.#frameParts.length === 1
        ? this.#frameParts[0]!
        : Buffer.concat(this.#frameParts, this.#frameBytes);
    const { encoding, body } = this.#encode(plain);
    this.#packFrames.push({
      offset: this.#packBytes,
      length: body.length,
      encoding,
      chunks: this.#frameChunks,
    });
    this.#packParts.push(body);
    this.#packBytes += body.length;
    this.#packChunks += this.#frameChunks.length;
    this.#frameParts = [];
    this.#frameChunks = [];
    this.#frameBytes = 0;
  }

  #sealPack(): SealedPack {
    const index: PackIndex = { version: 1, pack: this.#packId, frames: this.#packFrames };
    const trailer = packTrailer(index);
    const sealed: SealedPack = {
      id: this.#packId,
      body: [...this.#packParts, trailer],
      index,
      chunkCount: this.#packChunks,
      bytes: this.#packBytes + trailer.length,
    };
    this.#packId = newPackId();
    this.#packParts = [];
    this.#packFrames = [];
    this.#packBytes = 0;
    this.#packChunks = 0;
    return sealed;
  }
}

/**
 * Writes a pack (durably), then its index (deferred: durable and visible at the next
 * flush). An index is thus never visible before its pack is durable, and a pack without
 * its index is found by its trailer. Returns the bytes written.
 */
export async function putPack(
  backend: Backend,
  sealed: SealedPack,
): Promise<{ bytes: number; indexSize: number }> {
  // The pack is made durable now (while the backup goes on), not in the commit's one sync:
  // a few large files cost little to fsync one by one, and the commit then waits for less.
  await backend.put(packKey(sealed.id), sealed.body);
  const indexSize = await putPackIndex(backend, sealed.index);
  return { bytes: sealed.bytes + indexSize, indexSize };
}

/** Writes a pack's index object (deferred: visible at the next flush, after its pack); returns its size. */
async function putPackIndex(backend: Backend, index: PackIndex): Promise<number> {
  const body = encodePackIndex(index);
  await backend.put(packIndexKey(index.pack), body, { deferred: true });
  return body.length;
}

/**
 * Ends a pack file another thread wrote (see worker-packs.ts): appends the trailer, has the
 * backend take the file as the pack (durably), then writes the index as putPack does.
 * `frameBytes` is where the index says the frames end, which the file must match.
 */
export async function adoptPackFile(
  backend: Backend,
  temp: string,
  frameBytes: number,
  index: PackIndex,
): Promise<{ bytes: number; size: number; indexSize: number }> {
  const trailer = packTrailer(index);
  const handle = await fs.open(temp, "r+");
  try {
    const { size } = await handle.stat();
    if (size !== frameBytes) {
      throw new Error(`internal: pack ${index.pack} has ${size} bytes of frames, its index ${frameBytes}`);
    }
    await writeFully(handle, trailer, frameBytes);
  } finally {
    await handle.close();
  }
  await backend.adopt!(packKey(index.pack), temp);
  const indexSize = await putPackIndex(backend, index);
  const size = frameBytes + trailer.length;
  return { bytes: size + indexSize, size, indexSize };
}

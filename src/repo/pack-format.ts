import { randomBytes } from "node:crypto";
import { compress, decompress } from "zstd-napi";
import { isChunkId } from "./chunk-id.js";

/**
 * Packs (repository format 2, docs/repository-format.md "Packs"): small chunks are not
 * stored one object each but many to a pack. A pack is a run of frames, each frame one
 * zstd frame (or raw bytes) of several consecutive chunks' plain bytes, so small chunks
 * compress together as well as the stream they came from. The pack's index (which chunk
 * is where) is `index/<pack>.json.zst`, read by every backup to dedup. The pack ends with
 * a trailer holding the same index without the chunk ids (frames and chunk sizes), so a
 * lost index object can be rebuilt by decoding the frames and hashing the chunks.
 */

/** Chunks smaller than this go into packs; larger ones stay objects of their own. */
export const PACKED_CHUNK_MAX = 512 * 1024;
/** A frame is sealed once it holds this many plain bytes. */
export const FRAME_TARGET_BYTES = 512 * 1024;
/** A pack is written once it holds this many stored bytes. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;

export const TRAILER_MAGIC = "PRSPACK1";
/** Trailer: zstd frame of the layout JSON, then its length (u32 little-endian), then the magic. */
export const TRAILER_FIXED_BYTES = 4 + TRAILER_MAGIC.length;

/**
 * `zstd` / `raw`: several consecutive chunks' plain bytes. `zstd-ref`: one chunk,
 * compressed with another stored chunk (`ref`, never itself a `zstd-ref`) as zstd's
 * dictionary — how a changed piece of a file is stored against its previous version.
 */
export type FrameEncoding = "zstd" | "raw" | "zstd-ref";

/** One frame: where it is in the pack and the chunks it holds, in order, as [id, plain size]. */
export interface PackFrame {
  offset: number;
  length: number;
  encoding: FrameEncoding;
  /** The dictionary chunk of a `zstd-ref` frame. */
  ref?: string;
  chunks: [string, number][];
}

/** What `index/<pack>.json.zst` holds (zstd-compressed JSON). */
export interface PackIndex {
  version: 1;
  pack: string;
  frames: PackFrame[];
}

const PACK_ID = /^[0-9a-f]{32}$/;

export function newPackId(): string {
  return randomBytes(16).toString("hex");
}

export function isPackId(id: string): boolean {
  return PACK_ID.test(id);
}

export function packKey(pack: string): string {
  return `packs/${pack.slice(0, 2)}/${pack}`;
}

export function packIndexKey(pack: string): string {
  return `index/${pack}.json.zst`;
}

/** The pack id of an `index/<pack>.json.zst` or `packs/<xx>/<pack>` key, or undefined for other keys. */
export function packIdOfKey(key: string): string | undefined {
  const name = key.slice(key.lastIndexOf("/") + 1).replace(/\.json\.zst$/, "");
  return isPackId(name) ? name : undefined;
}

/** The bytes of an index object. */
export function encodePackIndex(index: PackIndex): Buffer {
  return compress(Buffer.from(JSON.stringify(index), "utf8"));
}

/** Decodes and checks an index object; throws a plain Error describing the fault. */
export function decodePackIndex(body: Buffer, expectedPack: string): PackIndex {
  const index = JSON.parse(decompress(body).toString("utf8")) as PackIndex;
  if (index.version !== 1 || index.pack !== expectedPack || !Array.isArray(index.frames)) {
    throw new Error("not a version-1 pack index of this pack");
  }
  for (const frame of index.frames) {
    if (
      !Number.isSafeInteger(frame.offset) ||
      !Number.isSafeInteger(frame.length) ||
      (frame.encoding !== "zstd" && frame.encoding !== "raw" && frame.encoding !== "zstd-ref") ||
      (frame.encoding === "zstd-ref" && (typeof frame.ref !== "string" || frame.chunks.length !== 1)) ||
      !Array.isArray(frame.chunks) ||
      frame.offset < 0 ||
      frame.length < 0 ||
      !frame.chunks.every(isChunkEntry)
    ) {
      throw new Error("malformed frame entry");
    }
  }
  return index;
}

function isChunkEntry(entry: unknown): boolean {
  if (!Array.isArray(entry) || entry.length !== 2) return false;
  const [id, size] = entry as unknown[];
  return (
    isChunkId(id) && Number.isSafeInteger(size) && (size as number) >= 0 && (size as number) <= 0xffffffff
  );
}

/** A pack's layout as its trailer keeps it: frames with their chunks' sizes, not their ids. */
export interface PackLayout {
  version: 1;
  pack: string;
  /** `zstd-ref` frames also keep their ref and chunk id: they cannot be decoded without the ref. */
  frames: {
    offset: number;
    length: number;
    encoding: FrameEncoding;
    sizes: number[];
    ref?: string;
    ids?: string[];
  }[];
}

/** The trailer appended to a pack: zstd(layout JSON), u32le length, magic. */
export function packTrailer(index: PackIndex): Buffer {
  const layout: PackLayout = {
    version: 1,
    pack: index.pack,
    frames: index.frames.map((f) => ({
      offset: f.offset,
      length: f.length,
      encoding: f.encoding,
      sizes: f.chunks.map(([, size]) => size),
      ...(f.ref !== undefined ? { ref: f.ref, ids: f.chunks.map(([id]) => id) } : {}),
    })),
  };
  const body = compress(Buffer.from(JSON.stringify(layout), "utf8"));
  const tail = Buffer.alloc(TRAILER_FIXED_BYTES);
  tail.writeUInt32LE(body.length, 0);
  tail.write(TRAILER_MAGIC, 4, "latin1");
  return Buffer.concat([body, tail]);
}

/** Decodes a trailer's body (without length and magic). */
export function decodePackLayout(body: Buffer, expectedPack: string): PackLayout {
  const layout = JSON.parse(decompress(body).toString("utf8")) as PackLayout;
  if (layout.version !== 1 || layout.pack !== expectedPack || !Array.isArray(layout.frames)) {
    throw new Error("not a version-1 pack trailer of this pack");
  }
  return layout;
}

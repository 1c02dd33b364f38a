import { randomBytes } from "node:crypto";

/**
 * Packs (repository format 2, docs/repository-format.md "Packs"): small chunks are not
 * stored one object each but many to a pack. A pack is a run of frames, each frame one
 * zstd frame (or raw bytes) of several consecutive chunks' plain bytes, so small chunks
 * compress together as well as the stream they came from. The pack's index (which chunk
 * is where) is stored twice: as `index/<pack>.json`, read by every backup to dedup, and
 * as a trailer at the end of the pack, so a lost index object can be rebuilt.
 */

/** Chunks smaller than this go into packs; larger ones stay objects of their own. */
export const PACKED_CHUNK_MAX = 512 * 1024;
/** A frame is sealed once it holds this many plain bytes. */
export const FRAME_TARGET_BYTES = 256 * 1024;
/** A pack is written once it holds this many stored bytes. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;

export const TRAILER_MAGIC = "PRSPACK1";
/** Trailer: index JSON, then its length (u32 little-endian), then the magic. */
export const TRAILER_FIXED_BYTES = 4 + TRAILER_MAGIC.length;

export type FrameEncoding = "zstd" | "raw";

/** One frame: where it is in the pack and the chunks it holds, in order, as [id, plain size]. */
export interface PackFrame {
  offset: number;
  length: number;
  encoding: FrameEncoding;
  chunks: [string, number][];
}

/** What `index/<pack>.json` and the pack trailer hold. */
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
  return `index/${pack}.json`;
}

/** The pack id of an `index/<pack>.json` or `packs/<xx>/<pack>` key, or undefined for other keys. */
export function packIdOfKey(key: string): string | undefined {
  const name = key.slice(key.lastIndexOf("/") + 1).replace(/\.json$/, "");
  return isPackId(name) ? name : undefined;
}

/** Parses and checks an index (object or trailer); throws a plain Error describing the fault. */
export function parsePackIndex(text: string, expectedPack: string): PackIndex {
  const index = JSON.parse(text) as PackIndex;
  if (index.version !== 1 || index.pack !== expectedPack || !Array.isArray(index.frames)) {
    throw new Error("not a version-1 pack index of this pack");
  }
  for (const frame of index.frames) {
    if (
      !Number.isSafeInteger(frame.offset) ||
      !Number.isSafeInteger(frame.length) ||
      (frame.encoding !== "zstd" && frame.encoding !== "raw") ||
      !Array.isArray(frame.chunks)
    ) {
      throw new Error("malformed frame entry");
    }
  }
  return index;
}

/** The trailer appended to a pack: index JSON, u32le length, magic. */
export function packTrailer(index: PackIndex): Buffer {
  const json = Buffer.from(JSON.stringify(index), "utf8");
  const tail = Buffer.alloc(TRAILER_FIXED_BYTES);
  tail.writeUInt32LE(json.length, 0);
  tail.write(TRAILER_MAGIC, 4, "latin1");
  return Buffer.concat([json, tail]);
}

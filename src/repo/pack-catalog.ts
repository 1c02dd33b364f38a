import type { Backend, ObjectInfo } from "./backend.js";
import { forEachLimit } from "../util/concurrency.js";
import {
  packIdOfKey,
  packIndexKey,
  packKey,
  parsePackIndex,
  TRAILER_FIXED_BYTES,
  TRAILER_MAGIC,
  type FrameEncoding,
  type PackIndex,
} from "./pack-format.js";

/** A frame, as a reader needs it. */
export interface FrameRef {
  pack: string;
  offset: number;
  length: number;
  encoding: FrameEncoding;
}

/** Where a packed chunk's plain bytes are: a slice of its frame's decoded bytes. */
export interface ChunkLocation {
  frame: FrameRef;
  start: number;
  size: number;
}

/** A pack present in the repository with a readable index. */
export interface PackInfo {
  id: string;
  index: PackIndex;
  /** Bytes of the pack object. */
  size: number;
  /** Bytes of its index object. */
  indexSize: number;
  modifiedMs?: number;
}

/**
 * Every pack's index, loaded once: which chunk is in which frame of which pack. An index
 * whose pack is absent (a crash between the two renames) is ignored, so a later backup
 * stores those chunks again rather than trusting them; an unreadable index object is
 * replaced by the copy in its pack's trailer.
 */
export class PackCatalog {
  readonly packs = new Map<string, PackInfo>();
  readonly chunks = new Map<string, ChunkLocation>();
  /** Packs without an index object: leftovers of interrupted writers, deleted by prune. */
  readonly orphanPacks: string[] = [];
  /** Index objects without their pack. */
  readonly orphanIndexes: string[] = [];
  /** Packs whose index could be read neither from its object nor from the trailer. */
  readonly unreadable: { pack: string; message: string }[] = [];

  static async load(backend: Backend): Promise<PackCatalog> {
    const catalog = new PackCatalog();
    const packObjects = new Map<string, ObjectInfo>();
    for await (const info of backend.list("packs/")) {
      const id = packIdOfKey(info.key);
      if (id) packObjects.set(id, info);
    }
    const indexObjects = new Map<string, ObjectInfo>();
    for await (const info of backend.list("index/")) {
      const id = packIdOfKey(info.key);
      if (id) indexObjects.set(id, info);
    }
    for (const id of packObjects.keys()) if (!indexObjects.has(id)) catalog.orphanPacks.push(id);
    for (const id of indexObjects.keys()) if (!packObjects.has(id)) catalog.orphanIndexes.push(id);
    const present = [...indexObjects.keys()].filter((id) => packObjects.has(id));
    await forEachLimit(present, 16, async (id) => {
      const pack = packObjects.get(id)!;
      const index = await readIndex(backend, id, pack.size).catch((err: unknown) => {
        catalog.unreadable.push({ pack: id, message: (err as Error).message });
        return undefined;
      });
      if (!index) return;
      catalog.add({
        id,
        index,
        size: pack.size,
        indexSize: indexObjects.get(id)!.size,
        ...(pack.modifiedMs !== undefined ? { modifiedMs: pack.modifiedMs } : {}),
      });
    });
    return catalog;
  }

  /** Registers a pack (loaded, or just written by this process). */
  add(info: PackInfo): void {
    this.packs.set(info.id, info);
    for (const frame of info.index.frames) {
      const ref: FrameRef = {
        pack: info.id,
        offset: frame.offset,
        length: frame.length,
        encoding: frame.encoding,
      };
      let start = 0;
      for (const [id, size] of frame.chunks) {
        if (!this.chunks.has(id)) this.chunks.set(id, { frame: ref, start, size });
        start += size;
      }
    }
  }
}

/** The index object, or when it is unreadable the copy in the pack's trailer. */
async function readIndex(backend: Backend, id: string, packSize: number): Promise<PackIndex> {
  try {
    return parsePackIndex((await backend.get(packIndexKey(id))).toString("utf8"), id);
  } catch (first) {
    try {
      return await readTrailerIndex(backend, id, packSize);
    } catch {
      throw new Error(`index of pack ${id} is unreadable: ${(first as Error).message}`);
    }
  }
}

/** Reads the index copy at the end of a pack. */
export async function readTrailerIndex(backend: Backend, id: string, packSize: number): Promise<PackIndex> {
  if (packSize < TRAILER_FIXED_BYTES) throw new Error(`pack ${id} is too short to hold a trailer`);
  const tail = await backend.getRange(packKey(id), packSize - TRAILER_FIXED_BYTES, TRAILER_FIXED_BYTES);
  if (tail.toString("latin1", 4) !== TRAILER_MAGIC) throw new Error(`pack ${id} has no trailer`);
  const length = tail.readUInt32LE(0);
  const start = packSize - TRAILER_FIXED_BYTES - length;
  if (start < 0) throw new Error(`pack ${id} trailer length is out of range`);
  return parsePackIndex((await backend.getRange(packKey(id), start, length)).toString("utf8"), id);
}

import type { Backend, ObjectInfo } from "./backend.js";
import { forEachLimit } from "../util/concurrency.js";
import { decompress } from "zstd-napi";
import { chunkId, isChunkId } from "./chunk-id.js";
import { decodeCatalogTable, encodeCatalogTable, type SavedTable } from "./catalog-table.js";
import { ChunkTable, type ChunkLocation, type FrameRef } from "./chunk-table.js";
import {
  decodePackIndex,
  decodePackLayout,
  packIdOfKey,
  packIndexKey,
  packKey,
  TRAILER_FIXED_BYTES,
  TRAILER_MAGIC,
  type PackFrame,
  type PackIndex,
} from "./pack-format.js";

export type { ChunkLocation, FrameRef };

/** A pack present in the repository with a readable index. */
export interface PackInfo {
  id: string;
  /** Given back from the catalog's chunk table on each read: prune and repairs read it, lookups do not. */
  readonly index: PackIndex;
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
  /** Each packed chunk's location (the first, when a chunk was stored twice). */
  readonly chunks: ChunkTable;
  /**
   * Packs without an index object whose trailer could not be read either: damage, kept
   * (prune never deletes what it cannot account for) and reported.
   */
  readonly orphanPacks: string[] = [];
  /** Packs whose index object was missing or unreadable and was rebuilt from the pack; prune writes it back. */
  readonly rebuilt = new Set<string>();
  /** Rebuilt packs with frames that did not decode: their content is not fully known. */
  readonly incomplete = new Set<string>();
  /** Index objects without their pack. */
  readonly orphanIndexes: string[] = [];
  /** Packs whose index could be read neither from its object nor from the trailer. */
  readonly unreadable: { pack: string; message: string }[] = [];

  /** A catalog starting from `table` (a saved one whose packs are all there), or empty. */
  constructor(table = new ChunkTable()) {
    this.chunks = table;
  }

  /** Packs the saved table covered when the catalog was loaded (0: none was usable). */
  #savedCovers = 0;

  /** True when the catalog started from the saved table (its packs' index objects were not read). */
  get fromSavedTable(): boolean {
    return this.#savedCovers > 0;
  }

  /**
   * Reads every pack's index, starting from `savedTable` (this machine's cache) when every
   * pack it covers is still there with the same sizes.
   */
  static async load(backend: Backend, options: { savedTable?: SavedTable } = {}): Promise<PackCatalog> {
    const [saved, packObjects, indexObjects] = await Promise.all([
      options.savedTable && readSavedTable(options.savedTable),
      listPacks(backend, "packs/"),
      listPacks(backend, "index/"),
    ]);
    const usable = saved?.packs.every(
      (p) => packObjects.get(p.id)?.size === p.size && indexObjects.get(p.id)?.size === p.indexSize,
    );
    const catalog = new PackCatalog(usable ? saved!.table : undefined);
    if (usable) {
      catalog.#savedCovers = saved!.packs.length;
      for (const [packNo, covered] of saved!.packs.entries()) {
        const modifiedMs = packObjects.get(covered.id)!.modifiedMs;
        catalog.packs.set(
          covered.id,
          new CatalogPack(
            { ...covered, ...(modifiedMs !== undefined ? { modifiedMs } : {}) },
            catalog.chunks,
            packNo,
          ),
        );
      }
    }
    for (const id of indexObjects.keys()) if (!packObjects.has(id)) catalog.orphanIndexes.push(id);
    const toRead = [...packObjects.keys()].filter((id) => !catalog.packs.has(id));
    await forEachLimit(toRead, 16, async (id) => {
      const pack = packObjects.get(id)!;
      const indexObject = indexObjects.get(id);
      let index: PackIndex;
      try {
        index = await readIndex(backend, id, pack.size, indexObject !== undefined, catalog);
      } catch (err) {
        if (indexObject) catalog.unreadable.push({ pack: id, message: (err as Error).message });
        else catalog.orphanPacks.push(id);
        return;
      }
      catalog.add({
        id,
        index,
        size: pack.size,
        indexSize: indexObject?.size ?? 0,
        ...(pack.modifiedMs !== undefined ? { modifiedMs: pack.modifiedMs } : {}),
      });
    });
    return catalog;
  }

  /**
   * Saves the table for the next run when the saved one covers SAVE_AFTER packs fewer than
   * there are now, packs written since the load included. Nothing when a pack's index came
   * from anywhere but its index object. A failure only costs the next run its speed.
   */
  async saveTable(savedTable: SavedTable): Promise<void> {
    if (!this.#isWhole() || this.packs.size - this.#savedCovers < SAVE_AFTER) return;
    const covered = this.chunks.packIds.map((id) => {
      const pack = this.packs.get(id)!;
      return { id, size: pack.size, indexSize: pack.indexSize };
    });
    await savedTable.write(encodeCatalogTable(covered, this.chunks)).catch(() => undefined);
  }

  /** True when every pack's index was read from its index object: the table then says nothing else. */
  #isWhole(): boolean {
    return (
      this.orphanPacks.length === 0 &&
      this.rebuilt.size === 0 &&
      this.unreadable.length === 0 &&
      this.chunks.packIds.length === this.packs.size
    );
  }

  /** Registers a pack (loaded, or just written by this process). */
  add(info: PackInfo): void {
    const packNo = this.chunks.addPack(info.index);
    this.packs.set(info.id, new CatalogPack(info, this.chunks, packNo));
  }
}

/**
 * Packs the saved table may lack before a backup saves it anew: saving writes the whole
 * table (1.6 MB for the bench tree's 20,000 chunks; 80 MB for a million), reading a pack's
 * index instead costs a millisecond or two.
 */
const SAVE_AFTER = 8;

async function listPacks(backend: Backend, prefix: string): Promise<Map<string, ObjectInfo>> {
  const found = new Map<string, ObjectInfo>();
  for await (const info of backend.list(prefix)) {
    const id = packIdOfKey(info.key);
    if (id) found.set(id, info);
  }
  return found;
}

/** The saved table, or undefined when there is none or it is damaged (the pack indexes are read instead). */
async function readSavedTable(saved: SavedTable): Promise<ReturnType<typeof decodeCatalogTable> | undefined> {
  const bytes = await saved.read();
  try {
    return bytes && decodeCatalogTable(bytes);
  } catch {
    return undefined;
  }
}

/** A pack as the catalog keeps it: its index lives in the chunk table, not in objects. */
class CatalogPack implements PackInfo {
  readonly id: string;
  readonly size: number;
  readonly indexSize: number;
  readonly modifiedMs?: number;
  readonly #table: ChunkTable;
  readonly #packNo: number;

  constructor(info: Omit<PackInfo, "index">, table: ChunkTable, packNo: number) {
    this.id = info.id;
    this.size = info.size;
    this.indexSize = info.indexSize;
    if (info.modifiedMs !== undefined) this.modifiedMs = info.modifiedMs;
    this.#table = table;
    this.#packNo = packNo;
  }

  get index(): PackIndex {
    return this.#table.packIndex(this.#packNo);
  }
}

/**
 * The index object, or when it is missing or unreadable one rebuilt from the pack itself
 * (a crash between the renames of a pack and its index, or a lost index object).
 */
async function readIndex(
  backend: Backend,
  id: string,
  packSize: number,
  hasObject: boolean,
  catalog: PackCatalog,
): Promise<PackIndex> {
  let first: unknown = new Error("its index object is missing");
  if (hasObject) {
    try {
      return decodePackIndex(await backend.get(packIndexKey(id)), id);
    } catch (err) {
      first = err;
    }
  }
  try {
    const { index, skippedFrames } = await rebuildIndexFrom(backend, id, packSize);
    catalog.rebuilt.add(id);
    if (skippedFrames > 0) catalog.incomplete.add(id);
    return index;
  } catch {
    throw new Error(`index of pack ${id} is unreadable: ${(first as Error).message}`);
  }
}

/**
 * Rebuilds a pack's index from its trailer (frames and chunk sizes) by decoding every
 * frame and hashing its chunks. A frame that does not decode is left out: its chunks
 * are then missing, which verify reports, rather than trusted.
 */
export async function rebuildIndex(backend: Backend, id: string, packSize: number): Promise<PackIndex> {
  return (await rebuildIndexFrom(backend, id, packSize)).index;
}

async function rebuildIndexFrom(
  backend: Backend,
  id: string,
  packSize: number,
): Promise<{ index: PackIndex; skippedFrames: number }> {
  const key = packKey(id);
  if (packSize < TRAILER_FIXED_BYTES) throw new Error(`pack ${id} is too short to hold a trailer`);
  const tail = await backend.getRange(key, packSize - TRAILER_FIXED_BYTES, TRAILER_FIXED_BYTES);
  if (tail.toString("latin1", 4) !== TRAILER_MAGIC) throw new Error(`pack ${id} has no trailer`);
  const length = tail.readUInt32LE(0);
  const start = packSize - TRAILER_FIXED_BYTES - length;
  if (start < 0) throw new Error(`pack ${id} trailer length is out of range`);
  const layout = decodePackLayout(await backend.getRange(key, start, length), id);
  const frames: PackFrame[] = [];
  let skippedFrames = 0;
  for (const frame of layout.frames) {
    if (frame.encoding === "zstd-ref") {
      // Decoding needs the ref chunk, which may live in another pack: its id is kept in the
      // layout instead, and checked on every read like any chunk's.
      const [id] = frame.ids ?? [];
      const [size] = frame.sizes;
      if (!isChunkId(id) || size === undefined || !isChunkId(frame.ref)) skippedFrames += 1;
      else
        frames.push({
          offset: frame.offset,
          length: frame.length,
          encoding: frame.encoding,
          ref: frame.ref,
          chunks: [[id, size]],
        });
      continue;
    }
    try {
      const body = await backend.getRange(key, frame.offset, frame.length);
      const plain = frame.encoding === "zstd" ? decompress(body) : body;
      const chunks: [string, number][] = [];
      let at = 0;
      for (const size of frame.sizes) {
        chunks.push([chunkId(plain.subarray(at, at + size)), size]);
        at += size;
      }
      if (at !== plain.length) throw new Error("frame size does not match its chunks");
      frames.push({ offset: frame.offset, length: frame.length, encoding: frame.encoding, chunks });
    } catch {
      skippedFrames += 1; // an undecodable frame: its chunks stay unknown
    }
  }
  return { index: { version: 1, pack: id, frames }, skippedFrames };
}

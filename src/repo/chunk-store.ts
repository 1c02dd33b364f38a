import { chunkId, chunkKey, isChunkId } from "./chunk-id.js";
import { Decompressor } from "zstd-napi";
import { RepoCorruptError } from "../errors.js";
import { dataLength, ObjectNotFoundError, type Backend } from "./backend.js";
import type { SavedTable } from "./catalog-table.js";
import { PackCatalog, type ChunkLocation, type FrameRef, type PackInfo } from "./pack-catalog.js";
import { packKey } from "./pack-format.js";
import { FrameEncoder, OBJECT_RAW, OBJECT_ZSTD, objectBody } from "./frame-encoder.js";

export { objectBody };

export { chunkId, chunkKey };

/** Decoded frames kept for the next chunk of the same frame (restores and verify read in order). */
const FRAME_CACHE_SIZE = 16;

export interface PutResult {
  id: string;
  /** Bytes added to the repository: 0 when the chunk was already stored. */
  storedBytes: number;
}

/**
 * Stores chunks content-addressed: id = SHA-256 of the plain bytes; body = one
 * encoding byte + zstd frame (or the raw bytes when zstd does not shrink them).
 * Every read is checked against the id, so damage is found before bytes are used.
 */
export class ChunkStore {
  readonly #backend: Backend;
  readonly #encoder: FrameEncoder;
  readonly #decompressor = new Decompressor();
  /** A separate context for `zstd-ref` frames: each call loads its own dictionary. */
  readonly #refDecompressor = new Decompressor();
  #known: Set<string> | undefined;
  #loading: Promise<Set<string>> | undefined;
  #catalog: Promise<PackCatalog> | undefined;
  #loadedCatalog: PackCatalog | undefined;
  readonly #frames = new Map<string, Promise<Buffer>>();

  /** This machine's saved chunk table of the repository, if it keeps one (see catalog-table.ts). */
  readonly #savedTable: SavedTable | undefined;

  constructor(backend: Backend, options: { compressionLevel?: number; savedTable?: SavedTable } = {}) {
    this.#backend = backend;
    this.#savedTable = options.savedTable;
    this.#encoder = new FrameEncoder(options.compressionLevel ?? 3);
  }

  /**
   * Lists stored chunk ids once (chunk objects and every pack index), so dedup checks do
   * not hit the backend per chunk. Returns the ids of chunk objects.
   */
  loadIndex(): Promise<Set<string>> {
    this.#loading ??= this.#loadIndex().catch((err: unknown) => {
      this.#loading = undefined;
      throw err;
    });
    return this.#loading;
  }

  async #loadIndex(): Promise<Set<string>> {
    // Both listings wait mostly on the disk: side by side, each fills the other's waits.
    const [, known] = await Promise.all([this.packs(), this.#listChunkObjects()]);
    this.#known = known;
    return known;
  }

  async #listChunkObjects(): Promise<Set<string>> {
    const known = new Set<string>();
    for await (const key of this.#backend.listKeys("data/")) {
      const id = key.slice(key.lastIndexOf("/") + 1);
      if (isChunkId(id)) known.add(id);
    }
    return known;
  }

  /**
   * Drops what was loaded: after a lock is taken anew, a prune may have run since (a run
   * backing up several targets locks each in turn), so what is stored must be read again.
   */
  forget(): void {
    this.#known = undefined;
    this.#loading = undefined;
    this.#catalog = undefined;
    this.#loadedCatalog = undefined;
    this.#frames.clear();
  }

  /** The catalog of packs, loaded on first use (a restore needs it, not the chunk-object listing). */
  packs(): Promise<PackCatalog> {
    this.#catalog ??= this.#loadCatalog(true);
    return this.#catalog;
  }

  /**
   * The catalog read from every pack index object, never from the saved table: what
   * verify and prune check and rewrite (a damaged index object must be found, not covered
   * by the saved copy of it).
   */
  async packsFromIndexes(): Promise<PackCatalog> {
    const loaded = this.#catalog && (await this.#catalog);
    if (loaded && !loaded.fromSavedTable) return loaded;
    this.#catalog = this.#loadCatalog(false);
    return this.#catalog;
  }

  #loadCatalog(useSavedTable: boolean): Promise<PackCatalog> {
    const savedTable = useSavedTable ? this.#savedTable : undefined;
    return PackCatalog.load(this.#backend, savedTable ? { savedTable } : {}).then(
      (catalog) => (this.#loadedCatalog = catalog),
    );
  }

  /**
   * Saves the catalog's table for the next run when it is loaded and enough packs were
   * added since the saved one (see PackCatalog.saveTable).
   */
  async saveTable(): Promise<void> {
    if (this.#savedTable) await this.#loadedCatalog?.saveTable(this.#savedTable);
  }

  /** True when the chunk is stored. Call loadIndex first: without the index nothing could be reused. */
  has(id: string): boolean {
    if (!this.#known) throw new Error("internal: ChunkStore.has called before loadIndex");
    return this.#known.has(id) || this.#loadedCatalog?.chunks.has(id) === true;
  }

  /** Records a pack written by a snapshot writer: its chunks are then found and deduplicated. */
  async addPack(info: PackInfo): Promise<void> {
    (await this.packs()).add(info);
  }

  /** Records a chunk written by a snapshot writer, so later writers in this process dedup against it. */
  markStored(id: string): void {
    this.#known?.add(id);
  }

  /** Stores a chunk unless it is already there. Durable only after `backend.flush()`. */
  async put(data: Uint8Array): Promise<PutResult> {
    const id = chunkId(data);
    const known = await this.loadIndex();
    if (known.has(id)) return { id, storedBytes: 0 };
    known.add(id);
    try {
      const body = this.encode(data);
      await this.#backend.put(chunkKey(id), body);
      return { id, storedBytes: dataLength(body) };
    } catch (err) {
      known.delete(id);
      throw err;
    }
  }

  /** Encodes a chunk object's body as parts (encoding byte, payload); see `encodeFrame`. */
  encode(data: Uint8Array): Uint8Array[] {
    const { encoding, body } = this.encodeFrame(data);
    return objectBody(encoding, body);
  }

  /** The zstd level chunks are compressed with. */
  get compressionLevel(): number {
    return this.#encoder.level;
  }

  /** zstd when it shrinks the data, raw otherwise (see FrameEncoder). */
  encodeFrame(data: Uint8Array): { encoding: "zstd" | "raw"; body: Uint8Array } {
    return this.#encoder.encodeFrame(data);
  }

  /** Compresses a chunk with another chunk's plain bytes as the dictionary (a `zstd-ref` frame). */
  encodeRef(data: Uint8Array, base: Uint8Array): Uint8Array {
    return this.#encoder.encodeRef(data, base);
  }

  /** Where a packed chunk is (undefined for a chunk object or an unknown id). Needs the catalog loaded. */
  locate(id: string): ChunkLocation | undefined {
    return this.#loadedCatalog?.chunks.get(id);
  }

  /** Reads a chunk, decodes it and checks its hash. Throws RepoCorruptError naming the chunk. */
  async get(id: string): Promise<Buffer> {
    const location = (await this.packs()).chunks.get(id);
    if (location) return this.#getPacked(id, location);
    let body: Buffer;
    try {
      body = await this.#backend.get(chunkKey(id));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw new RepoCorruptError(`chunk ${id} is missing from the repository`, { cause: err });
      }
      throw err;
    }
    const data = this.#decodeBody(id, body);
    if (chunkId(data) !== id) throw damaged(id);
    return data;
  }

  /**
   * A chunk's bytes, checked, in a buffer no one else holds, so the caller may change them
   * in place: a packed chunk is cut from a cached frame that later reads share, so it is
   * copied; a chunk object is decoded into a buffer of its own.
   */
  async getOwned(id: string): Promise<Buffer> {
    const location = (await this.packs()).chunks.get(id);
    return location ? Buffer.from(await this.#getPacked(id, location)) : this.get(id);
  }

  /** A packed chunk's bytes, cut from its decoded frame, not yet hash-checked. */
  async #packedBytes(id: string, location: ChunkLocation): Promise<Buffer> {
    const frame = await this.#frame(id, location.frame);
    if (location.start + location.size > frame.length) {
      throw new RepoCorruptError(
        `chunk ${id} is damaged: its frame in pack ${location.frame.pack} is too short`,
      );
    }
    return frame.subarray(location.start, location.start + location.size);
  }

  async #getPacked(id: string, location: ChunkLocation): Promise<Buffer> {
    const data = await this.#packedBytes(id, location);
    if (chunkId(data) !== id) {
      // zstd frames carry no checksum: a damaged one may decode to wrong bytes; do not keep them.
      this.#frames.delete(frameKey(location.frame));
      const ref = location.frame.ref;
      if (ref) {
        // The dictionary was not checked when it was read: name it if it is the damaged one.
        const base = await this.get(ref).then(
          () => undefined,
          (err: unknown) => err as Error,
        );
        if (base)
          throw new RepoCorruptError(`chunk ${id} cannot be decoded: ${base.message}`, { cause: base });
      }
      throw damaged(id);
    }
    return data;
  }

  /**
   * A packed chunk's bytes without the hash check, as a `zstd-ref` frame's dictionary:
   * the decoded chunk's own check catches a damaged dictionary (and then names it), and a
   * restore of a delta backup would otherwise hash most bytes twice.
   */
  async #dictionary(id: string): Promise<Buffer> {
    const location = (await this.packs()).chunks.get(id);
    return location ? this.#packedBytes(id, location) : this.get(id);
  }

  /** A frame's decoded bytes, from a small cache: consecutive chunks share frames. */
  #frame(id: string, ref: FrameRef): Promise<Buffer> {
    const key = frameKey(ref);
    let frame = this.#frames.get(key);
    if (frame) {
      this.#frames.delete(key);
      this.#frames.set(key, frame);
      return frame;
    }
    frame = this.#readFrame(id, ref);
    frame.catch(() => this.#frames.delete(key));
    this.#frames.set(key, frame);
    if (this.#frames.size > FRAME_CACHE_SIZE) this.#frames.delete(this.#frames.keys().next().value!);
    return frame;
  }

  async #readFrame(id: string, ref: FrameRef): Promise<Buffer> {
    let body: Buffer;
    try {
      body = await this.#backend.getRange(packKey(ref.pack), ref.offset, ref.length);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw new RepoCorruptError(`chunk ${id} is missing: its pack ${ref.pack} is missing`, { cause: err });
      }
      throw new RepoCorruptError(`chunk ${id} is damaged: pack ${ref.pack}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (ref.encoding === "raw") return body;
    // A ref frame's dictionary is another chunk, read first.
    const base = ref.encoding === "zstd-ref" ? await this.#dictionary(ref.ref!) : undefined;
    try {
      if (base) {
        this.#refDecompressor.loadDictionary(base);
        return this.#refDecompressor.decompress(body);
      }
      return this.#decompressor.decompress(body);
    } catch (err) {
      throw new RepoCorruptError(
        `chunk ${id} is damaged: frame at byte ${ref.offset} of pack ${ref.pack}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Decodes a stored body and verifies it against `id` (synchronously). */
  decode(id: string, body: Buffer): Buffer {
    const data = this.#decodeBody(id, body);
    if (chunkId(data) !== id) throw damaged(id);
    return data;
  }

  #decodeBody(id: string, body: Buffer): Buffer {
    let data: Buffer;
    try {
      if (body[0] === OBJECT_RAW) data = body.subarray(1);
      else if (body[0] === OBJECT_ZSTD) data = this.#decompressor.decompress(body.subarray(1));
      else throw new Error(`unknown encoding byte ${body[0]}`);
    } catch (err) {
      throw new RepoCorruptError(`chunk ${id} is damaged: ${(err as Error).message}`, { cause: err });
    }
    return data;
  }
}

function frameKey(ref: FrameRef): string {
  return `${ref.pack}@${ref.offset}`;
}

function damaged(id: string): RepoCorruptError {
  return new RepoCorruptError(`chunk ${id} is damaged: its content does not match its hash`);
}

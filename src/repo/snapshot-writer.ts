import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import { toPrsBackupError } from "../errors.js";
import { Budget } from "../util/concurrency.js";
import { VERSION } from "../version.js";
import { dataLength } from "./backend.js";
import { chunkId, chunkKey, objectBody } from "./chunk-store.js";
import { Chunker, DEFAULT_CHUNKER_PARAMS, type ChunkerParams } from "./chunker.js";
import { isWorthDelta } from "./frame-encoder.js";
import { adoptPackFile, PackBuilder, putPack, type SealedPack } from "./pack-builder.js";
import { PACK_TARGET_BYTES, PACKED_CHUNK_MAX, packKey } from "./pack-format.js";
import type { PackInfo } from "./pack-catalog.js";
import type { Repository } from "./repository.js";
import type { EncodedJob } from "./store-pool.js";
import { newSnapshotId } from "./snapshot-store.js";
import { WorkerPacks, workerPackIndex, type PackTarget, type WorkerPack } from "./worker-packs.js";
import type { Entry, SnapshotManifest, SnapshotProblem, SnapshotStatus, TargetType } from "./snapshot.js";

/** The entry list dedups best with small chunks: an unchanged subtree gives identical chunks. */
const ENTRY_CHUNKER: ChunkerParams = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 };
const ENTRY_BATCH_BYTES = 64 * 1024;
/** Chunk writes in flight at once: overlaps fsyncs with hashing and compression. */
const WRITE_CONCURRENCY = 8;
/**
 * Bytes of those writes in flight: two full packs. When the disk is slower than the
 * workers (writeback throttling), eight 16 MiB packs waiting raised a files backup's peak
 * RSS from about 210 to 308 MB; more in flight does not make a slow disk faster.
 */
const WRITE_BYTES_IN_FLIGHT = 2 * PACK_TARGET_BYTES;
/**
 * A worker thread's last pack smaller than this part of a full one is merged into the
 * entry list's pack at commit, so that a small backup (configuration files) adds one pack
 * rather than one per thread and one for the entries.
 */
const MERGE_BELOW_PART = 0.25;
/** Chunks of one stream stored at once (their writes overlap with the next chunks' work). */
const CHUNKS_AHEAD = 4;

/** Cuts a byte stream into chunks; a cutter may label its chunks (see storeCut's `onChunk`). */
export interface StreamCutter<C extends { data: Buffer }> {
  /** Feeds bytes; returns the chunks completed by them. */
  push(buf: Uint8Array): C[];
  /** The last chunk, if any bytes are left. */
  finish(): C | undefined;
}

export interface StoredData {
  chunks: string[];
  size: number;
  /** SHA-256 of the whole stream; undefined when storeStream was asked not to compute it. */
  sha256?: string;
}

export interface SnapshotWriterOptions {
  target: string;
  type: TargetType;
  parent?: string;
  chunker?: ChunkerParams;
  clock?: () => Date;
  /** Size at which packs the worker threads write are sealed (tests make it small). */
  packTargetBytes?: number;
}

export interface CommitOptions {
  sourceBytes: number;
  metadata: Record<string, unknown>;
  status?: SnapshotStatus;
}

/**
 * Builds one snapshot: stores data chunks (deduplicated, several writes in flight),
 * appends entries to the chunked entry list, and on commit makes every chunk durable
 * before writing the manifest — the one write that makes the snapshot exist. A writer
 * that is never committed leaves only unreferenced chunks, which prune collects.
 */
export class SnapshotWriter {
  readonly id = newSnapshotId();
  readonly startTime: Date;
  readonly #repo: Repository;
  readonly #options: SnapshotWriterOptions;
  readonly #params: ChunkerParams;
  readonly #inflight = new Set<Promise<void>>();
  readonly #writeSlots = new Budget(WRITE_CONCURRENCY);
  readonly #writeBytes = new Budget(WRITE_BYTES_IN_FLIGHT);
  /**
   * Chunks claimed by this snapshot and not yet found in the chunk index: once a chunk's
   * pack or object is written, the index finds it and it leaves this set. Kept for the whole
   * backup, the set grew with the data (84,000 ids, about 9 MB, for an 8 GB first snapshot).
   */
  readonly #pending = new Set<string>();
  readonly #entryChunker = new Chunker(ENTRY_CHUNKER);
  readonly #entryChunks: string[] = [];
  readonly #problems: SnapshotProblem[] = [];
  #entryBatch: string[] = [];
  #entryBatchBytes = 0;
  #entryCount = 0;
  /** Small chunks collect here; undefined for a format-1 repository (one object per chunk). */
  readonly #packs: PackBuilder | undefined;
  /** Packs the worker threads write themselves; undefined where the backend cannot adopt files. */
  readonly #workerPacks: WorkerPacks | undefined;
  readonly #mergeBelow: number;
  #failure: Error | undefined;
  #storedBytes = 0;
  #newChunks = 0;
  #deltaChunks = 0;

  constructor(repo: Repository, options: SnapshotWriterOptions) {
    this.#repo = repo;
    this.#options = options;
    this.#params = options.chunker ?? repo.header.chunker ?? DEFAULT_CHUNKER_PARAMS;
    this.startTime = (options.clock ?? (() => new Date()))();
    this.#packs =
      repo.header.version >= 2 ? new PackBuilder((plain) => repo.chunks.encodeFrame(plain)) : undefined;
    const { backend } = repo;
    this.#mergeBelow = (options.packTargetBytes ?? PACK_TARGET_BYTES) * MERGE_BELOW_PART;
    this.#workerPacks =
      this.#packs && backend.deferredTemp && backend.adopt
        ? new WorkerPacks((id) => backend.deferredTemp!(packKey(id)), options.packTargetBytes)
        : undefined;
  }

  /** Bytes of new chunks written so far. */
  get storedBytes(): number {
    return this.#storedBytes;
  }

  get problems(): readonly SnapshotProblem[] {
    return this.#problems;
  }

  /**
   * Stores a byte stream as content-defined chunks. With `previous` (the chunk ids of the
   * same stream in the parent snapshot), a new chunk is stored, where that pays, as a
   * `zstd-ref` frame against the previous chunk at the same offset: an RDB with 1% of its
   * keys changed then costs little more than the changed keys.
   */
  async storeStream(
    source: AsyncIterable<Uint8Array>,
    options: { previous?: readonly string[]; wholeHash?: boolean } = {},
  ): Promise<StoredData> {
    const chunker = new Chunker(this.#params);
    const cutter: StreamCutter<{ data: Buffer }> = {
      push: (buf) => chunker.push(buf).map((data) => ({ data })),
      finish: () => {
        const data = chunker.finish();
        return data && { data };
      },
    };
    const basis = options.previous && this.#packs ? await this.#deltaBasis(options.previous) : undefined;
    return this.storeCut(source, cutter, {
      onChunk: basis && ((_chunk, _index, middle) => basis(middle)),
      wholeHash: options.wholeHash,
    });
  }

  /**
   * Stores a byte stream cut by `cutter`, keeping the chunks' order with a few in flight:
   * the writes of earlier chunks go on while this thread hashes and compresses the next
   * ones. `onChunk` sees each chunk in order (its index, and the stream offset of its
   * middle) and may name the chunk to store it against as a delta. `wholeHash: false`
   * leaves out the SHA-256 of the whole stream (a database dump's entry has none).
   */
  async storeCut<C extends { data: Buffer }>(
    source: AsyncIterable<Uint8Array>,
    cutter: StreamCutter<C>,
    options: {
      onChunk?: (chunk: C, index: number, middle: number) => string | undefined;
      wholeHash?: boolean;
    } = {},
  ): Promise<StoredData> {
    const { onChunk } = options;
    const hash = options.wholeHash === false ? undefined : createHash("sha256");
    const ids: string[] = [];
    const window: Promise<string>[] = [];
    let size = 0;
    let offset = 0;
    let index = 0;
    const store = async (chunk: C): Promise<void> => {
      const candidate = onChunk?.(chunk, index++, offset + chunk.data.length / 2);
      offset += chunk.data.length;
      const stored = this.storeChunk(chunk.data, candidate);
      stored.catch(() => undefined); // awaited in order below
      window.push(stored);
      if (window.length >= CHUNKS_AHEAD) ids.push(await window.shift()!);
    };
    for await (const buf of source) {
      hash?.update(buf);
      size += buf.length;
      for (const chunk of cutter.push(buf)) await store(chunk);
    }
    const last = cutter.finish();
    if (last) await store(last);
    while (window.length > 0) ids.push(await window.shift()!);
    await this.endFrame();
    return { chunks: ids, size, ...(hash ? { sha256: hash.digest("hex") } : {}) };
  }

  /** Stores bytes already in memory (a small file), cut the same way as a stream. */
  async storeBuffer(data: Buffer): Promise<StoredData> {
    const chunker = new Chunker(this.#params);
    const chunks: string[] = [];
    for (const chunk of chunker.push(data)) chunks.push(await this.storeChunk(chunk));
    const last = chunker.finish();
    if (last) chunks.push(await this.storeChunk(last));
    await this.endFrame();
    // A one-chunk file's hash is its chunk id: hashing it twice would double the CPU cost.
    const sha256 = chunks.length === 1 ? chunks[0]! : chunkId(data);
    return { chunks, size: data.length, sha256 };
  }

  /** True when every chunk is stored (so a parent's entry can be reused without reading the source). */
  async hasChunks(ids: readonly string[]): Promise<boolean> {
    await this.#repo.chunks.loadIndex();
    return this.hasLoadedChunks(ids);
  }

  /** hasChunks once the chunk index is loaded (`repo.chunks.loadIndex()`), without a promise. */
  hasLoadedChunks(ids: readonly string[]): boolean {
    for (const id of ids) if (!this.#repo.chunks.has(id) && !this.#pending.has(id)) return false;
    return true;
  }

  /**
   * Maps a stream offset to the previous version's chunk there; undefined when the
   * previous chunks' sizes are not all known (chunk objects are not in pack indexes).
   */
  async #deltaBasis(previous: readonly string[]): Promise<((at: number) => string) | undefined> {
    await this.#repo.chunks.loadIndex();
    const ends: number[] = [];
    let end = 0;
    for (const id of previous) {
      const size = this.#repo.chunks.locate(id)?.size;
      if (size === undefined) return undefined;
      end += size;
      ends.push(end);
    }
    if (previous.length === 0) return undefined;
    return (at) => {
      let lo = 0;
      let hi = ends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! > at) hi = mid;
        else lo = mid + 1;
      }
      return previous[lo]!;
    };
  }

  /**
   * The chunk encoded against `candidate` (or the full chunk `candidate` is itself encoded
   * against, so references stay one level deep), when that is at least DELTA_GAIN times
   * smaller than the chunk; else undefined.
   */
  async #encodeDelta(
    data: Buffer,
    candidate: string,
  ): Promise<{ body: Uint8Array; ref: string } | undefined> {
    const basis = await this.deltaBase(candidate);
    if (!basis) return undefined;
    const body = this.#repo.chunks.encodeRef(data, basis.base);
    return isWorthDelta(body.length, data.length) ? { body, ref: basis.ref } : undefined;
  }

  /**
   * What a new version of chunk `candidate` can be stored against: `candidate` itself, or
   * the full chunk it is encoded against (references stay one level deep), with its plain
   * bytes; undefined when it is not in a pack or cannot be read.
   */
  async deltaBase(candidate: string): Promise<{ ref: string; base: Buffer } | undefined> {
    const chunks = this.#repo.chunks;
    const ref = chunks.locate(candidate)?.frame.ref ?? candidate;
    if (!chunks.locate(ref)) return undefined;
    const base = await chunks.get(ref).catch(() => undefined);
    return base && { ref, base };
  }

  /** The content-defined chunker's parameters for this repository. */
  get chunkerParams(): ChunkerParams {
    return this.#params;
  }

  /**
   * Fails the snapshot: commit will throw `err`. For a caller whose claimed chunks
   * (claimChunk) can no longer be stored, since other entries may already use them.
   */
  fail(err: unknown): void {
    this.#failure ??= toPrsBackupError(err);
  }

  /** True for a repository that stores chunks in packs (format 2), which addEncoded needs. */
  get packed(): boolean {
    return this.#packs !== undefined;
  }

  /**
   * Claims a chunk for this snapshot: true when it is neither stored nor claimed yet, and
   * the caller must then store it (addEncoded) before commit.
   */
  async claimChunk(id: string): Promise<boolean> {
    this.#throwIfFailed();
    await this.#repo.chunks.loadIndex();
    if (this.#repo.chunks.has(id) || this.#pending.has(id)) return false;
    this.#pending.add(id);
    return true;
  }

  /**
   * Adds chunks claimed by claimChunk and encoded elsewhere (a worker thread): frames of
   * small chunks and `zstd-ref` deltas go into packs, large chunks become objects.
   */
  async addEncoded(job: EncodedJob): Promise<void> {
    this.#throwIfFailed();
    try {
      await this.#addEncoded(job);
    } catch (err) {
      // Its chunks were claimed: entries of other files may already use them.
      this.fail(err);
      throw err;
    }
  }

  async #addEncoded(job: EncodedJob): Promise<void> {
    const packs = this.#packs;
    if (!packs) throw new Error("addEncoded needs a repository with packs (format 2)");
    if (job.written) {
      if (!this.#workerPacks) throw new Error("internal: frames written to a pack that was not given");
      this.#deltaChunks += job.written.frames.filter((f) => f.encoding === "zstd-ref").length;
      const full = this.#workerPacks.record(job.written);
      if (full) await this.#sealWorkerPack(full);
    }
    const sealed = [
      ...job.frames.map((f) => packs.addFrame(f.encoding, f.body, f.chunks)),
      ...job.refs.map((r) => packs.addRef(r.id, r.size, r.body, r.ref)),
    ];
    this.#deltaChunks += job.refs.length;
    for (const pack of sealed) if (pack) await this.#writePack(pack);
    for (const o of job.objects) {
      if ("temp" in o) {
        this.#repo.backend.adoptDeferred!(chunkKey(o.id), o.temp);
        this.#storedBytes += o.bytes;
        this.#newChunks += 1;
        this.#stored(o.id);
        continue;
      }
      const body = objectBody(o.encoding, o.body);
      await this.#track(dataLength(body), async () => {
        await this.#repo.backend.put(chunkKey(o.id), body, { deferred: true });
        this.#storedBytes += dataLength(body);
        this.#newChunks += 1;
        this.#stored(o.id);
      });
    }
  }

  /**
   * Where a worker thread may write new chunk object `id` itself (a local repository; see
   * addEncoded), else undefined — the body then comes back to this thread to be written.
   */
  async objectTarget(id: string): Promise<string | undefined> {
    return this.#repo.backend.deferredTemp?.(chunkKey(id));
  }

  /**
   * The pack worker thread `worker` is to append a job's frames to, or undefined when the
   * frames must come back here (a backend that cannot adopt files). The encode's reply must
   * then be given to addEncoded.
   */
  async workerPack(worker: number): Promise<PackTarget | undefined> {
    return this.#workerPacks?.reserve(worker);
  }

  /** Stores one chunk unless present; returns its id once the write is queued. */
  async storeChunk(data: Buffer, deltaCandidate?: string): Promise<string> {
    this.#throwIfFailed();
    await this.#repo.chunks.loadIndex();
    const id = chunkId(data);
    if (this.#repo.chunks.has(id) || this.#pending.has(id)) return id;
    this.#pending.add(id);
    if (this.#packs && data.length < PACKED_CHUNK_MAX) {
      const delta = deltaCandidate ? await this.#encodeDelta(data, deltaCandidate) : undefined;
      if (delta) this.#deltaChunks += 1;
      const sealed = delta
        ? this.#packs.addRef(id, data.length, delta.body, delta.ref)
        : this.#packs.add(id, data);
      if (sealed) await this.#writePack(sealed);
      return id;
    }
    const body = this.#repo.chunks.encode(data);
    await this.#track(dataLength(body), async () => {
      await this.#repo.backend.put(chunkKey(id), body, { deferred: true });
      this.#storedBytes += dataLength(body);
      this.#newChunks += 1;
      this.#stored(id);
    });
    return id;
  }

  /** Seals a pack a worker thread wrote (trailer, sync, name, index); its chunks then count as stored. */
  async #sealWorkerPack(pack: WorkerPack): Promise<void> {
    const temp = await pack.temp;
    await this.#track(pack.bytes, async () => {
      const index = workerPackIndex(pack);
      const { bytes, size, indexSize } = await adoptPackFile(this.#repo.backend, temp, pack.bytes, index);
      await this.#packStored({ id: pack.id, index, size, indexSize }, bytes, pack.chunkCount);
    });
  }

  /**
   * Moves the frames of a worker's small last pack into the pack this thread fills (the
   * entry list's): a small backup then writes one pack, not one per worker thread.
   */
  async #mergeWorkerPack(pack: WorkerPack): Promise<void> {
    const temp = await pack.temp;
    const body = await fs.readFile(temp);
    for (const frame of workerPackIndex(pack).frames) {
      const bytes = body.subarray(frame.offset, frame.offset + frame.length);
      if (bytes.length !== frame.length) throw new Error(`internal: pack ${pack.id} ends inside a frame`);
      const sealed = this.#packs!.addFrame(frame.encoding, bytes, frame.chunks, frame.ref);
      if (sealed) await this.#writePack(sealed);
    }
    await fs.rm(temp);
  }

  /** Writes a full pack; its chunks count as stored once it is written. */
  async #writePack(sealed: SealedPack): Promise<void> {
    await this.#track(sealed.bytes, async () => {
      const { bytes, indexSize } = await putPack(this.#repo.backend, sealed);
      await this.#packStored(
        { id: sealed.id, index: sealed.index, size: sealed.bytes, indexSize },
        bytes,
        sealed.chunkCount,
      );
    });
  }

  /** A pack is written (with its index): its bytes count as stored, its chunks as found. */
  async #packStored(pack: PackInfo, bytes: number, chunkCount: number): Promise<void> {
    this.#storedBytes += bytes;
    this.#newChunks += chunkCount;
    await this.#repo.chunks.addPack(pack);
    for (const frame of pack.index.frames) for (const [id] of frame.chunks) this.#pending.delete(id);
  }

  /** A chunk object is written: the index finds it from now on. */
  #stored(id: string): void {
    this.#repo.chunks.markStored(id);
    this.#pending.delete(id);
  }

  /**
   * Runs a write of about `bytes` with at most WRITE_CONCURRENCY writes and
   * WRITE_BYTES_IN_FLIGHT bytes in flight (a write alone may exceed it); a failure fails
   * the snapshot.
   */
  async #track(bytes: number, write: () => Promise<void>): Promise<void> {
    await this.#writeSlots.acquire(1);
    await this.#writeBytes.acquire(bytes);
    const release = (): void => {
      this.#writeBytes.release(bytes);
      this.#writeSlots.release(1);
    };
    if (this.#failure !== undefined) {
      release();
      throw this.#failure;
    }
    const tracked: Promise<void> = write()
      .catch((err: unknown) => {
        this.#failure ??= toPrsBackupError(err);
      })
      .finally(() => {
        release();
        this.#inflight.delete(tracked);
      });
    this.#inflight.add(tracked);
  }

  /**
   * Appends an entry. Entries must come sorted by path (see util/paths comparePaths).
   * `serialized` is the entry's JSON when the caller has it already (a parent's line).
   */
  addEntry(entry: Entry, serialized?: string): Promise<void> | undefined {
    const line = `${serialized ?? JSON.stringify(entry)}\n`;
    this.#entryBatch.push(line);
    this.#entryBatchBytes += line.length;
    this.#entryCount += 1;
    // A promise only when there is something to wait for: a re-snapshot adds an entry per file.
    return this.#entryBatchBytes >= ENTRY_BATCH_BYTES ? this.#flushEntries() : undefined;
  }

  /** Records something that could not be backed up; a snapshot with problems is partial. */
  addProblem(problem: SnapshotProblem): void {
    this.#problems.push(problem);
  }

  async #flushEntries(): Promise<void> {
    const data = Buffer.from(this.#entryBatch.join(""), "utf8");
    this.#entryBatch = [];
    this.#entryBatchBytes = 0;
    for (const chunk of this.#entryChunker.push(data)) this.#entryChunks.push(await this.storeChunk(chunk));
    await this.endFrame();
  }

  /**
   * Closes the pack frame being filled: call at the end of a file or stream, so that
   * damage to one frame never reaches another file's data.
   */
  async endFrame(): Promise<void> {
    const sealed = this.#packs?.endFrame();
    if (sealed) await this.#writePack(sealed);
  }

  /** Waits for every queued chunk write; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
    this.#throwIfFailed();
  }

  /** Makes all data durable, then writes the manifest. Returns it. */
  async commit(options: CommitOptions): Promise<SnapshotManifest> {
    await this.#flushEntries();
    const last = this.#entryChunker.finish();
    if (last) this.#entryChunks.push(await this.storeChunk(last));
    this.#throwIfFailed();
    for (const pack of this.#workerPacks?.finish() ?? []) {
      if (pack.bytes < this.#mergeBelow) await this.#mergeWorkerPack(pack);
      else await this.#sealWorkerPack(pack);
    }
    const sealed = this.#packs?.finish();
    if (sealed) await this.#writePack(sealed);
    await this.drain();
    await this.#repo.backend.flush();
    const manifest: SnapshotManifest = {
      formatVersion: 1,
      id: this.id,
      target: this.#options.target,
      type: this.#options.type,
      status: options.status ?? (this.#problems.length > 0 ? "partial" : "complete"),
      startTime: this.startTime.toISOString(),
      endTime: new Date().toISOString(),
      host: os.hostname(),
      ...(this.#options.parent ? { parent: this.#options.parent } : {}),
      sourceBytes: options.sourceBytes,
      storedBytes: this.#storedBytes,
      entries: { count: this.#entryCount, chunks: this.#entryChunks },
      problems: this.#problems,
      metadata: { ...options.metadata, newChunks: this.#newChunks, deltaChunks: this.#deltaChunks },
      tool: { name: "prs-backup", version: VERSION },
    };
    await this.#repo.snapshots.write(manifest);
    // With this snapshot's packs, so that the next run finds them without reading their indexes.
    await this.#repo.chunks.saveTable();
    return manifest;
  }

  /**
   * Removes what a failed backup wrote that nothing will ever use: the packs its worker
   * threads were filling (tens of megabytes, which on a full disk the next run needs back).
   * Call once the engine has stopped, never for a committed snapshot.
   */
  async abandon(): Promise<void> {
    for (const temp of (await this.#workerPacks?.abandon()) ?? []) await fs.rm(temp, { force: true });
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

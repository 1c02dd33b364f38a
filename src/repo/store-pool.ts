import { OperationError } from "../errors.js";
import { WorkerPool } from "../util/worker-pool.js";
import { workerScriptUrl } from "../util/worker-url.js";
import type { ChunkerParams } from "./chunker.js";
import { PACKED_CHUNK_MAX } from "./pack-format.js";
import type { SnapshotWriter } from "./snapshot-writer.js";
import type { PackTarget, WrittenFrames } from "./worker-packs.js";

/**
 * A piece of a job's bytes as a worker gets it: bytes, a range of a descriptor the main
 * thread opened, or a range of one of the shared slabs (`StorePool.shareSlabs`).
 */
export type WirePiece =
  | { bytes: Uint8Array }
  | { fd: number; position: number; length: number }
  | { slab: number; position: number; length: number };

/**
 * Messages without a reply: `slabs`, sent to every worker once, is memory the main thread
 * fills with jobs' bytes (see pooled-stream.ts); `drop` frees a read job none of whose chunks
 * is new.
 */
export type StoreNote = { t: "slabs"; slabs: SharedArrayBuffer[] } | { t: "drop"; job: number };

/** `true`: a new chunk to store; `false`: already stored; or the basis to store it against. */
export type ChunkDecision = boolean | { ref: string; base: Uint8Array };

/** A job's new chunks, encoded: what the snapshot writer adds as they are. */
export interface EncodedJob {
  /** Frames of consecutive new chunks smaller than PACKED_CHUNK_MAX, as `[id, plain size]`. */
  frames: { encoding: "zstd" | "raw"; body: Uint8Array; chunks: [string, number][] }[];
  /**
   * New chunks of PACKED_CHUNK_MAX or more, each an object of its own: its encoded body, or
   * (when the worker was given a file to write it to) the file and the bytes written.
   */
  objects: ({ id: string } & (
    { encoding: "zstd" | "raw"; body: Uint8Array } | { temp: string; bytes: number }
  ))[];
  /** Changed chunks stored as `zstd-ref` bodies against `ref`. */
  refs: { id: string; size: number; body: Uint8Array; ref: string }[];
  /**
   * With a pack given to the encode: the frames (and `zstd-ref` frames) the worker appended
   * to that pack's file instead of sending back; `frames` and `refs` are then empty.
   */
  written?: WrittenFrames;
}

/** A job with no new chunk: nothing to add to the snapshot. */
export function noneEncoded(): EncodedJob {
  return { frames: [], objects: [], refs: [] };
}

/** True when a job encoded nothing (all its chunks were stored already). */
export function encodedNothing(job: EncodedJob): boolean {
  return (
    job.frames.length === 0 &&
    job.objects.length === 0 &&
    job.refs.length === 0 &&
    (job.written?.frames.length ?? 0) === 0
  );
}

/** What a read tells: the chunks' ids and sizes, and for a file its length and SHA-256. */
export interface ReadJob {
  ids: string[];
  sizes: number[];
  length: number;
  /** SHA-256 of the whole file (readFile only). */
  sha256?: string;
}

export type ToWorker =
  | { t: "read"; job: number; pieces: WirePiece[]; sizes: number[] }
  | { t: "readFile"; job: number; path: string; limit: number; chunker: ChunkerParams }
  | {
      t: "encode";
      job: number;
      decisions: ChunkDecision[];
      targets: (string | undefined)[];
      pack?: PackTarget;
    };

export type FromWorker =
  | ({ t: "read"; job: number } & ReadJob)
  | { t: "encoded"; job: number; encoded: EncodedJob }
  | { t: "error"; job: number; message: string; code?: string };

/** A file the worker could not read: `code` is the system error code (ENOENT, EACCES …). */
export class FileReadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Worker threads that read, hash and compress what a backup stores (see store-worker.ts),
 * so that every core works on the bytes while this thread only decides what is new and
 * writes packs. A job is read (and cut, and hashed) by the least busy worker, which keeps
 * its bytes until told which chunks are new, and then encodes those.
 */
export class StorePool {
  readonly #pool: WorkerPool<ToWorker, FromWorker, StoreNote>;
  readonly #owner = new Map<number, number>();
  #jobs = 0;

  constructor(threads: number, compressionLevel: number) {
    this.#pool = new WorkerPool(
      workerScriptUrl(import.meta.url, "./store-worker.js"),
      threads,
      { level: compressionLevel },
      "backup",
    );
  }

  get threads(): number {
    return this.#pool.threads;
  }

  /** A new job number. */
  job(): number {
    return this.#jobs++;
  }

  /** Reads and hashes a job's chunks (of `sizes` bytes each, made of `pieces`). */
  read(job: number, pieces: WirePiece[], sizes: number[]): Promise<ReadJob> {
    return this.#read({ t: "read", job, pieces, sizes });
  }

  /**
   * Shares `slabs` with every worker, for `{ slab }` pieces: a slab's bytes must stay
   * unchanged from the read of a job using them until its encode is answered.
   */
  shareSlabs(slabs: SharedArrayBuffer[]): void {
    this.#pool.broadcast({ t: "slabs", slabs });
  }

  /**
   * Reads a file (up to `limit` bytes), cuts it into content-defined chunks and hashes
   * them. A file that cannot be read rejects with a FileReadError.
   */
  readFile(job: number, path: string, limit: number, chunker: ChunkerParams): Promise<ReadJob> {
    return this.#read({ t: "readFile", job, path, limit, chunker });
  }

  /** The worker thread holding a read job's bytes (until its encode). */
  workerOf(job: number): number {
    const worker = this.#owner.get(job);
    if (worker === undefined) throw new Error(`internal: job ${job} is not held by a worker`);
    return worker;
  }

  /**
   * Encodes a read job's chunks as decided (one decision per chunk) and frees its bytes. A
   * new large chunk with a file in `targets` (at its index) is written there by the worker;
   * with `pack`, so are the frames (see EncodedJob.written).
   */
  async encode(
    job: number,
    decisions: ChunkDecision[],
    targets: (string | undefined)[] = [],
    pack?: PackTarget,
  ): Promise<EncodedJob> {
    const worker = this.workerOf(job);
    this.#owner.delete(job);
    // Nothing to encode (an unchanged stretch): no round trip for it.
    if (decisions.every((d) => d === false) && !pack) {
      this.#pool.post(worker, { t: "drop", job });
      return noneEncoded();
    }
    const request: ToWorker = { t: "encode", job, decisions, targets, ...(pack ? { pack } : {}) };
    const reply = await this.#pool.send(request, { worker }).reply;
    if (reply.t !== "encoded") throw failure(reply);
    return reply.encoded;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  async #read(message: Extract<ToWorker, { t: "read" | "readFile" }>): Promise<ReadJob> {
    const sent = this.#pool.send(message);
    this.#owner.set(message.job, sent.worker);
    const reply = await sent.reply;
    if (reply.t !== "read") {
      this.#owner.delete(message.job);
      throw message.t === "readFile" && reply.t === "error"
        ? new FileReadError(reply.message, reply.code)
        : failure(reply);
    }
    return reply;
  }
}

/**
 * Has a read job's new chunks encoded for `writer`: claims the chunks not stored yet,
 * gives each claimed one its previous version to be stored against (`basis`, by chunk
 * index) and each large new one a file the worker writes itself, so that its bytes never
 * come back here. Returns what `writer.addEncoded` takes. A failure after a claim fails
 * the snapshot: other entries may already use the claimed chunks.
 */
export async function encodeClaimed(
  pool: StorePool,
  writer: SnapshotWriter,
  job: number,
  read: ReadJob,
  basis?: (index: number) => string | undefined,
): Promise<EncodedJob> {
  try {
    const decisions: ChunkDecision[] = [];
    const targets: (string | undefined)[] = [];
    let framed = false;
    for (const [i, id] of read.ids.entries()) {
      const claimed = await writer.claimChunk(id);
      const candidate = claimed ? basis?.(i) : undefined;
      const found =
        candidate !== undefined && candidate !== id ? await writer.deltaBase(candidate) : undefined;
      // A copy of its own, so that only the chunk (not the frame it was decoded from) is sent.
      decisions.push(found ? { ref: found.ref, base: new Uint8Array(found.base) } : claimed);
      const large = claimed && !found && read.sizes[i]! >= PACKED_CHUNK_MAX;
      targets.push(large ? await writer.objectTarget(id) : undefined);
      framed ||= claimed && !large;
    }
    // Frames go into a pack the worker writes itself, where the repository allows it.
    const pack = framed ? await writer.workerPack(pool.workerOf(job)) : undefined;
    return await pool.encode(job, decisions, targets, pack);
  } catch (err) {
    writer.fail(err);
    throw err;
  }
}

function failure(reply: FromWorker): Error {
  const message = reply.t === "error" ? reply.message : `unexpected reply ${reply.t}`;
  return new OperationError("E_BACKUP_READ", `a backup worker failed: ${message}`);
}

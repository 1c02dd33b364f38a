import { RepoCorruptError } from "../errors.js";
import { WorkerPool } from "../util/worker-pool.js";
import { workerScriptUrl } from "../util/worker-url.js";
import type { ChunkStore } from "./chunk-store.js";
import { EntryCheck, verifiedChunks } from "./entry-content.js";
import type { WireFrame, WireRef } from "./frame-reader.js";
import type { FileEntry } from "./snapshot.js";

/**
 * Decode one frame and send back the wanted chunks ([id, start in the frame, size]) in
 * order — or, with `object`, the chunk object `data/<xx>/<id>` (its one chunk's size is
 * then -1: unknown until decoded).
 */
export interface DecodeJob {
  job: number;
  frame?: WireFrame;
  object?: string;
  ref?: WireRef;
  chunks: [string, number, number][];
}

/** A job, or a buffer handed back to decode into again. */
export type DecodeMessage = DecodeJob | { free: ArrayBuffer };

/** The job's chunks one after another at `offset` of `buffer`, or what went wrong. */
export type DecodeReply =
  | { job: number; buffer: ArrayBuffer; offset: number; length: number; error?: undefined }
  | { job: number; error: string; damage: boolean };

/** Decoded bytes of consecutive chunks; `release` once they are no longer used (written). */
export interface DecodedPiece {
  data: Buffer;
  release: () => void;
}

/** Jobs decoded ahead of one consumer: per worker thread, and in bytes. */
const JOBS_PER_THREAD = 4;
const AHEAD_BYTES = 32 * 1024 * 1024;
/** Assumed size of a chunk object, whose size is not known before it is decoded. */
const OBJECT_BYTES = 4 * 1024 * 1024;

/**
 * Worker threads (decode-worker.ts) that read a local repository's packs and chunk
 * objects directly, decode and verify them, so that restores decompress and hash on every
 * core while the main thread writes. Frames are decoded into buffers handed back on
 * release, so a restore allocates a few dozen buffers in all.
 */
export class DecodePool {
  readonly #pool: WorkerPool<DecodeJob, DecodeReply, { free: ArrayBuffer }>;
  readonly #threads: number;
  #jobs = 0;

  constructor(threads: number, root: string) {
    this.#threads = Math.max(1, threads);
    this.#pool = new WorkerPool(
      workerScriptUrl(import.meta.url, "./decode-worker.js"),
      threads,
      { root },
      "restore",
    );
  }

  /**
   * A file entry's chunks in order, verified, as `verifiedChunks` yields them, several
   * jobs ahead; the size and the whole-file hash (when the entry has one) are checked at
   * the end. Read on this thread when a `zstd-ref` dictionary is not in a pack.
   */
  async *pieces(chunks: ChunkStore, entry: FileEntry): AsyncGenerator<DecodedPiece> {
    const jobs = await decodeJobs(chunks, entry, () => this.#jobs++);
    if (!jobs) {
      yield* onThisThread(chunks, entry);
      return;
    }
    const check = new EntryCheck(entry);
    const ahead: { reply: Promise<DecodedPiece>; bytes: number }[] = [];
    let aheadBytes = 0;
    let next = 0;
    try {
      for (;;) {
        while (
          next < jobs.length &&
          (ahead.length === 0 || (ahead.length < this.#threads * JOBS_PER_THREAD && aheadBytes < AHEAD_BYTES))
        ) {
          const job = jobs[next++]!;
          const bytes = job.object ? OBJECT_BYTES : job.chunks.reduce((n, c) => n + c[2], 0);
          const reply = this.#decode(job);
          reply.catch(() => undefined); // awaited in order below
          ahead.push({ reply, bytes });
          aheadBytes += bytes;
        }
        const head = ahead.shift();
        if (!head) break;
        aheadBytes -= head.bytes;
        const piece = await head.reply;
        check.update(piece.data);
        yield piece;
      }
    } finally {
      // A consumer that stops early: hand back what was decoded for it.
      for (const rest of ahead)
        void rest.reply.then(
          (p) => p.release(),
          () => undefined,
        );
    }
    check.finish();
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  /** The job's chunks, verified; their buffer goes back to the worker on release. */
  async #decode(job: DecodeJob): Promise<DecodedPiece> {
    // Deltas against chunks of one frame go to one worker, which decodes that frame once.
    const sent = this.#pool.send(job, job.ref ? { worker: affinity(job.ref.frame, this.#threads) } : {});
    const reply = await sent.reply;
    if (reply.error !== undefined)
      throw reply.damage ? new RepoCorruptError(reply.error) : new Error(reply.error);
    const buffer = reply.buffer;
    return {
      data: Buffer.from(buffer, reply.offset, reply.length),
      release: () => this.#pool.post(sent.worker, { free: buffer }, [buffer]),
    };
  }
}

/**
 * One entry's chunks decoded by worker threads when the repository is local (`root`),
 * else on this thread (`verifiedChunks`).
 */
export async function* parallelChunks(
  chunks: ChunkStore,
  root: string | undefined,
  entry: FileEntry,
  threads: number,
): AsyncGenerator<DecodedPiece> {
  if (root === undefined) {
    yield* onThisThread(chunks, entry);
    return;
  }
  const pool = new DecodePool(threads, root);
  try {
    yield* pool.pieces(chunks, entry);
  } finally {
    await pool.close();
  }
}

async function* onThisThread(chunks: ChunkStore, entry: FileEntry): AsyncGenerator<DecodedPiece> {
  for await (const data of verifiedChunks(chunks, entry)) yield { data, release: () => undefined };
}

/** A worker for a frame's deltas: the same one for every delta against that frame. */
function affinity(frame: WireFrame, threads: number): number {
  let h = frame.offset;
  for (let i = 0; i < 8; i++) h = (h * 31 + frame.pack.charCodeAt(i)) >>> 0;
  return h % threads;
}

/**
 * An entry's chunks grouped by frame (or chunk object), in order, as jobs for a worker
 * thread that reads the local repository itself; undefined when a `zstd-ref` dictionary
 * is not in a pack (or is a delta itself), which only this thread's ChunkStore decodes.
 */
export async function decodeJobs(
  chunks: ChunkStore,
  entry: FileEntry,
  nextJob: () => number,
): Promise<DecodeJob[] | undefined> {
  await chunks.packs();
  const jobs: DecodeJob[] = [];
  let last: DecodeJob | undefined;
  for (const id of entry.chunks) {
    const at = chunks.locate(id);
    if (!at) {
      last = undefined;
      jobs.push({ job: nextJob(), object: id, chunks: [[id, 0, -1]] });
      continue;
    }
    const { ref, ...frame } = at.frame;
    if (last?.frame && last.frame.pack === frame.pack && last.frame.offset === frame.offset) {
      last.chunks.push([id, at.start, at.size]);
      continue;
    }
    let dictionary: WireRef | undefined;
    if (ref !== undefined) {
      const base = chunks.locate(ref);
      if (!base || base.frame.encoding === "zstd-ref") return undefined;
      const { ref: _none, ...baseFrame } = base.frame;
      dictionary = { id: ref, frame: baseFrame, start: base.start, size: base.size };
    }
    last = {
      job: nextJob(),
      frame,
      ...(dictionary ? { ref: dictionary } : {}),
      chunks: [[id, at.start, at.size]],
    };
    jobs.push(last);
  }
  return jobs;
}

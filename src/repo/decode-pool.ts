import { createHash } from "node:crypto";
import { RepoCorruptError } from "../errors.js";
import { WorkerPool } from "../util/worker-pool.js";
import { workerScriptUrl } from "../util/worker-url.js";
import type { ChunkStore } from "./chunk-store.js";
import { verifiedChunks } from "./entry-content.js";
import type { FrameRef } from "./pack-catalog.js";
import type { FileEntry } from "./snapshot.js";

/** A frame as a worker reads it from `packs/<xx>/<pack>`. */
export type WireFrame = Omit<FrameRef, "ref">;

/** Decode one frame; send back the wanted chunks ([id, start in the frame, size]) in order. */
export interface DecodeJob {
  job: number;
  frame: WireFrame;
  /** A `zstd-ref` frame's dictionary chunk and where it is. */
  ref?: { id: string; frame: WireFrame; start: number; size: number };
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

/** Frames decoded ahead of the consumer: per worker thread, and in bytes. */
const JOBS_PER_THREAD = 4;
const AHEAD_BYTES = 32 * 1024 * 1024;

/**
 * A file entry's chunks in order, verified, as `verifiedChunks` yields them — but decoded
 * by worker threads reading the packs of a local repository (`root`) directly, several
 * frames ahead, so decompression and hashing use every core while this thread writes.
 * Falls back to `verifiedChunks` on this thread when the repository is not local (`root`
 * undefined) or a chunk is not in a pack (or a dictionary is not).
 */
export async function* parallelChunks(
  chunks: ChunkStore,
  root: string | undefined,
  entry: FileEntry,
  threads: number,
): AsyncGenerator<DecodedPiece> {
  const jobs = root === undefined ? undefined : await framesOf(chunks, entry);
  if (!jobs) {
    for await (const data of verifiedChunks(chunks, entry)) yield { data, release: () => undefined };
    return;
  }
  const hash =
    entry.sha256 === undefined || (entry.chunks.length === 1 && entry.chunks[0] === entry.sha256)
      ? undefined
      : createHash("sha256");
  const pool = new DecodePool(threads, root!);
  const ahead: { reply: Promise<DecodedPiece>; bytes: number }[] = [];
  let aheadBytes = 0;
  let next = 0;
  let size = 0;
  try {
    for (;;) {
      while (
        next < jobs.length &&
        (ahead.length === 0 || (ahead.length < threads * JOBS_PER_THREAD && aheadBytes < AHEAD_BYTES))
      ) {
        const job = jobs[next++]!;
        const bytes = job.chunks.reduce((n, c) => n + c[2], 0);
        const reply = pool.decode(job);
        reply.catch(() => undefined); // awaited in order below
        ahead.push({ reply, bytes });
        aheadBytes += bytes;
      }
      const head = ahead.shift();
      if (!head) break;
      aheadBytes -= head.bytes;
      const piece = await head.reply;
      hash?.update(piece.data);
      size += piece.data.length;
      yield piece;
    }
  } finally {
    await pool.close();
  }
  const whole = hash ? hash.digest("hex") : entry.sha256;
  if (size !== entry.size || whole !== entry.sha256) {
    throw new RepoCorruptError(`${entry.path}: content does not match the snapshot's hash`);
  }
}

/** The entry's chunks grouped by the frame they are in, in order; undefined when one is not packed. */
async function framesOf(chunks: ChunkStore, entry: FileEntry): Promise<DecodeJob[] | undefined> {
  await chunks.packs();
  const jobs: DecodeJob[] = [];
  let last: DecodeJob | undefined;
  for (const id of entry.chunks) {
    const at = chunks.locate(id);
    if (!at) return undefined;
    const { ref, ...frame } = at.frame;
    if (last && last.frame.pack === frame.pack && last.frame.offset === frame.offset) {
      last.chunks.push([id, at.start, at.size]);
      continue;
    }
    let dictionary: DecodeJob["ref"];
    if (ref !== undefined) {
      const base = chunks.locate(ref);
      if (!base || base.frame.encoding === "zstd-ref") return undefined;
      const { ref: _none, ...baseFrame } = base.frame;
      dictionary = { id: ref, frame: baseFrame, start: base.start, size: base.size };
    }
    last = {
      job: jobs.length,
      frame,
      ...(dictionary ? { ref: dictionary } : {}),
      chunks: [[id, at.start, at.size]],
    };
    jobs.push(last);
  }
  return jobs;
}

/** Worker threads decoding frames (decode-worker.ts). */
class DecodePool {
  readonly #pool: WorkerPool<DecodeJob, DecodeReply, { free: ArrayBuffer }>;

  constructor(threads: number, root: string) {
    this.#pool = new WorkerPool(
      workerScriptUrl(import.meta.url, "./decode-worker.js"),
      threads,
      { root },
      "restore",
    );
  }

  /** The job's chunks, verified; their buffer goes back to the worker on release. */
  async decode(job: DecodeJob): Promise<DecodedPiece> {
    // Deltas against chunks of one frame go to one worker, which decodes that frame once.
    const sent = this.#pool.send(job, job.ref ? { worker: affinity(job.ref.frame, this.#pool.threads) } : {});
    const reply = await sent.reply;
    if (reply.error !== undefined)
      throw reply.damage ? new RepoCorruptError(reply.error) : new Error(reply.error);
    const buffer = reply.buffer;
    return {
      data: Buffer.from(buffer, reply.offset, reply.length),
      release: () => this.#pool.post(sent.worker, { free: buffer }, [buffer]),
    };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** A worker for a frame's deltas: the same one for every delta against that frame. */
function affinity(frame: WireFrame, threads: number): number {
  let h = frame.offset;
  for (let i = 0; i < 8; i++) h = (h * 31 + frame.pack.charCodeAt(i)) >>> 0;
  return h % threads;
}

import { createHash } from "node:crypto";
import { Chunker, type ChunkerParams } from "./chunker.js";
import { OrderedJobs } from "./ordered-jobs.js";
import type { SnapshotWriter, StoredData } from "./snapshot-writer.js";
import { encodeClaimed, encodedNothing, noneEncoded, type StorePool } from "./store-pool.js";

/** Bytes of whole chunks per job: large enough that messages between threads cost little. */
const JOB_BYTES = 4 * 1024 * 1024;
/** Jobs each worker thread has at once: one being hashed while another waits for its decisions. */
const JOBS_PER_THREAD = 2;

/**
 * Stores a byte stream (a database dump on a pipe) with worker threads doing the work:
 * this thread only finds the chunk boundaries and copies whole chunks, about JOB_BYTES at
 * a time, into a slab of memory shared with the workers; a worker hashes them in place
 * and, once this thread has claimed the new chunks, compresses those. Chunks land in the
 * snapshot in stream order, exactly as `SnapshotWriter.storeStream` stores them. Keeping
 * this thread free of hashing and compression keeps the producer's pipe drained, so that
 * it does not wait on us while a core is free. The slabs are allocated once (one per job
 * in flight, and one being filled): memory stays fixed however long the stream, and no
 * job's bytes are garbage to collect. In an unchanged stretch this thread hashes the chunks
 * itself (see submit), which for a daily dump of mostly the same data costs less than the
 * copies and messages.
 * Needs a repository with packs (`writer.packed`).
 */
export async function storeStreamPooled(
  writer: SnapshotWriter,
  pool: StorePool,
  source: AsyncIterable<Uint8Array>,
  params: ChunkerParams,
): Promise<StoredData> {
  const chunker = new Chunker(params);
  const limit = pool.threads * JOBS_PER_THREAD;
  const jobs = new OrderedJobs(writer, limit);
  // One slab per job in flight and one being filled. A job is under JOB_BYTES of chunks,
  // plus the one chunk (at most maxSize) that reached it.
  const slabs = new Slabs(limit + 1, JOB_BYTES + params.maxSize);
  pool.shareSlabs(slabs.all);
  const pending = new PendingBytes();
  /** The last job had no new chunk. */
  let unchanged = true;
  let sizes: number[] = [];
  let ready = 0;
  let size = 0;

  const submit = async (): Promise<void> => {
    if (sizes.length === 0) return;
    const jobSizes = sizes;
    const length = ready;
    sizes = [];
    ready = 0;
    const parts = pending.take(length);
    // In an unchanged stretch (a daily dump of mostly the same data) this thread hashes the
    // job itself: when every chunk is stored already, nothing is copied or sent at all. The
    // first job with a new chunk goes to the workers, and so do the jobs after it until one
    // comes back with nothing new.
    if (unchanged) {
      const ids = hashChunks(parts, jobSizes);
      if (await writer.hasChunks(ids)) {
        await jobs.submit(() => Promise.resolve({ ids, encoded: noneEncoded() }));
        return;
      }
      unchanged = false;
    }
    // Copied at once: the pipe's buffers then die young, which is cheap to collect.
    const slab = await slabs.acquire();
    slabs.fill(slab, parts);
    await jobs.submit(async () => {
      try {
        const job = pool.job();
        const read = await pool.read(job, [{ slab, position: 0, length }], jobSizes);
        const encoded = await encodeClaimed(pool, writer, job, read);
        if (encodedNothing(encoded)) unchanged = true;
        return { ids: read.ids, encoded };
      } finally {
        slabs.release(slab);
      }
    });
  };

  try {
    for await (const input of source) {
      pending.push(input);
      size += input.length;
      for (const cut of chunker.pushSizes(input)) {
        sizes.push(cut);
        ready += cut;
        if (ready >= JOB_BYTES) await submit();
      }
    }
    const last = chunker.finishSize();
    if (last > 0) {
      sizes.push(last);
      ready += last;
    }
    await submit();
    const chunks = await jobs.finish();
    await writer.endFrame();
    return { chunks, size };
  } catch (err) {
    await jobs.settle();
    throw err;
  }
}

/** Fixed buffers shared with the worker threads, each holding one job's bytes at a time. */
class Slabs {
  readonly all: SharedArrayBuffer[];
  readonly #free: number[];
  readonly #waiting: (() => void)[] = [];

  constructor(count: number, bytes: number) {
    this.all = Array.from({ length: count }, () => new SharedArrayBuffer(bytes));
    this.#free = this.all.map((_, i) => i);
  }

  /** A free slab, once one is. */
  async acquire(): Promise<number> {
    for (;;) {
      const slab = this.#free.pop();
      if (slab !== undefined) return slab;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Copies `parts` to the start of `slab`. */
  fill(slab: number, parts: Uint8Array[]): void {
    // Buffer#copy is a plain memmove; TypedArray#set into shared memory copies far slower.
    const into = Buffer.from(this.all[slab]!);
    let at = 0;
    for (const part of parts) {
      at += Buffer.from(part.buffer, part.byteOffset, part.byteLength).copy(into, at);
    }
  }

  release(slab: number): void {
    this.#free.push(slab);
    this.#waiting.shift()?.();
  }
}

/** Bytes received and not yet in a job, as the buffers they came in. */
class PendingBytes {
  #buffers: Uint8Array[] = [];

  push(buf: Uint8Array): void {
    this.#buffers.push(buf);
  }

  /** The first `length` bytes, as views of the buffers they came in (to be copied at once). */
  take(length: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let taken = 0;
    while (taken < length) {
      const head = this.#buffers[0]!;
      const n = Math.min(head.length, length - taken);
      out.push(n === head.length ? head : head.subarray(0, n));
      taken += n;
      if (n === head.length) this.#buffers.shift();
      else this.#buffers[0] = head.subarray(n);
    }
    return out;
  }
}

/** The ids (SHA-256) of consecutive chunks of `sizes` bytes, made of `parts`. */
function hashChunks(parts: Uint8Array[], sizes: number[]): string[] {
  const ids: string[] = [];
  let part = 0;
  let at = 0;
  for (const size of sizes) {
    const hash = createHash("sha256");
    let left = size;
    while (left > 0) {
      const p = parts[part]!;
      const n = Math.min(left, p.length - at);
      hash.update(p.subarray(at, at + n));
      left -= n;
      at += n;
      if (at === p.length) {
        part += 1;
        at = 0;
      }
    }
    ids.push(hash.digest("hex"));
  }
  return ids;
}

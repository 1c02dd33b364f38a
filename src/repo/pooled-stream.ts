import { chunkId } from "./chunk-id.js";
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
 * this thread copies the stream as it arrives into a slab of memory shared with the
 * workers and finds the chunk boundaries there; once a slab holds about JOB_BYTES of whole
 * chunks, a worker hashes them in place
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
  // One slab per job in flight and one being filled. A slab holds under JOB_BYTES of whole
  // chunks plus the chunk still open (under maxSize), so the one being filled never runs out.
  const slabs = new Slabs(limit + 1, JOB_BYTES + params.maxSize);
  pool.shareSlabs(slabs.all);
  /** The last job had no new chunk. */
  let unchanged = true;
  let sizes: number[] = [];
  /** The slab being filled: `filled` bytes, the first `ready` of them whole chunks. */
  let slab = await slabs.acquire();
  let filled = 0;
  let ready = 0;
  let size = 0;

  /** Submits the slab's whole chunks; the open chunk's bytes move to the start of a fresh slab. */
  const submit = async (): Promise<void> => {
    if (sizes.length === 0) return;
    const jobSlab = slab;
    const jobSizes = sizes;
    const length = ready;
    const next = await slabs.acquire();
    slabs.move(jobSlab, length, filled, next);
    slab = next;
    filled -= length;
    sizes = [];
    ready = 0;
    // In an unchanged stretch (a daily dump of mostly the same data) this thread hashes the
    // job itself: when every chunk is stored already, nothing is sent at all. The first job
    // with a new chunk goes to the workers, and so do the jobs after it until one comes back
    // with nothing new.
    if (unchanged) {
      const ids = hashChunks(slabs.view(jobSlab, length), jobSizes);
      if (await writer.hasChunks(ids)) {
        slabs.release(jobSlab);
        await jobs.submit(() => Promise.resolve({ ids, encoded: noneEncoded() }));
        return;
      }
      unchanged = false;
    }
    await jobs.submit(async () => {
      try {
        const job = pool.job();
        const read = await pool.read(job, [{ slab: jobSlab, position: 0, length }], jobSizes);
        const encoded = await encodeClaimed(pool, writer, job, read);
        if (encodedNothing(encoded)) unchanged = true;
        return { ids: read.ids, encoded };
      } finally {
        slabs.release(jobSlab);
      }
    });
  };

  try {
    for await (const input of source) {
      size += input.length;
      // Each input is copied into the slab on arrival, so the pipe's buffers die young:
      // held until a job was full, they outlived young-generation collections, and the
      // dead ones piling up in the old generation forced a full collection every 40 MB
      // or so of dump (docs/architecture.md).
      for (let at = 0; at < input.length;) {
        const n = slabs.copyIn(slab, filled, input.subarray(at));
        // Cannot happen (see the slab size above); if it did, this loop would never end.
        if (n === 0) throw new Error("internal: the slab being filled is full");
        // The chunker scans the input, not the slab: copying out of shared memory is slow.
        for (const cut of chunker.pushSizes(input.subarray(at, at + n))) {
          sizes.push(cut);
          ready += cut;
        }
        filled += n;
        at += n;
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
  readonly #buffers: Buffer[];
  readonly #free: number[];
  readonly #waiting: (() => void)[] = [];

  constructor(count: number, bytes: number) {
    this.all = Array.from({ length: count }, () => new SharedArrayBuffer(bytes));
    this.#buffers = this.all.map((sab) => Buffer.from(sab));
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

  /** The first `length` bytes of `slab`. */
  view(slab: number, length: number): Buffer {
    return this.#buffers[slab]!.subarray(0, length);
  }

  /** Copies as much of `input` as fits into `slab` at `at`; returns the bytes copied. */
  copyIn(slab: number, at: number, input: Uint8Array): number {
    const into = this.#buffers[slab]!;
    const n = Math.min(input.length, into.length - at);
    if (n > 0) copyInto(into, at, input.subarray(0, n));
    return n;
  }

  /** Copies bytes `start..end` of `from` to the start of `to`. */
  move(from: number, start: number, end: number, to: number): void {
    if (end > start) copyInto(this.#buffers[to]!, 0, this.#buffers[from]!.subarray(start, end));
  }

  release(slab: number): void {
    this.#free.push(slab);
    this.#waiting.shift()?.();
  }
}

/**
 * Copies `bytes` (not empty) into `into` at `at`. Buffer#copy and TypedArray#set into
 * shared memory copy byte by byte unless both ends are word-aligned (3 GB/s against
 * 25 GB/s here, the main thread's largest cost in a dump). Filling a range with a value
 * exactly as long is one native memcpy.
 */
function copyInto(into: Buffer, at: number, bytes: Uint8Array): void {
  into.fill(bytes, at, at + bytes.length);
}

/** The ids (SHA-256) of consecutive chunks of `sizes` bytes at the start of `bytes`. */
function hashChunks(bytes: Uint8Array, sizes: number[]): string[] {
  const ids: string[] = [];
  let at = 0;
  for (const size of sizes) {
    ids.push(chunkId(bytes.subarray(at, at + size)));
    at += size;
  }
  return ids;
}

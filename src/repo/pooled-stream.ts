import { Chunker, type ChunkerParams } from "./chunker.js";
import { OrderedJobs } from "./ordered-jobs.js";
import type { SnapshotWriter, StoredData } from "./snapshot-writer.js";
import { encodeClaimed, type StorePool } from "./store-pool.js";

/** Bytes of whole chunks per job: large enough that messages between threads cost little. */
const JOB_BYTES = 4 * 1024 * 1024;
/** Jobs each worker thread has at once: one being hashed while another waits for its decisions. */
const JOBS_PER_THREAD = 2;

/**
 * Stores a byte stream (a database dump on a pipe) with worker threads doing the work:
 * this thread only finds the chunk boundaries and copies whole chunks into jobs of about
 * JOB_BYTES, which move to a worker that hashes them; once this thread has claimed the new
 * chunks the worker compresses those. Chunks land in the snapshot in stream order, exactly
 * as `SnapshotWriter.storeStream` stores them. Keeping this thread free of hashing and
 * compression keeps the producer's pipe drained, so that it never waits on us while a core
 * is free. Needs a repository with packs (`writer.packed`).
 */
export async function storeStreamPooled(
  writer: SnapshotWriter,
  pool: StorePool,
  source: AsyncIterable<Uint8Array>,
  params: ChunkerParams,
): Promise<StoredData> {
  const chunker = new Chunker(params);
  const jobs = new OrderedJobs(writer, pool.threads * JOBS_PER_THREAD);
  const pending = new PendingBytes();
  let sizes: number[] = [];
  let ready = 0;
  let size = 0;

  const submit = async (): Promise<void> => {
    if (sizes.length === 0) return;
    const jobSizes = sizes;
    const bytes = pending.take(ready);
    sizes = [];
    ready = 0;
    await jobs.submit(async () => {
      const job = pool.job();
      const read = await pool.read(job, [{ bytes }], jobSizes, [bytes.buffer as ArrayBuffer]);
      const encoded = await encodeClaimed(pool, writer, job, read);
      return { ids: read.ids, encoded };
    });
  };

  try {
    for await (const input of source) {
      pending.push(input);
      size += input.length;
      for (const cut of chunker.pushSizes(input)) {
        sizes.push(cut);
        ready += cut;
      }
      if (ready >= JOB_BYTES) await submit();
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

/** Bytes received and not yet in a job, as the buffers they came in. */
class PendingBytes {
  #buffers: Uint8Array[] = [];

  push(buf: Uint8Array): void {
    this.#buffers.push(buf);
  }

  /**
   * The first `length` bytes, copied into a buffer of their own, to be moved to a worker.
   * (Reusing job buffers that workers handed back made this thread's garbage collection
   * three times as frequent: each buffer received counts as newly allocated memory.)
   */
  take(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const head = this.#buffers[0]!;
      const n = Math.min(head.length, length - at);
      out.set(n === head.length ? head : head.subarray(0, n), at);
      at += n;
      if (n === head.length) this.#buffers.shift();
      else this.#buffers[0] = head.subarray(n);
    }
    return out;
  }
}

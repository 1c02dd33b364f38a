import { RepoCorruptError } from "../../errors.js";
import type { DecodeJob } from "../../repo/decode-pool.js";
import type { FileEntry } from "../../repo/snapshot.js";
import { WorkerPool } from "../../util/worker-pool.js";
import { workerScriptUrl } from "../../util/worker-url.js";

/** One file for a worker to write: its entry, where, and its chunks grouped by frame. */
export interface WriteFile {
  entry: FileEntry;
  dest: string;
  temp: string;
  /** atime and mtime, in seconds (see times() in restore.ts). */
  time: number;
  jobs: DecodeJob[];
}

export interface WriteBatch {
  job: number;
  files: WriteFile[];
}

export type WriteReply =
  | { job: number; bytes: number; error?: undefined }
  | { job: number; error: string; damage: boolean; path: string; code?: string; syscallPath?: string };

/** A batch is sent once it holds this many files or this many bytes. */
const BATCH_FILES = 32;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Batches sent and not yet written, per worker thread: enough to keep each one busy. */
const BATCHES_PER_THREAD = 2;

/**
 * Worker threads (write-worker.ts) that write a files restore's files straight from a
 * local repository: the main thread walks the entries, makes the directories and hands
 * the files over in batches. A file's bytes never cross between threads, and each
 * worker's syscalls are plain blocking calls rather than one thread-pool round trip each,
 * which is what a restore of many small files spends its time on.
 */
export class WritePool {
  readonly #pool: WorkerPool<WriteBatch, WriteReply>;
  readonly #inFlight: Promise<number>[] = [];
  readonly #limit: number;
  readonly #onWritten: (files: number, bytes: number) => void;
  #batch: WriteFile[] = [];
  #batchBytes = 0;
  #jobs = 0;

  constructor(options: {
    threads: number;
    root: string;
    chown: boolean;
    onWritten: (files: number, bytes: number) => void;
  }) {
    this.#pool = new WorkerPool(
      workerScriptUrl(import.meta.url, "./write-worker.js"),
      options.threads,
      { root: options.root, chown: options.chown },
      "restore",
    );
    this.#limit = Math.max(1, options.threads) * BATCHES_PER_THREAD;
    this.#onWritten = options.onWritten;
  }

  /** Queues a file; waits when enough batches are already being written. */
  async add(file: WriteFile): Promise<void> {
    this.#batch.push(file);
    this.#batchBytes += file.entry.size;
    if (this.#batch.length >= BATCH_FILES || this.#batchBytes >= BATCH_BYTES) await this.#send();
  }

  /** Sends what is queued and waits for every file to be written; throws the first failure. */
  async finish(): Promise<void> {
    if (this.#batch.length > 0) await this.#send();
    while (this.#inFlight.length > 0) await this.#inFlight.shift()!;
  }

  /** Stops the workers; after a failure, once the batches in flight have settled. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#inFlight);
    await this.#pool.close();
  }

  async #send(): Promise<void> {
    const files = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    const { reply } = this.#pool.send({ job: this.#jobs++, files });
    const written = reply.then((r) => {
      if (r.error === undefined) {
        this.#onWritten(files.length, r.bytes);
        return r.bytes;
      }
      if (r.damage) throw new RepoCorruptError(`cannot restore ${r.path}: ${r.error}`);
      // A system error keeps its code and path, so the CLI names it as it would on this thread.
      throw Object.assign(new Error(`cannot restore ${r.path}: ${r.error}`), {
        code: r.code,
        path: r.syscallPath,
      });
    });
    written.catch(() => undefined); // awaited in order
    this.#inFlight.push(written);
    if (this.#inFlight.length >= this.#limit) await this.#inFlight.shift()!;
  }
}

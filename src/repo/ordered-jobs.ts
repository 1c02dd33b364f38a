import { asError } from "../errors.js";
import type { SnapshotWriter } from "./snapshot-writer.js";
import type { EncodedJob } from "./store-pool.js";

/** What a job gives back: its chunks' ids, in order, and their encoded new chunks. */
export interface DoneJob {
  ids: string[];
  encoded: EncodedJob;
}

/**
 * Runs a stream's jobs on worker threads, at most `limit` at once, and adds each job's
 * encoded chunks to the snapshot in submission order (a later job may finish first), so
 * packs hold a stream's chunks in order. The first failure stops further submissions.
 */
export class OrderedJobs {
  readonly #writer: SnapshotWriter;
  readonly #limit: number;
  readonly #inflight = new Set<Promise<void>>();
  readonly #done = new Map<number, EncodedJob>();
  readonly #ids: string[][] = [];
  #failure: Error | undefined;
  #submitted = 0;
  #next = 0;
  #committing = Promise.resolve();

  constructor(writer: SnapshotWriter, limit: number) {
    this.#writer = writer;
    this.#limit = limit;
  }

  /** Starts `run` once fewer than `limit` jobs run; throws the first failure of an earlier job. */
  async submit(run: () => Promise<DoneJob>): Promise<void> {
    while (this.#inflight.size >= this.#limit) await Promise.race(this.#inflight);
    if (this.#failure !== undefined) throw this.#failure;
    const index = this.#submitted++;
    const running: Promise<void> = (async () => {
      const done = await run();
      this.#ids[index] = done.ids;
      this.#done.set(index, done.encoded);
      this.#committing = this.#committing.then(() => this.#commitReady());
      await this.#committing;
    })()
      .catch((err: unknown) => {
        this.#failure ??= asError(err);
      })
      .finally(() => this.#inflight.delete(running));
    this.#inflight.add(running);
  }

  /** Waits for every job; returns all chunk ids in submission order, or throws the first failure. */
  async finish(): Promise<string[]> {
    while (this.#inflight.size > 0) await Promise.race(this.#inflight);
    if (this.#failure !== undefined) throw this.#failure;
    await this.#committing;
    return this.#ids.flat();
  }

  /** Waits for the jobs still running, ignoring their outcome (after a failure elsewhere). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#inflight);
  }

  async #commitReady(): Promise<void> {
    for (let done = this.#done.get(this.#next); done; done = this.#done.get(this.#next)) {
      this.#done.delete(this.#next++);
      await this.#writer.addEncoded(done);
    }
  }
}

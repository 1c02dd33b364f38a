import { Worker, type Transferable } from "node:worker_threads";

/**
 * Worker threads running one script, answering requests by job number: each request goes
 * to the given worker or the one with the fewest requests outstanding. A worker that
 * fails or exits fails every outstanding and later request.
 */
export class WorkerPool<Request extends { job: number }, Reply extends { job: number }, Note = never> {
  readonly #workers: { worker: Worker; load: number }[];
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #failure: Error | undefined;

  constructor(script: URL, threads: number, workerData: unknown, name: string) {
    this.#workers = Array.from({ length: Math.max(1, threads) }, () => {
      const worker = new Worker(script, { workerData });
      const slot = { worker, load: 0 };
      worker.on("message", (reply: Reply) => {
        slot.load -= 1;
        const waiter = this.#waiting.get(reply.job);
        this.#waiting.delete(reply.job);
        waiter?.resolve(reply);
      });
      worker.on("error", (err) => this.#fail(err));
      worker.on("exit", (code) => {
        if (code !== 0) this.#fail(new Error(`a ${name} worker thread exited with code ${code}`));
      });
      return slot;
    });
  }

  get threads(): number {
    return this.#workers.length;
  }

  /** Sends a request to worker `worker` (default: the least busy); returns which, and the reply. */
  send(
    request: Request,
    options: { worker?: number; transfer?: Transferable[] } = {},
  ): { worker: number; reply: Promise<Reply> } {
    const index =
      options.worker ??
      this.#workers.reduce((best, w, i) => (w.load < this.#workers[best]!.load ? i : best), 0);
    if (this.#failure) return { worker: index, reply: Promise.reject(this.#failure) };
    const slot = this.#workers[index]!;
    slot.load += 1;
    const reply = new Promise<Reply>((resolve, reject) => {
      this.#waiting.set(request.job, { resolve, reject });
    });
    slot.worker.postMessage(request, options.transfer);
    return { worker: index, reply };
  }

  /** Sends worker `worker` a message that has no reply (once the pool failed, nothing). */
  post(worker: number, note: Note, transfer?: Transferable[]): void {
    if (!this.#failure) this.#workers[worker]!.worker.postMessage(note, transfer);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiting.values()) waiter.reject(err);
    this.#waiting.clear();
  }
}

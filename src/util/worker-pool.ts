import { Worker, type Transferable } from "node:worker_threads";

interface Slot {
  worker: Worker;
  load: number;
}

/**
 * Worker threads running one script, answering requests by job number: each request goes
 * to the given worker or the one with the fewest requests outstanding. A worker thread
 * starts when it is first given work: a backup with nothing new to store (an unchanged
 * re-snapshot) starts none (0.82 → 0.78 s and 162 → 145 MB for the 2 GB bench tree). A
 * worker that fails or exits fails every outstanding and later request.
 */
export class WorkerPool<Request extends { job: number }, Reply extends { job: number }, Note = never> {
  readonly #script: URL;
  readonly #workerData: unknown;
  readonly #name: string;
  readonly #slots: (Slot | undefined)[];
  /** The last broadcast note: a worker started later gets it first of all. */
  #broadcast: { note: Note } | undefined;
  readonly #waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  #failure: Error | undefined;

  constructor(script: URL, threads: number, workerData: unknown, name: string) {
    this.#script = script;
    this.#workerData = workerData;
    this.#name = name;
    this.#slots = Array.from({ length: Math.max(1, threads) }, () => undefined);
  }

  get threads(): number {
    return this.#slots.length;
  }

  /** Worker threads started so far. */
  get started(): number {
    return this.#slots.filter(Boolean).length;
  }

  /** Sends a request to worker `worker` (default: the least busy); returns which, and the reply. */
  send(
    request: Request,
    options: { worker?: number; transfer?: Transferable[] } = {},
  ): { worker: number; reply: Promise<Reply> } {
    // A worker not started yet counts as idle.
    const load = (i: number): number => this.#slots[i]?.load ?? 0;
    const index = options.worker ?? this.#slots.reduce((best, _, i) => (load(i) < load(best) ? i : best), 0);
    if (this.#failure) return { worker: index, reply: Promise.reject(this.#failure) };
    const slot = this.#slot(index);
    slot.load += 1;
    const reply = new Promise<Reply>((resolve, reject) => {
      this.#waiting.set(request.job, { resolve, reject });
    });
    slot.worker.postMessage(request, options.transfer);
    return { worker: index, reply };
  }

  /** Sends worker `worker` a message that has no reply (once the pool failed, nothing). */
  post(worker: number, note: Note, transfer?: Transferable[]): void {
    if (!this.#failure) this.#slot(worker).worker.postMessage(note, transfer);
  }

  /**
   * Sends every worker a note without a reply, those not started yet when they start. A
   * broadcast is state every worker must hold (a stream's shared slabs), so a later one
   * replaces it: a pool used for several streams does not keep the slabs of the past ones.
   */
  broadcast(note: Note): void {
    this.#broadcast = { note };
    for (const slot of this.#slots) if (slot && !this.#failure) slot.worker.postMessage(note);
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.flatMap((slot) => (slot ? [slot.worker.terminate()] : [])));
  }

  #slot(index: number): Slot {
    const existing = this.#slots[index];
    if (existing) return existing;
    const worker = new Worker(this.#script, { workerData: this.#workerData });
    const slot: Slot = { worker, load: 0 };
    worker.on("message", (reply: Reply) => {
      slot.load -= 1;
      const waiter = this.#waiting.get(reply.job);
      this.#waiting.delete(reply.job);
      waiter?.resolve(reply);
    });
    worker.on("error", (err) => this.#fail(err));
    worker.on("exit", (code) => {
      if (code !== 0) this.#fail(new Error(`a ${this.#name} worker thread exited with code ${code}`));
    });
    if (this.#broadcast) worker.postMessage(this.#broadcast.note);
    this.#slots[index] = slot;
    return slot;
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiting.values()) waiter.reject(err);
    this.#waiting.clear();
  }
}

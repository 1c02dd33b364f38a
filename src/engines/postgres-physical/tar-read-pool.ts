import { Worker } from "node:worker_threads";
import { OperationError } from "../../errors.js";

/** A piece of a job's bytes as a worker gets it: bytes, or a range of a descriptor the main thread opened. */
export type WirePiece = { bytes: Uint8Array } | { fd: number; position: number; length: number };

/** `true`: a new chunk for the job's frame; `false`: already stored; or the basis to store it against. */
export type ChunkDecision = boolean | { ref: string; base: Uint8Array };

export interface EncodedJob {
  /** The job's new chunks as one frame (none when every chunk was stored already or as a delta). */
  frame?: { encoding: "zstd" | "raw"; body: Uint8Array; chunks: [string, number][] };
  /** Changed chunks stored as `zstd-ref` bodies against `ref`. */
  refs: { id: string; size: number; body: Uint8Array; ref: string }[];
}

export type ToWorker =
  | { t: "read"; job: number; pieces: WirePiece[]; sizes: number[] }
  | { t: "encode"; job: number; decisions: ChunkDecision[] };

export type FromWorker =
  | { t: "read"; job: number; ids: string[] }
  | { t: "encoded"; job: number; encoded: EncodedJob }
  | { t: "error"; job: number; message: string; code?: string };

interface Slot {
  worker: Worker;
  /** Jobs this worker holds (read, not yet encoded). */
  load: number;
}

/**
 * Worker threads that read, hash and compress a direct base backup's chunks (see
 * tar-read-worker.ts), so that both cores work on the bytes while this thread only
 * decides what is new and writes packs. A job is read by the least busy worker and
 * encoded by the same one, which holds its bytes in between.
 */
export class TarReadPool {
  readonly #slots: Slot[];
  readonly #owner = new Map<number, Slot>();
  readonly #waiting = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  #failure: Error | undefined;

  constructor(threads: number, compressionLevel: number) {
    this.#slots = Array.from({ length: Math.max(1, threads) }, () => {
      const worker = new Worker(workerUrl(), { workerData: { level: compressionLevel } });
      worker.on("message", (message: FromWorker) => this.#settle(message));
      worker.on("error", (err) => this.#fail(err));
      worker.on("exit", (code) => {
        if (code !== 0) this.#fail(new Error(`a base backup worker thread exited with code ${code}`));
      });
      return { worker, load: 0 };
    });
  }

  get threads(): number {
    return this.#slots.length;
  }

  /** Reads and hashes a job's chunks (of `sizes` bytes each, made of `pieces`); returns their ids. */
  async read(job: number, pieces: WirePiece[], sizes: number[]): Promise<string[]> {
    const slot = this.#slots.reduce((a, b) => (b.load < a.load ? b : a));
    slot.load += 1;
    this.#owner.set(job, slot);
    const reply = await this.#request(slot, { t: "read", job, pieces, sizes });
    return (reply as Extract<FromWorker, { t: "read" }>).ids;
  }

  /** Compresses a read job's chunks as decided (one decision per chunk) and frees its bytes. */
  async encode(job: number, decisions: ChunkDecision[]): Promise<EncodedJob> {
    const slot = this.#owner.get(job)!;
    this.#owner.delete(job);
    try {
      const reply = await this.#request(slot, { t: "encode", job, decisions });
      return (reply as Extract<FromWorker, { t: "encoded" }>).encoded;
    } finally {
      slot.load -= 1;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #request(slot: Slot, message: ToWorker): Promise<FromWorker> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.set(message.job, { resolve, reject });
      slot.worker.postMessage(message);
    });
  }

  #settle(message: FromWorker): void {
    const waiter = this.#waiting.get(message.job);
    this.#waiting.delete(message.job);
    if (!waiter) return;
    if (message.t === "error") {
      waiter.reject(
        new OperationError("E_PG_BASEBACKUP_FAILED", `cannot read the data directory: ${message.message}`),
      );
    } else {
      waiter.resolve(message);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiting.values()) waiter.reject(err);
    this.#waiting.clear();
  }
}

/**
 * The worker's script. Under vitest this module is the TypeScript source, which a worker
 * thread cannot load; its worker then runs from the build (`npm test` builds first).
 */
function workerUrl(): URL {
  const url = new URL("./tar-read-worker.js", import.meta.url);
  if (!import.meta.url.endsWith(".ts")) return url;
  const at = url.href.lastIndexOf("/src/engines/");
  return new URL(`${url.href.slice(0, at)}/dist${url.href.slice(at)}`);
}

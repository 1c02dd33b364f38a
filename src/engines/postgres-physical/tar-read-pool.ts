import { OperationError } from "../../errors.js";
import { WorkerPool } from "../../util/worker-pool.js";
import { workerScriptUrl } from "../../util/worker-url.js";

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

/**
 * Worker threads that read, hash and compress a direct base backup's chunks (see
 * tar-read-worker.ts), so that both cores work on the bytes while this thread only
 * decides what is new and writes packs. A job is read by the least busy worker and
 * encoded by the same one, which holds its bytes in between.
 */
export class TarReadPool {
  readonly #pool: WorkerPool<ToWorker, FromWorker>;
  readonly #owner = new Map<number, number>();

  constructor(threads: number, compressionLevel: number) {
    this.#pool = new WorkerPool(
      workerScriptUrl(import.meta.url, "./tar-read-worker.js"),
      threads,
      { level: compressionLevel },
      "base backup",
    );
  }

  get threads(): number {
    return this.#pool.threads;
  }

  /** Reads and hashes a job's chunks (of `sizes` bytes each, made of `pieces`); returns their ids. */
  async read(job: number, pieces: WirePiece[], sizes: number[]): Promise<string[]> {
    const sent = this.#pool.send({ t: "read", job, pieces, sizes });
    this.#owner.set(job, sent.worker);
    const reply = checked(await sent.reply);
    return (reply as Extract<FromWorker, { t: "read" }>).ids;
  }

  /** Compresses a read job's chunks as decided (one decision per chunk) and frees its bytes. */
  async encode(job: number, decisions: ChunkDecision[]): Promise<EncodedJob> {
    const worker = this.#owner.get(job)!;
    this.#owner.delete(job);
    const reply = checked(await this.#pool.send({ t: "encode", job, decisions }, { worker }).reply);
    return (reply as Extract<FromWorker, { t: "encoded" }>).encoded;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

function checked(reply: FromWorker): FromWorker {
  if (reply.t === "error") {
    throw new OperationError("E_PG_BASEBACKUP_FAILED", `cannot read the data directory: ${reply.message}`);
  }
  return reply;
}

import { newPackId, PACK_TARGET_BYTES, type PackFrame, type PackIndex } from "./pack-format.js";

/** Where a worker thread is to append a job's frames: the pack and its file. */
export interface PackTarget {
  id: string;
  temp: string;
}

/** Frames a worker appended to a pack's file, as index entries. */
export interface WrittenFrames {
  pack: string;
  frames: PackFrame[];
}

/** A pack a worker thread writes, as this thread knows it from the frames recorded. */
export interface WorkerPack {
  id: string;
  /** The worker thread that writes it. */
  worker: number;
  /** The pack's file, named once its folder exists. */
  temp: Promise<string>;
  frames: PackFrame[];
  /** End of the last frame recorded: the file's length once every job sent with it is recorded. */
  bytes: number;
  chunkCount: number;
  /** Jobs sent with this pack whose frames are not recorded yet. */
  reserved: number;
}

/**
 * Packs that the backup worker threads write themselves (a local repository): each worker
 * appends the frames it encodes to a pack file of its own, and only where they landed
 * comes back here — frame bytes never cross threads or wait on this thread to be written,
 * which kept tens of megabytes of dead buffers waiting for its garbage collector. A pack
 * belongs to one worker, which writes its jobs in the order they were sent, so the file
 * only grows; it is sealed once full (or at commit) and every job sent with it is recorded.
 */
export class WorkerPacks {
  readonly #target: number;
  readonly #tempFor: (id: string) => Promise<string>;
  /** The pack each worker is filling. */
  readonly #filling = new Map<number, WorkerPack>();
  /** Every pack not sealed yet, by id. */
  readonly #unsealed = new Map<string, WorkerPack>();

  constructor(tempFor: (id: string) => Promise<string>, target = PACK_TARGET_BYTES) {
    this.#tempFor = tempFor;
    this.#target = target;
  }

  /** The pack worker `worker` is to append its next job's frames to; record() must follow. */
  async reserve(worker: number): Promise<PackTarget> {
    let pack = this.#filling.get(worker);
    if (!pack) {
      const id = newPackId();
      // In the map before the first await: a second job for the same worker shares it.
      pack = { id, worker, temp: this.#tempFor(id), frames: [], bytes: 0, chunkCount: 0, reserved: 0 };
      this.#filling.set(worker, pack);
      this.#unsealed.set(id, pack);
    }
    pack.reserved += 1;
    return { id: pack.id, temp: await pack.temp };
  }

  /** Records a job's frames; returns the pack when it is now ready to seal. */
  record(written: WrittenFrames): WorkerPack | undefined {
    const pack = this.#unsealed.get(written.pack);
    if (!pack || pack.reserved === 0)
      throw new Error(`internal: frames for pack ${written.pack} not reserved`);
    pack.reserved -= 1;
    for (const frame of written.frames) {
      pack.frames.push(frame);
      pack.bytes = Math.max(pack.bytes, frame.offset + frame.length);
      pack.chunkCount += frame.chunks.length;
    }
    // Full: the worker's next job starts a new pack.
    if (this.#filling.get(pack.worker) === pack && pack.bytes >= this.#target)
      this.#filling.delete(pack.worker);
    return this.#takeIfDone(pack, this.#filling.get(pack.worker) === pack);
  }

  /** Ends every pack (at commit): those with frames, to be sealed. Every reservation must be recorded. */
  finish(): WorkerPack[] {
    this.#filling.clear();
    const done: WorkerPack[] = [];
    for (const pack of [...this.#unsealed.values()]) {
      if (pack.reserved > 0) throw new Error(`internal: pack ${pack.id} has jobs not recorded`);
      const taken = this.#takeIfDone(pack, false);
      if (taken) done.push(taken);
    }
    return done;
  }

  /** Gives up every pack not sealed (the backup failed); returns their files, to be removed. */
  async abandon(): Promise<string[]> {
    const packs = [...this.#unsealed.values()];
    this.#unsealed.clear();
    this.#filling.clear();
    const temps = await Promise.all(packs.map((p) => p.temp.catch(() => undefined)));
    return temps.filter((t): t is string => t !== undefined);
  }

  #takeIfDone(pack: WorkerPack, filling: boolean): WorkerPack | undefined {
    if (filling || pack.reserved > 0) return undefined;
    this.#unsealed.delete(pack.id);
    // A pack no job wrote to has no file.
    return pack.frames.length > 0 ? pack : undefined;
  }
}

/** A worker pack's index, frames in file order (jobs may be recorded out of order). */
export function workerPackIndex(pack: WorkerPack): PackIndex {
  return { version: 1, pack: pack.id, frames: [...pack.frames].sort((a, b) => a.offset - b.offset) };
}

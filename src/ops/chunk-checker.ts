import { toPrsBackupError } from "../errors.js";
import type { ObjectInfo } from "../repo/backend.js";
import type { PackCatalog } from "../repo/pack-catalog.js";
import type { Repository } from "../repo/repository.js";
import { packKey } from "../repo/pack-format.js";
import { noProgress, type Progress } from "../util/progress.js";

/** How thoroughly chunks are read back. */
export type CheckMode =
  | { kind: "all" }
  /** Read what was never verified, was changed on disk since, or was last read over `rescanDays` ago. */
  | { kind: "incremental"; rescanDays: number }
  /** Read a random PERCENT of chunks (every chunk's presence is still checked). */
  | { kind: "sample"; percent: number };

interface MemoEntry {
  size: number;
  modifiedMs?: number;
  verifiedMs: number;
}

const MEMO_KEY = "state/verified-chunks.json";

/**
 * Checks chunks for verify: presence of every chunk from one listing, then a read (decode
 * + hash check) of those the mode selects. Each chunk is checked once per run however
 * many snapshots share it. What was read back intact is remembered in the repository
 * (`state/verified-chunks.json`), so a daily incremental run reads only what is new,
 * was modified on disk, or is due for its periodic re-read.
 */
export class ChunkChecker {
  readonly #repo: Repository;
  readonly #mode: CheckMode;
  readonly #now: number;
  readonly #results = new Map<string, Promise<string | null>>();
  /** Chunk objects (`data/`); packed chunks are found in the catalog. */
  readonly #listing = new Map<string, ObjectInfo>();
  #catalog: PackCatalog | undefined;
  #memo = new Map<string, MemoEntry>();
  read = 0;
  skipped = 0;

  readonly #progress: Progress;

  constructor(repo: Repository, mode: CheckMode, options: { now?: number; progress?: Progress } = {}) {
    this.#repo = repo;
    this.#mode = mode;
    this.#now = options.now ?? Date.now();
    this.#progress = options.progress ?? noProgress;
  }

  /** Lists stored chunk objects (with sizes and times), loads the pack catalog and the memo of earlier runs. */
  async prepare(): Promise<void> {
    for await (const obj of this.#repo.backend.list("data/")) {
      this.#listing.set(obj.key.slice(obj.key.lastIndexOf("/") + 1), obj);
    }
    this.#catalog = await this.#repo.chunks.packsFromIndexes();
    try {
      const raw = JSON.parse((await this.#repo.backend.get(MEMO_KEY)).toString("utf8")) as Record<
        string,
        MemoEntry
      >;
      this.#memo = new Map(Object.entries(raw));
    } catch {
      this.#memo = new Map(); // first run, or an unreadable memo: read everything
    }
  }

  /** Damage found in a chunk, or null when it is fine (or not selected for reading and present). */
  check(id: string): Promise<string | null> {
    let result = this.#results.get(id);
    if (!result) {
      result = this.#checkOnce(id);
      this.#results.set(id, result);
    }
    return result;
  }

  /** Chunks checked so far (each counted once). */
  get checked(): number {
    return this.#results.size;
  }

  /**
   * A chunk as stored: its object, or else its place in a pack, which counts as present
   * when the pack and its index are; a packed chunk is remembered by its own size and its
   * pack's modification time. Looked up in the catalog's chunk table rather than copied
   * into a listing of every chunk.
   */
  #stored(id: string): ObjectInfo | undefined {
    const object = this.#listing.get(id);
    if (object) return object;
    const location = this.#catalog?.chunks.get(id);
    if (!location) return undefined;
    const modifiedMs = this.#catalog!.packs.get(location.frame.pack)?.modifiedMs;
    return {
      key: packKey(location.frame.pack),
      size: location.size,
      ...(modifiedMs !== undefined ? { modifiedMs } : {}),
    };
  }

  #present(id: string): boolean {
    return this.#listing.has(id) || this.#catalog?.chunks.has(id) === true;
  }

  async #checkOnce(id: string): Promise<string | null> {
    const stored = this.#stored(id);
    if (!stored) return `chunk ${id} is missing from the repository`;
    const ref = this.#repo.chunks.locate(id)?.frame.ref;
    if (ref !== undefined && !this.#present(ref)) {
      return `chunk ${id} is stored against chunk ${ref}, which is missing from the repository`;
    }
    if (!this.#selected(id, stored)) {
      this.skipped += 1;
      return null;
    }
    try {
      await this.#repo.chunks.get(id);
      this.read += 1;
      this.#progress.add(stored.size, 1);
      this.#memo.set(id, { size: stored.size, modifiedMs: stored.modifiedMs, verifiedMs: this.#now });
      return null;
    } catch (err) {
      this.#memo.delete(id);
      return toPrsBackupError(err).message;
    }
  }

  #selected(id: string, stored: ObjectInfo): boolean {
    switch (this.#mode.kind) {
      case "all":
        return true;
      case "sample":
        return Math.random() * 100 < this.#mode.percent;
      case "incremental": {
        const memo = this.#memo.get(id);
        if (!memo || memo.size !== stored.size || memo.modifiedMs !== stored.modifiedMs) return true;
        return this.#now - memo.verifiedMs > this.#mode.rescanDays * 86_400_000;
      }
    }
  }

  /** Saves what was read back intact, for the next incremental run (dropping chunks gone from the repository). */
  async save(): Promise<void> {
    const out: Record<string, MemoEntry> = {};
    for (const [id, entry] of this.#memo) if (this.#present(id)) out[id] = entry;
    await this.#repo.backend.put(MEMO_KEY, JSON.stringify(out));
    await this.#repo.backend.flush();
  }
}

import type { StoredEntry } from "../../repo/snapshot-store.js";
import { comparePaths } from "../../util/paths.js";

/**
 * Walks a parent snapshot's entries alongside a new walk. Both are sorted by
 * comparePaths, so each lookup only moves forward: one pass, bounded memory. Entries are
 * read a chunk at a time (`readPast`), then looked up without awaiting (`find`).
 */
export class EntryCursor {
  readonly #source: AsyncIterator<StoredEntry[]>;
  /** Entries read and not passed yet, from `#next` on. */
  #buffer: StoredEntry[] = [];
  #next = 0;
  #done = false;

  constructor(source: AsyncIterable<StoredEntry[]>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Reads the parent's entries up to the first one after `path` (or to the end). */
  async readPast(path: string): Promise<void> {
    while (!this.#done) {
      const last = this.#buffer[this.#buffer.length - 1];
      if (last && this.#next < this.#buffer.length && comparePaths(last.entry.path, path) > 0) return;
      const next = await this.#source.next();
      if (next.done === true) {
        this.#done = true;
        return;
      }
      // Keep what is not passed yet: a lookup may still need it.
      this.#buffer =
        this.#next < this.#buffer.length ? [...this.#buffer.slice(this.#next), ...next.value] : next.value;
      this.#next = 0;
    }
  }

  /**
   * The parent's entry for `path`, if any. Calls must come in ascending path order, each
   * after a `readPast` of a path at or after it.
   */
  find(path: string): StoredEntry | undefined {
    const buffer = this.#buffer;
    while (this.#next < buffer.length && comparePaths(buffer[this.#next]!.entry.path, path) < 0) this.#next++;
    if (this.#next === buffer.length && !this.#done) {
      throw new Error(`internal: EntryCursor.find(${path}) past what was read`);
    }
    const current = buffer[this.#next];
    return current?.entry.path === path ? current : undefined;
  }
}

import type { StoredEntry } from "../../repo/snapshot-store.js";
import { comparePaths } from "../../util/paths.js";

/**
 * Walks a parent snapshot's entries alongside a new walk. Both are sorted by
 * comparePaths, so each lookup only moves forward: one pass, bounded memory.
 */
export class EntryCursor {
  readonly #source: AsyncIterator<StoredEntry>;
  #current: StoredEntry | undefined;
  #started = false;
  #done = false;

  constructor(source: AsyncIterable<StoredEntry>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** The parent's entry for `path`, if any. Calls must come in ascending path order. */
  async find(path: string): Promise<StoredEntry | undefined> {
    if (!this.#started) {
      this.#started = true;
      await this.#advance();
    }
    while (!this.#done && this.#current && comparePaths(this.#current.entry.path, path) < 0)
      await this.#advance();
    return this.#current?.entry.path === path ? this.#current : undefined;
  }

  async #advance(): Promise<void> {
    const next = await this.#source.next();
    this.#done = next.done === true;
    this.#current = next.done ? undefined : next.value;
  }
}

import fs, { type FileHandle } from "node:fs/promises";

/** Files kept open at once, and how long an unused one stays open. */
const MAX_OPEN = 8;
const IDLE_MS = 2000;

interface Slot {
  handle: Promise<FileHandle>;
  users: number;
  idle?: NodeJS.Timeout;
  evicted: boolean;
}

/**
 * Open read handles of recently read files. A restore reads thousands of ranges from a
 * few packs in turn; opening and closing the pack for each range cost more than the
 * read. Only for objects that never change once written (packs): a handle is closed
 * when it has been idle for two seconds, so a pack that a prune deletes does not keep
 * its disk space for long.
 */
export class ReadHandles {
  readonly #slots = new Map<string, Slot>();
  readonly #maxOpen: number;
  readonly #idleMs: number;

  constructor(options: { maxOpen?: number; idleMs?: number } = {}) {
    this.#maxOpen = options.maxOpen ?? MAX_OPEN;
    this.#idleMs = options.idleMs ?? IDLE_MS;
  }

  /** Runs `read` with an open handle of `file`; the open's error (e.g. ENOENT) is thrown as is. */
  async with<T>(file: string, read: (handle: FileHandle) => Promise<T>): Promise<T> {
    let slot = this.#slots.get(file);
    if (slot) {
      this.#slots.delete(file);
      this.#slots.set(file, slot);
    } else {
      slot = { handle: fs.open(file, "r"), users: 0, evicted: false };
      slot.handle.catch(() => undefined);
      this.#slots.set(file, slot);
      for (const [key, old] of this.#slots) {
        if (this.#slots.size <= this.#maxOpen) break;
        this.#evict(key, old);
      }
    }
    const current = slot;
    current.users += 1;
    clearTimeout(current.idle);
    try {
      return await read(await current.handle);
    } catch (err) {
      if (this.#slots.get(file) === current) this.#evict(file, current);
      throw err;
    } finally {
      current.users -= 1;
      if (current.users === 0) {
        if (current.evicted) close(current);
        else current.idle = setTimeout(() => this.#evict(file, current), this.#idleMs).unref();
      }
    }
  }

  #evict(file: string, slot: Slot): void {
    if (this.#slots.get(file) === slot) this.#slots.delete(file);
    slot.evicted = true;
    clearTimeout(slot.idle);
    if (slot.users === 0) close(slot);
  }
}

function close(slot: Slot): void {
  void slot.handle.then((h) => h.close()).catch(() => undefined);
}

import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const TEMP_NAME = /^temp-\d+\.rdb$/;
const POLL_MS = 5;
const READ_BYTES = 1 << 20;

/**
 * Reads the RDB a BGSAVE is writing while Redis writes it, so the backup costs about
 * the time of the save rather than the save plus reading and storing the file after it.
 * Redis's save child writes `temp-<pid>.rdb` in its data directory, fsyncs it and renames
 * it to the dump file; the inode we follow is the one that becomes the dump, which the
 * caller checks before trusting what was read.
 */
export class RdbFollower {
  readonly #dir: string;
  #before = new Set<string>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Notes the temp files that exist before the save is requested (another save's, or a crashed one's). */
  async arm(): Promise<void> {
    this.#before = new Set(await this.#temps());
  }

  /**
   * Opens the temp file of the save that started after `arm`, or returns undefined when the
   * save ended (or failed) before one appeared.
   */
  async open(save: Promise<unknown>, signal?: AbortSignal): Promise<fs.FileHandle | undefined> {
    const ended = settled(save);
    while (!ended()) {
      signal?.throwIfAborted();
      const fresh = (await this.#temps()).filter((name) => !this.#before.has(name));
      for (const name of fresh) {
        const handle = await fs.open(path.join(this.#dir, name), "r").catch(() => undefined);
        if (handle) return handle;
      }
      await sleep(POLL_MS);
    }
    return undefined;
  }

  async #temps(): Promise<string[]> {
    return (await fs.readdir(this.#dir).catch(() => [] as string[])).filter((n) => TEMP_NAME.test(n));
  }
}

/**
 * The bytes of a file being written, as they arrive, until `done` settles and the end of the
 * file is reached. Rejects with `done`'s error when the writer failed.
 */
export async function* followFile(
  handle: fs.FileHandle,
  done: Promise<unknown>,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const finished = settled(done);
  let position = 0;
  for (;;) {
    signal?.throwIfAborted();
    // Whether the writer had finished is read before the read: bytes written before it
    // finished are then all visible to this read.
    const last = finished();
    const buf = Buffer.allocUnsafe(READ_BYTES);
    const { bytesRead } = await handle.read(buf, 0, READ_BYTES, position);
    if (bytesRead > 0) {
      position += bytesRead;
      // A short read of a growing file is copied out: chunks keep their buffer alive
      // until their pack is written, and 1 MiB per few kilobytes would add up.
      yield bytesRead < READ_BYTES / 2 ? Buffer.from(buf.subarray(0, bytesRead)) : buf.subarray(0, bytesRead);
      continue;
    }
    if (last) break;
    await sleep(POLL_MS);
  }
  await done;
}

/** A function telling whether `promise` has settled (either way). */
function settled(promise: Promise<unknown>): () => boolean {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return () => done;
}

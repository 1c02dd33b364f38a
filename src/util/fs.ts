import { randomBytes } from "node:crypto";
import { constants, createWriteStream, readSync, writeSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Repository files are private to the owner (DESIGN.md non-negotiables). */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Prefix of every temporary file we create; listings skip these names. */
export const TEMP_PREFIX = ".tmp-";

const tempNonce = randomBytes(4).toString("hex");
let tempCounter = 0;

/**
 * A unique temporary name beside `target`, in the same directory so rename is atomic.
 * Short and independent of the target's name, which may already be 255 bytes long.
 */
export function tempPathFor(target: string): string {
  tempCounter += 1;
  return path.join(path.dirname(target), `${TEMP_PREFIX}${tempNonce}${process.pid}-${tempCounter}`);
}

/** Reads from the start of a file until `limit` bytes or its end. */
export async function readUpTo(handle: fs.FileHandle, limit: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(limit);
  let filled = 0;
  while (filled < limit) {
    const { bytesRead } = await handle.read(buffer, filled, limit - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/**
 * Reads `length` bytes at `position` of `fd` into `into` at `offset`, blocking (for worker
 * threads); returns how many were read, fewer only at the end of the file.
 */
export function readFullySync(
  fd: number,
  into: Uint8Array,
  offset: number,
  length: number,
  position: number,
): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `data` to `fd` at its current position, blocking (for worker threads). */
export function writeFullySync(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done);
}

/** Writes all of `data` to `handle`, at `position` or (null) at its current position. */
export async function writeFully(
  handle: fs.FileHandle,
  data: Uint8Array,
  position: number | null,
): Promise<void> {
  for (let done = 0; done < data.length;) {
    const at = position === null ? null : position + done;
    done += (await handle.write(data, done, data.length - done, at)).bytesWritten;
  }
}

/** fsync a directory so that a rename or create inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface AtomicWriteOptions {
  mode?: number;
  /** Skip the directory fsync; the caller promises to fsync the directory itself later. */
  deferDirSync?: boolean;
  /** Fail with EEXIST instead of replacing an existing file. */
  exclusive?: boolean;
  /**
   * false: no fsync at all, for data whose reader checks it (a cache with a checksum):
   * after a power loss the file may be the old one, or torn, but never half-visible
   * while this machine runs. Default true.
   */
  sync?: boolean;
}

/**
 * Writes data to `target` so that a crash at any instant leaves either the old file or
 * the complete new one: temp file in the same directory → write → fsync → rename →
 * fsync the directory. The temp file is removed on failure.
 */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string | readonly Uint8Array[] | Readable,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(target);
  const mode = options.mode ?? FILE_MODE;
  const sync = options.sync ?? true;
  try {
    if (typeof data === "string" || data instanceof Uint8Array || Array.isArray(data)) {
      await writeNew(temp, data as Uint8Array | string | readonly Uint8Array[], { mode, sync });
    } else {
      const out = createWriteStream(temp, { flags: "wx", mode });
      await pipeline(data, out);
      const handle = await fs.open(temp, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    if (options.exclusive) {
      // link() fails when the name exists, which rename() would silently replace.
      await fs.link(temp, target);
      await fs.unlink(temp);
    } else {
      await fs.rename(temp, target);
    }
    if (sync && !options.deferDirSync) await fsyncDir(path.dirname(target));
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Creates a new file (failing if it exists) from a buffer, a string or parts; fsyncs it when asked. */
export async function writeNew(
  file: string,
  data: Uint8Array | string | readonly Uint8Array[],
  options: { mode?: number; sync?: boolean } = {},
): Promise<void> {
  const handle = await fs.open(file, "wx", options.mode ?? FILE_MODE);
  try {
    if (typeof data === "string" || data instanceof Uint8Array) await handle.writeFile(data);
    else await handle.writev([...data]);
    if (options.sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes temp files (TEMP_PREFIX) under `root` older than `olderThanMs`: what a crashed
 * or killed writer left behind. Returns how many it removed.
 */
export async function removeStaleTemps(root: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  const visit = async (dir: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await visit(full);
      else if (entry.name.startsWith(TEMP_PREFIX)) {
        const st = await fs.stat(full).catch(() => undefined);
        if (st && now - st.mtimeMs > olderThanMs) {
          await fs.rm(full, { force: true });
          removed += 1;
        }
      }
    }
  };
  await visit(root);
  return removed;
}

/** mkdir -p with the repository's private mode. */
export async function ensureDir(dir: string, mode = DIR_MODE): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode });
}

/** True when `p` exists (without following a final symlink). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** True when `dir` does not exist or holds nothing. */
export async function isEmptyOrMissingDir(dir: string): Promise<boolean> {
  try {
    const names = await fs.readdir(dir);
    return names.length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw err;
  }
}

import type { BigIntStats } from "node:fs";
import fs from "node:fs/promises";
import type { StoredEntry } from "../../repo/snapshot-store.js";
import type { SnapshotWriter, StoredData } from "../../repo/snapshot-writer.js";
import { encodeClaimed, StorePool } from "../../repo/store-pool.js";
import type { Entry, FileEntry } from "../../repo/snapshot.js";
import { Budget } from "../../util/concurrency.js";
import { readUpTo } from "../../util/fs.js";
import type { Logger } from "../../util/logger.js";
import { normalizeRoots } from "../../util/paths.js";
import type { BackupContext, BackupResult } from "../engine.js";
import { EntryCursor } from "./entry-cursor.js";
import type { FilesTarget } from "./target.js";
import { OrderedQueue } from "./ordered-queue.js";
import { describeError, walkBatches, type WalkItem } from "./walk.js";

/**
 * Entries being worked out at once (files being read), in order. One that is done waits
 * for those ahead of it, but holds only its entry by then: when the window was the 8 files
 * being read, a large file held up the seven behind it and the workers were idle half the
 * time (the bench tree: 7.1–8.6 s; 6.2–6.3 s with 32).
 */
const READS_AHEAD = 32;
/**
 * Entries held in all: those of unchanged files, known at once, wait behind a file being
 * read, while the walk goes on.
 */
const ENTRIES_HELD = 1024;
/**
 * Files being read at once: small files are latency-bound, so overlap their syscalls and
 * their round trips to the worker threads; bounded too by the bytes they hold. 6 files and
 * 8 MiB keep the wider window's peak RSS at 241–245 MB on the bench tree (8 files and
 * 16 MiB: 253–259 MB, over the 256 MB the issue allows).
 */
const READ_CONCURRENCY = 6;
const BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** Files up to this size are read in one call; larger ones are streamed. */
const WHOLE_READ_LIMIT = 4 * 1024 * 1024;

interface Counters {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  readFiles: number;
  readBytes: number;
  reusedFiles: number;
}

/**
 * Backs up the target's paths: walks them in sorted order, reuses the parent
 * snapshot's chunks for files whose size, mtime, ctime and inode are unchanged, and
 * reads (chunks, hashes, stores) the rest. Unreadable or vanished files are recorded
 * as problems, which makes the snapshot partial.
 */
export async function backupFiles(target: FilesTarget, ctx: BackupContext): Promise<BackupResult> {
  const { writer, logger, progress } = ctx;
  const roots = normalizeRoots(target.paths);
  const counters: Counters = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    readFiles: 0,
    readBytes: 0,
    reusedFiles: 0,
  };
  const cursor = ctx.parent ? new EntryCursor(ctx.repo.snapshots.storedEntryBatches(ctx.parent)) : undefined;
  const onProblem = (path: string, message: string): void => {
    logger.warn(`${target.name}: ${path}: ${message}`);
    writer.addProblem({ path, message });
  };

  // Worker threads read, hash and compress files (a format-1 repository stores them here).
  const pool = writer.packed
    ? new StorePool(target.threads ?? 2, ctx.repo.chunks.compressionLevel)
    : undefined;
  const storing: Storing = {
    writer,
    counters,
    logger,
    pool,
    budget: new Budget(BYTES_IN_FLIGHT),
    reads: new Budget(READ_CONCURRENCY),
  };
  const made = new OrderedQueue<NewEntry | undefined>((next) => next && add(next), {
    later: READS_AHEAD,
    held: ENTRIES_HELD,
  });
  const walk = walkBatches({
    roots,
    include: target.include,
    exclude: target.exclude,
    oneFileSystem: target.oneFileSystem,
    warn: (message) => logger.warn(message),
    onProblem,
  });
  try {
    for await (const batch of walk) {
      // What is looked up below is then at hand: an unchanged file takes no promise.
      if (cursor)
        await Promise.all([cursor.readPast(batch[batch.length - 1]!.path), ctx.repo.chunks.loadIndex()]);
      for (const item of batch) {
        ctx.signal?.throwIfAborted();
        const waited = made.push(toEntry(item, cursor?.find(item.path), storing, onProblem));
        if (waited) await waited;
      }
    }
    await made.finish();
  } finally {
    await pool?.close();
  }
  return {
    status: writer.problems.length > 0 ? "partial" : "complete",
    sourceBytes: counters.bytes,
    metadata: { paths: roots, ...counters },
  };

  function add({ entry, line }: NewEntry): Promise<void> | undefined {
    if (entry.type === "file") {
      counters.files += 1;
      counters.bytes += entry.size;
      progress.add(entry.size, 1);
    } else {
      if (entry.type === "dir") counters.dirs += 1;
      else counters.symlinks += 1;
      progress.add(0, 1);
    }
    return writer.addEntry(entry, line);
  }
}

/** What storing a file needs besides the file. */
interface Storing {
  writer: SnapshotWriter;
  counters: Counters;
  logger: Logger;
  pool: StorePool | undefined;
  /** Bytes of files being read (worker threads). */
  budget: Budget;
  /** Files being read, one unit each. */
  reads: Budget;
}

/** What every entry has, from the walk. */
function baseOf(item: WalkItem): Omit<Entry, "type"> {
  return { path: item.path, mode: item.mode, uid: item.uid, gid: item.gid, mtimeNs: item.mtimeNs };
}

/**
 * A file's entry: the walk's item with its size (as read) and content. Spelled out rather
 * than spread from parts: an unchanged re-snapshot makes one per file, and its keys' order
 * is the entry list's bytes (unchanged files must give unchanged entry chunks).
 */
function fileEntry(item: WalkItem, size: number, chunks: string[], sha256: string | undefined): FileEntry {
  const entry: FileEntry = {
    path: item.path,
    mode: item.mode,
    uid: item.uid,
    gid: item.gid,
    mtimeNs: item.mtimeNs,
    type: "file",
    size,
    ino: item.ino,
    ctimeNs: item.ctimeNs,
    chunks,
  };
  if (sha256 !== undefined) entry.sha256 = sha256;
  return entry;
}

/** An entry for the new snapshot, with its line when it is the parent's, unchanged. */
interface NewEntry {
  entry: Entry;
  line?: string;
}

/**
 * The new snapshot's entry for `item`: at once for a directory or an unchanged file (the
 * chunk index must be loaded when there is a parent), a promise for a file to read or a
 * symlink. Anything that fails is reported as a problem, and the item left out.
 */
function toEntry(
  item: WalkItem,
  parent: StoredEntry | undefined,
  storing: Storing,
  onProblem: (path: string, message: string) => void,
): NewEntry | undefined | Promise<NewEntry | undefined> {
  const failed = (err: unknown): undefined => {
    onProblem(item.path, describeError(err));
    return undefined;
  };
  try {
    if (item.kind === "dir") return { entry: { ...baseOf(item), type: "dir" } };
    if (item.kind === "symlink") {
      return fs
        .readlink(item.path)
        .then((target) => ({ entry: { ...baseOf(item), type: "symlink", target } }), failed);
    }
    const previous = parent?.entry;
    if (previous && isUnchanged(previous, item) && storing.writer.hasLoadedChunks(previous.chunks)) {
      storing.counters.reusedFiles += 1;
      // The parent's line as it was: no serializing of an entry that is the same again.
      if (isSameFileEntry(previous, item)) return parent;
      return { entry: fileEntry(item, item.size, previous.chunks, previous.sha256) };
    }
    return storeFile(item, storing).catch(failed);
  } catch (err) {
    return failed(err);
  }
}

async function storeFile(item: WalkItem, storing: Storing): Promise<NewEntry> {
  await storing.reads.acquire(1);
  let stored: StoredData;
  try {
    stored = await readFile(item, storing);
  } finally {
    storing.reads.release(1);
  }
  storing.counters.readFiles += 1;
  storing.counters.readBytes += stored.size;
  return { entry: fileEntry(item, stored.size, stored.chunks, stored.sha256) };
}

/**
 * True when an unchanged file's parent entry is exactly the entry `fileEntry` would make
 * now: the same owner and mode, and no field besides those it writes (an entry from an
 * older version is written anew).
 */
function isSameFileEntry(previous: FileEntry, item: WalkItem): boolean {
  return (
    previous.mode === item.mode &&
    previous.uid === item.uid &&
    previous.gid === item.gid &&
    Object.keys(previous).length === FILE_ENTRY_FIELDS + (previous.sha256 === undefined ? 0 : 1)
  );
}

/** How many fields `fileEntry` writes, `sha256` aside. */
const FILE_ENTRY_FIELDS = Object.keys(
  fileEntry(
    { path: "", kind: "file", mode: 0, uid: 0, gid: 0, size: 0, ino: "", mtimeNs: "", ctimeNs: "" },
    0,
    [],
    undefined,
  ),
).length;

/** True when the parent's entry is of this same file, unchanged: size, mtime, ctime and inode. */
function isUnchanged(previous: Entry, item: WalkItem): previous is FileEntry {
  return (
    previous.type === "file" &&
    previous.size === item.size &&
    previous.mtimeNs === item.mtimeNs &&
    previous.ctimeNs === item.ctimeNs &&
    previous.ino === item.ino
  );
}

/** Reads and stores a file; warns when it changed while being read (the snapshot keeps what was read). */
async function readFile(item: WalkItem, storing: Storing): ReturnType<SnapshotWriter["storeStream"]> {
  const { writer, logger, pool } = storing;
  if (pool && item.size <= WHOLE_READ_LIMIT) return storeInWorker(item, storing, pool);
  const handle = await fs.open(item.path, "r");
  try {
    if (item.size <= WHOLE_READ_LIMIT) {
      // One read of the size lstat gave (plus a byte, to notice growth): no fstat per small file.
      const data = await readUpTo(handle, item.size + 1);
      if (data.length !== item.size) warnChanged(logger, item.path);
      return await writer.storeBuffer(data);
    }
    const stored = await writer.storeStream(
      handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false }),
    );
    if (changedWhileReading(item, await handle.stat({ bigint: true }))) warnChanged(logger, item.path);
    return stored;
  } finally {
    await handle.close();
  }
}

/**
 * Stores a file through the worker threads: one reads, cuts and hashes it, this thread
 * claims the chunks not stored yet, the worker compresses those (see encodeClaimed).
 */
async function storeInWorker(item: WalkItem, storing: Storing, pool: StorePool): Promise<StoredData> {
  const { writer, logger, budget } = storing;
  const { size } = item;
  await budget.acquire(size);
  try {
    const job = pool.job();
    // The size lstat gave plus a byte, to notice growth.
    const read = await pool.readFile(job, item.path, size + 1, writer.chunkerParams);
    if (read.length !== size) warnChanged(logger, item.path);
    await writer.addEncoded(await encodeClaimed(pool, writer, job, read));
    return { chunks: read.ids, size: read.length, ...(read.sha256 ? { sha256: read.sha256 } : {}) };
  } finally {
    budget.release(size);
  }
}

function warnChanged(logger: Logger, path: string): void {
  logger.warn(`${path} changed while it was being read; the snapshot holds what was read`);
}

function changedWhileReading(before: WalkItem, after: BigIntStats): boolean {
  return BigInt(before.size) !== after.size || before.mtimeNs !== after.mtimeNs.toString();
}

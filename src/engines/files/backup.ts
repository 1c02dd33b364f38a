import type { BigIntStats } from "node:fs";
import fs from "node:fs/promises";
import type { SnapshotWriter } from "../../repo/snapshot-writer.js";
import type { Entry, FileEntry } from "../../repo/snapshot.js";
import { mapOrdered } from "../../util/concurrency.js";
import type { Logger } from "../../util/logger.js";
import { normalizeRoots } from "../../util/paths.js";
import type { BackupContext, BackupResult } from "../engine.js";
import { EntryCursor } from "./entry-cursor.js";
import type { FilesTarget } from "./target.js";
import { describeError, walkTree, type WalkItem } from "./walk.js";

/** Files read at once: small files are latency-bound, so overlap their syscalls. */
const READ_CONCURRENCY = 8;
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
  const cursor = ctx.parent ? new EntryCursor(ctx.repo.snapshots.entries(ctx.parent)) : undefined;
  const onProblem = (path: string, message: string): void => {
    logger.warn(`${target.name}: ${path}: ${message}`);
    writer.addProblem({ path, message });
  };

  async function* withParents(): AsyncGenerator<{ item: WalkItem; previous: Entry | undefined }> {
    const walk = walkTree({
      roots,
      include: target.include,
      exclude: target.exclude,
      oneFileSystem: target.oneFileSystem,
      logger,
      onProblem,
    });
    for await (const item of walk) yield { item, previous: await cursor?.find(item.path) };
  }

  const entries = mapOrdered(withParents(), READ_CONCURRENCY, async ({ item, previous }) => {
    try {
      return await toEntry(item, previous, writer, counters, logger);
    } catch (err) {
      onProblem(item.path, describeError(err));
      return undefined;
    }
  });
  for await (const entry of entries) {
    ctx.signal?.throwIfAborted();
    if (!entry) continue;
    await writer.addEntry(entry);
    if (entry.type === "file") {
      counters.files += 1;
      counters.bytes += entry.size;
      progress.add(entry.size, 1);
    } else {
      if (entry.type === "dir") counters.dirs += 1;
      else counters.symlinks += 1;
      progress.add(0, 1);
    }
  }
  return {
    status: writer.problems.length > 0 ? "partial" : "complete",
    sourceBytes: counters.bytes,
    metadata: { paths: roots, ...counters },
  };
}

function baseOf(item: WalkItem): Omit<Entry, "type"> {
  const s = item.stat;
  return {
    path: item.path,
    mode: Number(s.mode & 0o7777n),
    uid: Number(s.uid),
    gid: Number(s.gid),
    mtimeNs: s.mtimeNs.toString(),
  };
}

async function toEntry(
  item: WalkItem,
  previous: Entry | undefined,
  writer: SnapshotWriter,
  counters: Counters,
  logger: Logger,
): Promise<Entry> {
  const { stat } = item;
  if (stat.isDirectory()) return { ...baseOf(item), type: "dir" };
  if (stat.isSymbolicLink())
    return { ...baseOf(item), type: "symlink", target: await fs.readlink(item.path) };
  const identity = { size: Number(stat.size), ino: stat.ino.toString(), ctimeNs: stat.ctimeNs.toString() };
  if (previous && isUnchanged(previous, item, identity) && (await writer.hasChunks(previous.chunks))) {
    counters.reusedFiles += 1;
    return { ...baseOf(item), type: "file", ...identity, chunks: previous.chunks, sha256: previous.sha256 };
  }
  const stored = await readFile(item, writer, logger);
  counters.readFiles += 1;
  counters.readBytes += stored.size;
  return {
    ...baseOf(item),
    type: "file",
    ...identity,
    size: stored.size,
    chunks: stored.chunks,
    sha256: stored.sha256,
  };
}

function isUnchanged(
  previous: Entry,
  item: WalkItem,
  identity: { size: number; ino: string; ctimeNs: string },
): previous is FileEntry {
  return (
    previous.type === "file" &&
    previous.size === identity.size &&
    previous.mtimeNs === item.stat.mtimeNs.toString() &&
    previous.ctimeNs === identity.ctimeNs &&
    previous.ino === identity.ino
  );
}

/** Reads and stores a file; warns when it changed while being read (the snapshot keeps what was read). */
async function readFile(
  item: WalkItem,
  writer: SnapshotWriter,
  logger: Logger,
): ReturnType<SnapshotWriter["storeStream"]> {
  const handle = await fs.open(item.path, "r");
  try {
    const before = item.stat;
    if (before.size <= BigInt(WHOLE_READ_LIMIT)) {
      // One read of the size lstat gave (plus a byte, to notice growth): no fstat per small file.
      const data = await readUpTo(handle, Number(before.size) + 1);
      if (data.length !== Number(before.size)) warnChanged(logger, item.path);
      return await writer.storeBuffer(data);
    }
    const stored = await writer.storeStream(
      handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false }),
    );
    if (changedWhileReading(before, await handle.stat({ bigint: true }))) warnChanged(logger, item.path);
    return stored;
  } finally {
    await handle.close();
  }
}

/** Reads from the start until `limit` bytes or end of file. */
async function readUpTo(handle: fs.FileHandle, limit: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(limit);
  let filled = 0;
  while (filled < limit) {
    const { bytesRead } = await handle.read(buffer, filled, limit - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

function warnChanged(logger: Logger, path: string): void {
  logger.warn(`${path} changed while it was being read; the snapshot holds what was read`);
}

function changedWhileReading(before: BigIntStats, after: BigIntStats): boolean {
  return before.size !== after.size || before.mtimeNs !== after.mtimeNs;
}

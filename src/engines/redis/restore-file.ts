import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { RepoCorruptError, UserError } from "../../errors.js";
import type { ChunkStore } from "../../repo/chunk-store.js";
import type { FileEntry, SnapshotManifest } from "../../repo/snapshot.js";
import { fsyncDir, pathExists, tempPathFor } from "../../util/fs.js";
import type { EngineContext } from "../engine.js";
import { RDB_ENTRY_PATH } from "./backup.js";

/**
 * Chunk reads in flight while restoring: redis snapshots use small chunks (a few KiB), so
 * one read at a time would make a restore latency-bound.
 */
const READ_AHEAD = 32;

/** The RDB entry of a redis snapshot. */
export async function rdbEntry(snapshot: SnapshotManifest, ctx: EngineContext): Promise<FileEntry> {
  const entry = (await ctx.repo.snapshots.fileEntries(snapshot, [RDB_ENTRY_PATH])).get(RDB_ENTRY_PATH);
  if (entry) return entry;
  throw new RepoCorruptError(`snapshot ${snapshot.id} holds no ${RDB_ENTRY_PATH}`);
}

/** `20261124T204500Z`: the suffix of names that data is moved aside to. */
export function stamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Where `--to` writes: FILE itself, or DIR/dump.rdb when it names an existing directory. */
export async function resolveRestoreFile(to: string): Promise<string> {
  const dest = path.resolve(to);
  const st = await fs.stat(dest).catch(() => undefined);
  return st?.isDirectory() ? path.join(dest, "dump.rdb") : dest;
}

/** Refuses an existing destination without --force; with it, names where the old file goes. */
export async function planFileDestination(
  dest: string,
  force: boolean,
  now: Date,
): Promise<{ moveAsideTo?: string }> {
  if (!(await pathExists(dest))) return {};
  if (!force) {
    throw new UserError(
      "E_RESTORE_TARGET_EXISTS",
      `${dest} already exists: choose another file or add --force (it is moved aside, not deleted)`,
    );
  }
  return { moveAsideTo: `${dest}.before-restore-${stamp(now)}` };
}

/**
 * Writes the snapshot's RDB to `dest` through a temp name (fsynced, then renamed): every chunk
 * is verified as it is read and the whole-file SHA-256 and size before the rename, so a
 * damaged RDB never appears under its real name.
 */
export async function writeRdb(
  entry: FileEntry,
  dest: string,
  ctx: EngineContext,
  owner?: { uid: number; gid: number },
): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const temp = tempPathFor(dest);
  try {
    const hash = createHash("sha256");
    let size = 0;
    const verified = async function* (): AsyncGenerator<Buffer> {
      for await (const data of readAhead(ctx.repo.chunks, entry.chunks)) {
        hash.update(data);
        size += data.length;
        ctx.progress.add(data.length);
        yield data;
      }
    };
    await pipeline(verified(), createWriteStream(temp, { flags: "wx", mode: 0o600 }));
    if (size !== entry.size || hash.digest("hex") !== entry.sha256) {
      throw new RepoCorruptError(`${entry.path}: content does not match the snapshot's hash`);
    }
    const handle = await fs.open(temp, "r+");
    await handle.sync().finally(() => handle.close());
    if (owner) await fs.chown(temp, owner.uid, owner.gid);
    const seconds = Number(BigInt(entry.mtimeNs) / 1000n) / 1e6;
    await fs.utimes(temp, seconds, seconds);
    await fs.rename(temp, dest);
    await fsyncDir(path.dirname(dest));
  } catch (err) {
    await fs.rm(temp, { force: true });
    if (err instanceof RepoCorruptError) {
      throw new RepoCorruptError(`cannot restore the RDB to ${dest}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** The chunks in order, with up to READ_AHEAD reads (each verified by the store) in flight. */
async function* readAhead(chunks: ChunkStore, ids: readonly string[]): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let next = 0;
  const fill = (): void => {
    while (queue.length < READ_AHEAD && next < ids.length) {
      const read = chunks.get(ids[next++]!);
      read.catch(() => undefined); // awaited in order below; this only silences early rejections
      queue.push(read);
    }
  };
  fill();
  while (queue.length > 0) {
    const data = await queue.shift()!;
    fill();
    yield data;
  }
}

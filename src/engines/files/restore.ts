import fs from "node:fs/promises";
import path from "node:path";
import { RepoCorruptError, UserError } from "../../errors.js";
import type { ChunkStore } from "../../repo/chunk-store.js";
import { verifiedChunks } from "../../repo/entry-content.js";
import { LocalBackend } from "../../repo/backends/local.js";
import { decodeJobs } from "../../repo/decode-pool.js";
import type { DirEntry, Entry, FileEntry, SnapshotManifest, SymlinkEntry } from "../../repo/snapshot.js";
import { isEmptyOrMissingDir, pathExists, tempPathFor } from "../../util/fs.js";
import { isSafeAbsolutePath } from "../../util/paths.js";
import type { EngineContext, RestoreRequest, RestoreResult, RestoreStep } from "../engine.js";
import { WritePool } from "./write-pool.js";

/** `candidate`, or `candidate-2`, `-3` …: a name that does not exist yet, so moving aside never replaces anything. */
async function freeName(candidate: string): Promise<string> {
  let name = candidate;
  for (let n = 2; await pathExists(name); n++) name = `${candidate}-${n}`;
  return name;
}

/** Where each snapshot root goes and what must be moved aside first. */
interface RestorePlan {
  base: string;
  roots: { source: string; dest: string; moveAsideTo?: string }[];
}

/** Builds the plan and refuses unsafe requests before anything is touched. */
export async function planFilesRestore(request: RestoreRequest, now: Date): Promise<RestorePlan> {
  const { snapshot, to, force } = request;
  const roots = (snapshot.metadata.paths as string[] | undefined) ?? [];
  if (to === undefined && !force) {
    throw new UserError(
      "E_RESTORE_REFUSED",
      `restoring ${snapshot.target} in place replaces ${roots.join(", ")}: add --force to do it (the current files are moved aside, not deleted), or use --to DIR`,
    );
  }
  const base = to === undefined ? "/" : path.resolve(to);
  if (to !== undefined && !force && !(await isEmptyOrMissingDir(base))) {
    throw new UserError(
      "E_RESTORE_TARGET_NOT_EMPTY",
      `restore directory ${base} is not empty: choose an empty one or add --force`,
    );
  }
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const planned = [];
  for (const source of roots) {
    const dest = path.join(base, source);
    const aside = (await pathExists(dest)) ? await freeName(`${dest}.before-restore-${stamp}`) : undefined;
    planned.push({ source, dest, ...(aside ? { moveAsideTo: aside } : {}) });
  }
  return { base, roots: planned };
}

/**
 * Restores a files snapshot: each configured path P to DIR/P (or in place). Existing
 * paths are renamed aside, never deleted. Files are written to a temp name and renamed
 * only after every chunk and the whole-file hash checked out, so damaged data never
 * appears under a real name. Directory modes and times are applied last, deepest first.
 */
export async function restoreFiles(
  request: RestoreRequest,
  ctx: EngineContext,
  threads = 2,
): Promise<RestoreResult> {
  const plan = await planFilesRestore(request, new Date());
  const steps: RestoreStep[] = [];
  const movedAside: string[] = [];
  for (const root of plan.roots) {
    if (root.moveAsideTo) steps.push({ action: "move-aside", detail: `${root.dest} → ${root.moveAsideTo}` });
    steps.push({ action: "restore", detail: `${root.source} → ${root.dest}` });
  }
  const result: RestoreResult = { location: plan.base, steps, entries: 0, bytes: 0, movedAside, notes: [] };
  if (request.dryRun) {
    result.entries = request.snapshot.entries.count;
    result.bytes = request.snapshot.sourceBytes;
    return result;
  }
  for (const root of plan.roots) {
    if (!root.moveAsideTo) continue;
    await fs.rename(root.dest, root.moveAsideTo);
    movedAside.push(root.moveAsideTo);
    ctx.logger.info(`moved ${root.dest} aside to ${root.moveAsideTo}`);
  }
  await fs.mkdir(plan.base, { recursive: true });
  const dirs: DirEntry[] = [];
  const asRoot = process.getuid?.() === 0;
  const written = (entries: number, bytes: number): void => {
    result.entries += entries;
    result.bytes += bytes;
    ctx.progress.add(bytes, entries);
  };
  const backend = ctx.repo.backend;
  const root = backend instanceof LocalBackend ? backend.location : undefined;
  await writeEntries(request.snapshot, ctx, root, threads, { base: plan.base, asRoot, dirs, written });
  // Children change a directory's mtime, so directories are finished last, deepest first.
  for (const dir of dirs.reverse()) {
    const dest = path.join(plan.base, dir.path);
    if (asRoot) await fs.lchown(dest, dir.uid, dir.gid);
    await fs.chmod(dest, dir.mode);
    await fs.utimes(dest, ...times(dir));
  }
  ctx.progress.done();
  return result;
}

interface WriteOptions {
  base: string;
  asRoot: boolean;
  /** Directories restored, to be finished last. */
  dirs: DirEntry[];
  written: (entries: number, bytes: number) => void;
}

/**
 * Directories and symlinks made here, in order (parents come first); files written by
 * worker threads straight from the repository when it is a local directory (`root`,
 * write-pool.ts), else here one after another.
 */
async function writeEntries(
  snapshot: SnapshotManifest,
  ctx: EngineContext,
  root: string | undefined,
  threads: number,
  options: WriteOptions,
): Promise<void> {
  const pool =
    root === undefined
      ? undefined
      : new WritePool({ threads, root, chown: options.asRoot, onWritten: options.written });
  // A configured path that is a file or a symlink has no directory entry of its own above it.
  const made = new Set<string>();
  try {
    for await (const entry of entriesUnder(snapshot, ctx)) {
      const dest = path.join(options.base, entry.path);
      const parent = path.dirname(dest);
      if (!made.has(parent)) {
        await fs.mkdir(parent, { recursive: true });
        made.add(parent);
      }
      if (entry.type === "dir") made.add(dest);
      if (entry.type !== "file") {
        await makeEntry(entry, dest, options);
        options.written(1, 0);
        continue;
      }
      const jobs = pool && (await decodeJobs(ctx.repo.chunks, entry, () => 0));
      if (jobs) {
        await pool.add({ entry, dest, temp: tempPathFor(dest), time: times(entry)[0], jobs });
        continue;
      }
      // Not local, or a delta against a chunk that is not in a pack: only this thread's
      // chunk store decodes it.
      await writeFileEntry(entry, dest, ctx.repo.chunks, options.asRoot);
      options.written(1, entry.size);
    }
    await pool?.finish();
  } finally {
    await pool?.close();
  }
}

/** A directory (its mode and times come last) or a symlink; its parent exists. */
async function makeEntry(entry: DirEntry | SymlinkEntry, dest: string, options: WriteOptions): Promise<void> {
  if (entry.type === "dir") {
    await fs.mkdir(dest, { recursive: true });
    options.dirs.push(entry);
    return;
  }
  await fs.symlink(entry.target, dest);
  if (options.asRoot) await fs.lchown(dest, entry.uid, entry.gid);
  await fs.lutimes(dest, ...times(entry));
}

async function* entriesUnder(snapshot: SnapshotManifest, ctx: EngineContext): AsyncGenerator<Entry> {
  for await (const entry of ctx.repo.snapshots.entries(snapshot)) {
    if (!isSafeAbsolutePath(entry.path)) {
      throw new RepoCorruptError(
        `snapshot ${snapshot.id}: refusing entry with unsafe path ${JSON.stringify(entry.path)}`,
      );
    }
    yield entry;
  }
}

/** Writes one file via a temp name; chunks and the whole-file hash are verified as they are written. */
export async function writeFileEntry(
  entry: FileEntry,
  dest: string,
  chunks: ChunkStore,
  asRoot: boolean,
): Promise<void> {
  const temp = tempPathFor(dest);
  const handle = await fs.open(temp, "wx", 0o600);
  try {
    for await (const data of verifiedChunks(chunks, entry)) await handle.write(data);
    if (asRoot) await handle.chown(entry.uid, entry.gid);
    await handle.chmod(entry.mode);
    await handle.utimes(...times(entry));
    await handle.close();
    await fs.rename(temp, dest);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    if (err instanceof RepoCorruptError) {
      throw new RepoCorruptError(`cannot restore ${entry.path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** atime and mtime as seconds (double precision keeps about a quarter microsecond). */
function times(entry: Entry): [number, number] {
  // utimes truncates to whole microseconds; half a microsecond keeps a value like
  // x.123456 from landing on x.1234559999 and losing its last digit.
  const seconds = (Number(BigInt(entry.mtimeNs) / 1000n) + 0.5) / 1e6;
  return [seconds, seconds];
}

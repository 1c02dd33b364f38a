import fs from "node:fs/promises";
import path from "node:path";
import { RepoCorruptError, UserError } from "../../errors.js";
import type { ChunkStore } from "../../repo/chunk-store.js";
import { verifiedChunks } from "../../repo/entry-content.js";
import type { DirEntry, Entry, FileEntry, SnapshotManifest } from "../../repo/snapshot.js";
import { mapOrdered } from "../../util/concurrency.js";
import { isEmptyOrMissingDir, pathExists, tempPathFor } from "../../util/fs.js";
import { isSafeAbsolutePath } from "../../util/paths.js";
import type { EngineContext, RestoreRequest, RestoreResult, RestoreStep } from "../engine.js";

/** Files written at once: most are small, so their syscalls are what costs. */
const WRITE_CONCURRENCY = 8;

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
export async function restoreFiles(request: RestoreRequest, ctx: EngineContext): Promise<RestoreResult> {
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
  // Entries come parents first, but are written several at a time: a child waits for its
  // parent's mkdir instead of repeating a recursive mkdir per entry.
  const made = new Map<string, Promise<unknown>>();
  const parentReady = (dest: string): Promise<unknown> => {
    const parent = path.dirname(dest);
    let ready = made.get(parent);
    if (!ready) {
      ready = fs.mkdir(parent, { recursive: true });
      made.set(parent, ready);
    }
    return ready;
  };
  const written = mapOrdered(entriesUnder(request.snapshot, ctx), WRITE_CONCURRENCY, async (entry) => {
    const dest = path.join(plan.base, entry.path);
    if (entry.type === "dir") {
      const created = parentReady(dest).then(() => fs.mkdir(dest, { recursive: true }));
      made.set(dest, created);
      await created;
      dirs.push(entry);
      return 0;
    }
    await parentReady(dest);
    if (entry.type === "symlink") {
      await fs.symlink(entry.target, dest);
      if (asRoot) await fs.lchown(dest, entry.uid, entry.gid);
      await fs.lutimes(dest, ...times(entry));
      return 0;
    }
    await writeFileEntry(entry, dest, ctx.repo.chunks, asRoot);
    return entry.size;
  });
  for await (const bytes of written) {
    result.entries += 1;
    result.bytes += bytes;
    ctx.progress.add(bytes, 1);
  }
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

import { asError } from "../../errors.js";
import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { performance } from "node:perf_hooks";
import fs from "node:fs/promises";
import path from "node:path";
import picomatch from "picomatch";

/** What the walk found at a path: what a snapshot entry and the unchanged-file check need. */
export interface WalkItem {
  path: string;
  kind: "file" | "dir" | "symlink";
  /** Permission bits, setuid/setgid/sticky included (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Inode number and times in nanoseconds, in decimal, as entries hold them. */
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
}

export interface WalkOptions {
  /** Absolute, normalized roots (see normalizeRoots), in comparePaths order. */
  roots: string[];
  include?: readonly string[];
  exclude?: readonly string[];
  /** Do not descend into other file systems (mount points are recorded, their contents not). */
  oneFileSystem?: boolean;
  /** Called for what is skipped on purpose (a socket, a device). */
  warn: (message: string) => void;
  /** Called for anything that could not be read; the snapshot becomes partial. */
  onProblem: (path: string, message: string) => void;
  /** Mean blocking-lstat time above which the walk uses the thread pool (default 0.5 ms; a test sets -1). */
  slowStatMs?: number;
}

/** Matches absolute paths; a pattern without "/" matches the base name anywhere (like .gitignore). */
function matcher(patterns: readonly string[] | undefined): ((p: string) => boolean) | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const byName = patterns.filter((p) => !p.includes("/"));
  const byPath = patterns.filter((p) => p.includes("/"));
  const nameMatch = byName.length > 0 ? picomatch(byName, { dot: true, basename: true }) : undefined;
  const pathMatch = byPath.length > 0 ? picomatch(byPath, { dot: true }) : undefined;
  return (p) => (nameMatch?.(p) ?? false) || (pathMatch?.(p) ?? false);
}

/**
 * Walks the roots depth-first with each directory's names sorted, so items come in
 * comparePaths order, in batches of up to `batchSize` items. Excluded directories are
 * skipped whole; include patterns select files and symlinks (directories are always
 * walked). Sockets, FIFOs and devices are skipped with a warning: they hold no data to
 * restore. Within a batch nothing is awaited while lstat is fast: a promise per entry cost
 * more CPU than lstat itself (a re-snapshot of the bench tree spent most of its main thread
 * passing entries between async generators), so callers deal with a batch at a time.
 *
 * One loop with a stack of open directories, not one generator per directory: an item
 * yielded from a nested generator passes through every level above it, a promise each.
 */
export async function* walkBatches(options: WalkOptions, batchSize = WALK_BATCH): AsyncGenerator<WalkItem[]> {
  const isExcluded = matcher(options.exclude);
  const isIncluded = matcher(options.include);
  // Mean time of a blocking lstat (exponentially weighted); above SLOW_STAT_MS the walk
  // goes back to batches through the thread pool, and stays there.
  const slowStatMs = options.slowStatMs ?? SLOW_STAT_MS;
  let statMs = 0;
  let slow = false;
  const timedLstat = (p: string): BigIntStats | Error => {
    const started = performance.now();
    const result = lstatNow(p);
    statMs = statMs * 0.99 + (performance.now() - started) * 0.01;
    if (statMs > slowStatMs) slow = true;
    return result;
  };
  /** Directories being walked, innermost last. */
  const open: OpenDirectory[] = [];
  let batch: WalkItem[] = [];

  /** Adds what an entry yields, if anything; returns true for a directory to list. */
  function take(p: string, statResult: BigIntStats | Error, rootDev: bigint, isRoot: boolean): boolean {
    if (statResult instanceof Error) {
      options.onProblem(p, describeError(statResult));
      return false;
    }
    const stat = statResult;
    if (stat.isFile() || stat.isSymbolicLink()) {
      if (isRoot || !isIncluded || isIncluded(p)) batch.push(itemOf(p, stat));
      return false;
    }
    if (!stat.isDirectory()) {
      options.warn(`skipping ${kindOf(stat)} ${p}: only files, directories and symlinks are backed up`);
      return false;
    }
    // Taken before its children: a directory comes before what it holds.
    batch.push(itemOf(p, stat));
    return !options.oneFileSystem || stat.dev === rootDev;
  }

  async function list(p: string, rootDev: bigint): Promise<void> {
    let names: string[];
    try {
      // Blocking, like lstat, while lstat is fast: the listing is in the cache too.
      names = slow ? await fs.readdir(p) : readdirSync(p);
    } catch (err) {
      options.onProblem(p, `cannot list directory: ${describeError(err)}`);
      return;
    }
    names.sort();
    const children: string[] = [];
    for (const name of names) {
      const child = p === "/" ? `/${name}` : `${p}/${name}`;
      if (!isExcluded?.(child)) children.push(child);
    }
    open.push({ children, next: 0, rootDev, batch: [], batchStart: 0 });
  }

  for (const root of options.roots) {
    const rootStat = await lstatOrError(root);
    const rootDev = rootStat instanceof Error ? 0n : rootStat.dev;
    const resolved = path.resolve(root);
    if (take(resolved, rootStat, rootDev, true)) await list(resolved, rootDev);
    while (open.length > 0) {
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
      const dir = open[open.length - 1]!;
      if (dir.next >= dir.children.length) {
        open.pop();
        continue;
      }
      const i = dir.next++;
      const child = dir.children[i]!;
      // From the inode cache, a blocking lstat takes microseconds, and a promise round trip
      // per entry costs more CPU than the walk's own work. When lstat has to wait for the
      // disk, a batch of siblings at once through the thread pool keeps the disk busy instead.
      let stat: BigIntStats | Error;
      if (!slow) stat = timedLstat(child);
      else {
        if (i >= dir.batchStart + dir.batch.length) {
          dir.batchStart = i;
          dir.batch = await Promise.all(dir.children.slice(i, i + STAT_BATCH).map((c) => lstatOrError(c)));
        }
        stat = dir.batch[i - dir.batchStart]!;
      }
      if (take(child, stat, dir.rootDev, false)) await list(child, dir.rootDev);
    }
  }
  if (batch.length > 0) yield batch;
}

/** A directory being walked: its children's paths (sorted, not excluded) and where the walk is. */
interface OpenDirectory {
  children: string[];
  next: number;
  rootDev: bigint;
  /** lstat results of children from batchStart on (slow mode). */
  batch: (BigIntStats | Error)[];
  batchStart: number;
}

const STAT_BATCH = 64;
/** Items per batch of walkBatches: enough to make the per-batch awaits cheap, few enough to keep memory small. */
const WALK_BATCH = 256;
/** A blocking lstat slower than this on average (cold cache, network file system) stops the blocking ones. */
const SLOW_STAT_MS = 0.5;

function itemOf(p: string, stat: BigIntStats): WalkItem {
  return {
    path: p,
    kind: stat.isDirectory() ? "dir" : stat.isSymbolicLink() ? "symlink" : "file",
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    size: Number(stat.size),
    ino: stat.ino.toString(),
    mtimeNs: stat.mtimeNs.toString(),
    ctimeNs: stat.ctimeNs.toString(),
  };
}

function lstatNow(p: string): BigIntStats | Error {
  try {
    return lstatSync(p, { bigint: true });
  } catch (err) {
    return asError(err);
  }
}

function lstatOrError(p: string): Promise<BigIntStats | Error> {
  return fs.lstat(p, { bigint: true }).catch(asError);
}

function kindOf(stat: BigIntStats): string {
  if (stat.isSocket()) return "socket";
  if (stat.isFIFO()) return "FIFO";
  if (stat.isBlockDevice()) return "block device";
  if (stat.isCharacterDevice()) return "character device";
  return "special file";
}

/** A short reason for an fs error ("no such file or directory", "permission denied"). */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT":
      return "vanished during backup (no such file or directory)";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EIO":
      return "input/output error";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

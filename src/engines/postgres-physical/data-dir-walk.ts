import type { Stats } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { OperationError } from "../../errors.js";
import type { TarMemberHeader } from "./tar-header.js";

/** Left out wherever they are, as pg_basebackup leaves them out (basebackup.c excludeFiles). */
const EXCLUDED_FILES = new Set([
  "postgresql.auto.conf.tmp",
  "current_logfiles.tmp",
  "backup_label",
  "tablespace_map",
  "backup_manifest",
  "postmaster.pid",
  "postmaster.opts",
]);
/** Directories kept empty: their content is rebuilt at start-up or belongs to the live server. */
const EMPTIED_DIRECTORIES = new Set([
  "pg_stat_tmp",
  "pg_replslot",
  "pg_dynshmem",
  "pg_notify",
  "pg_serial",
  "pg_snapshots",
  "pg_subtrans",
]);
const RELCACHE_INIT = "pg_internal.init";
const TEMP_PREFIX = "pgsql_tmp";
/** A relation file name: relfilenode, optional fork, optional segment number. */
const RELATION_FILE = /^(\d+)(?:_(fsm|vm|init))?(?:\.\d+)?$/;

/** A member of a base backup found in the data directory; `source` is where its bytes are. */
export interface DataDirMember extends TarMemberHeader {
  source: string;
}

/**
 * The data directory's members in the order a base backup writes them (each directory
 * before its content, names sorted), with pg_basebackup's exclusions: WAL, temporary
 * files, the contents of directories the server rebuilds, the forks of unlogged tables
 * but their init fork, and the files of a running server (postmaster.pid, backup_label).
 * A file that disappears while the walk reaches it is left out, as pg_basebackup does:
 * WAL replay recreates or removes whatever changed after the backup started.
 */
export async function* walkDataDirectory(root: string): AsyncGenerator<DataDirMember> {
  yield* walkDirectory(root, "");
}

async function* walkDirectory(root: string, relative: string): AsyncGenerator<DataDirMember> {
  const absolute = relative === "" ? root : path.join(root, relative);
  let names: string[];
  try {
    names = (await fs.readdir(absolute)).sort();
  } catch (err) {
    if (isGone(err)) return;
    throw readError(absolute, err);
  }
  const unlogged = isDatabaseDirectory(relative) ? unloggedRelations(names) : undefined;
  for (const name of names) {
    if (EXCLUDED_FILES.has(name) || name.startsWith(RELCACHE_INIT) || name.startsWith(TEMP_PREFIX)) continue;
    if (unlogged && isUnloggedFork(name, unlogged)) continue;
    const rel = relative === "" ? name : `${relative}/${name}`;
    const source = path.join(absolute, name);
    const stat = await lstatIfPresent(source);
    if (!stat) continue;
    if (relative === "" && name === "pg_wal") {
      // Kept as an empty directory even when it is a symlink elsewhere (as pg_basebackup does).
      const dir = stat.isDirectory() ? stat : await fs.stat(source);
      yield member(rel, "directory", dir, source);
      yield member(`${rel}/archive_status`, "directory", dir, source);
      continue;
    }
    if (relative === "" && name === "pg_tblspc" && stat.isDirectory()) {
      const spaces = await fs.readdir(source);
      if (spaces.length > 0) {
        throw new OperationError(
          "E_PG_BASEBACKUP_FAILED",
          `the cluster has tablespaces (${spaces.join(", ")} in pg_tblspc), which a base backup into one archive cannot hold; keep the data in the main data directory`,
        );
      }
    }
    if (stat.isSymbolicLink()) {
      const target = await fs.readlink(source).catch((err: unknown) => {
        if (isGone(err)) return undefined;
        throw readError(source, err);
      });
      if (target !== undefined) yield { ...member(rel, "symlink", stat, source), linkTarget: target };
    } else if (stat.isDirectory()) {
      yield member(rel, "directory", stat, source);
      if (!EMPTIED_DIRECTORIES.has(name)) yield* walkDirectory(root, rel);
    } else if (stat.isFile()) {
      yield member(rel, "file", stat, source);
    }
    // Sockets, FIFOs and devices are left out, as pg_basebackup leaves them out.
  }
}

function member(rel: string, type: DataDirMember["type"], stat: Stats, source: string): DataDirMember {
  return {
    path: rel,
    type,
    size: type === "file" ? stat.size : 0,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    mtime: Math.floor(stat.mtimeMs / 1000),
    source,
  };
}

/** `base/<oid>`: a database's directory, where unlogged relations' forks are left out. */
function isDatabaseDirectory(relative: string): boolean {
  return /^base\/\d+$/.test(relative);
}

/** Relfilenodes with an init fork: the unlogged relations of a database directory. */
function unloggedRelations(names: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const name of names) {
    const m = RELATION_FILE.exec(name);
    if (m?.[2] === "init") found.add(m[1]!);
  }
  return found;
}

/** Every fork of an unlogged relation but its init fork (from which it is reset at start-up). */
function isUnloggedFork(name: string, unlogged: ReadonlySet<string>): boolean {
  const m = RELATION_FILE.exec(name);
  return m !== null && unlogged.has(m[1]!) && m[2] !== "init";
}

async function lstatIfPresent(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isGone(err)) return undefined;
    throw readError(p, err);
  }
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function readError(p: string, err: unknown): OperationError {
  return new OperationError("E_PG_BASEBACKUP_FAILED", `cannot read ${p}: ${(err as Error).message}`, {
    cause: err,
  });
}

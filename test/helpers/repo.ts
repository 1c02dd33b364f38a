import fs from "node:fs/promises";
import path from "node:path";
import { listing } from "./tree.js";

export interface RepoStateOptions {
  /**
   * Leave out `runs/`, the run history: a backup that fails records the failed run there
   * on purpose (DESIGN.md, "Job run"), so it is not a change to the stored data.
   */
  ignoreRuns?: boolean;
}

/**
 * The repository's contents as one string (every file with mode, size and mtime), to
 * compare before and after a command that must change nothing. Directory mtimes are left
 * out: taking and releasing a lock touches `locks/` without leaving anything behind, and
 * anything left behind shows up as an entry.
 */
export async function repoState(repo: string, options: RepoStateOptions = {}): Promise<string> {
  try {
    await fs.access(repo);
  } catch {
    return "(no repository directory)";
  }
  return listing(repo, {
    dirMtimes: false,
    skip: options.ignoreRuns ? (rel) => rel === "runs" || rel.startsWith("runs/") : undefined,
  });
}

/** Absolute paths of every stored chunk (`data/xx/<sha256>`). */
export async function chunkFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  const data = path.join(repo, "data");
  for (const sub of (await fs.readdir(data)).sort()) {
    for (const name of (await fs.readdir(path.join(data, sub))).sort()) {
      if (/^[0-9a-f]{64}$/.test(name)) out.push(path.join(data, sub, name));
    }
  }
  return out;
}

/**
 * Names of the locks held in the repository. A `.tmp-` file is a lock still being written
 * (or one whose writer died mid-write): not a lock, and ignored by readers.
 */
export async function lockFiles(repo: string): Promise<string[]> {
  const names = await fs.readdir(path.join(repo, "locks")).catch(() => [] as string[]);
  return names.filter((n) => !n.startsWith(".tmp-"));
}

/** Temporary files of writes not yet committed under `dir` of the repository (e.g. "data"). */
export async function tempFiles(repo: string, dir: string): Promise<string[]> {
  const names = await fs.readdir(path.join(repo, dir), { recursive: true }).catch(() => [] as string[]);
  return names.filter((n) => path.basename(n).startsWith(".tmp-"));
}

import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** What is compared of one entry of a tree. */
export interface EntryInfo {
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  mode: number;
  mtimeMs: number;
}

function entryType(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  return stats.isSymbolicLink() ? "symlink" : "other";
}

/**
 * Every entry under `root` (not `root` itself), keyed by its path relative to `root` with `/`
 * separators. Symlinks are listed, not followed.
 */
export async function listTree(root: string): Promise<Map<string, EntryInfo>> {
  const entries = new Map<string, EntryInfo>();
  const walk = async (relDir: string): Promise<void> => {
    const names = await readdir(join(root, relDir));
    for (const name of names.sort()) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      const stats = await lstat(join(root, rel));
      const type = entryType(stats);
      entries.set(rel, {
        type,
        size: type === "dir" ? 0 : stats.size,
        mode: stats.mode,
        mtimeMs: stats.mtimeMs,
      });
      if (type === "dir") await walk(rel);
    }
  };
  await walk("");
  return entries;
}

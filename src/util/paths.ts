import path from "node:path";

/**
 * Orders absolute paths component by component ("/a/b" < "/a/b/c" < "/a/b-c"), which is
 * the order a depth-first walk with sorted directory listings produces. Snapshots store
 * entries in this order, so a new walk can be merged with its parent's entries in one pass.
 */
export function comparePaths(a: string, b: string): number {
  // Component by component is the same as character by character with "/" below every
  // other character and the end below "/": no split, which a re-snapshot did twice per file.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;

/** Sorts and de-duplicates root paths, dropping any root that lies inside another. */
export function normalizeRoots(roots: readonly string[]): string[] {
  const sorted = [...new Set(roots.map((r) => path.resolve(r)))].sort(comparePaths);
  return sorted.filter((root, i) => !sorted.slice(0, i).some((other) => isInside(root, other)));
}

/** True when `child` is `parent` or below it. */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** True for an absolute, normalized path with no `..` (safe to join under a restore directory). */
export function isSafeAbsolutePath(p: string): boolean {
  return path.isAbsolute(p) && path.normalize(p) === p && !p.split("/").includes("..");
}

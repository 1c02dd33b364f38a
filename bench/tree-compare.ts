import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { Prng } from "./prng.js";
import { type EntryInfo, listTree } from "./tree-list.js";

/** Share of the other files whose content is hashed on top of the ones named in `alwaysHash`. */
const SAMPLE_SHARE = 0.05;
const MAX_LISTED = 5;

/** What a successful comparison checked, and differences that do not make it fail. */
export interface TreeComparison {
  entries: number;
  hashed: number;
  /** Entries whose mode or mtime (to the second) differ: reported, not fatal. */
  metadataDifferences: string[];
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function listDifferences(expected: Map<string, EntryInfo>, actual: Map<string, EntryInfo>): string[] {
  const problems: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (got === undefined) problems.push(`missing ${path}`);
    else if (got.type !== want.type) problems.push(`${path}: ${got.type} instead of ${want.type}`);
    else if (got.size !== want.size) problems.push(`${path}: ${got.size} bytes instead of ${want.size}`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) problems.push(`unexpected ${path}`);
  return problems;
}

function sameMetadata(a: EntryInfo, b: EntryInfo): boolean {
  return a.mode === b.mode && Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000);
}

/**
 * Checks that `actual` is a faithful copy of `expected`: the same entries with the same types
 * and sizes, and the same SHA-256 for every file in `alwaysHash` plus a seeded 5% sample of the
 * others. Throws an error listing the first differences otherwise.
 */
export async function compareTrees(options: {
  expected: string;
  actual: string;
  alwaysHash?: readonly string[];
  seed?: number;
}): Promise<TreeComparison> {
  const [expected, actual] = await Promise.all([listTree(options.expected), listTree(options.actual)]);
  const fail = (problems: string[]) => {
    const shown = problems.slice(0, MAX_LISTED).join("; ");
    const more = problems.length > MAX_LISTED ? ` (and ${problems.length - MAX_LISTED} more)` : "";
    throw new Error(`${options.actual} differs from ${options.expected}: ${shown}${more}`);
  };
  const structural = listDifferences(expected, actual);
  if (structural.length > 0) fail(structural);
  const rng = new Prng(options.seed ?? 1);
  const files = [...expected].filter(([, e]) => e.type === "file").map(([path]) => path);
  const toHash = new Set([...(options.alwaysHash ?? []), ...files.filter(() => rng.next() < SAMPLE_SHARE)]);
  const contentProblems: string[] = [];
  for (const path of toHash) {
    const [want, got] = await Promise.all([
      sha256(join(options.expected, path)),
      sha256(join(options.actual, path)),
    ]);
    if (want !== got) contentProblems.push(`${path}: content differs`);
  }
  if (contentProblems.length > 0) fail(contentProblems);
  const metadataDifferences = [...expected]
    .filter(([path, want]) => !sameMetadata(want, actual.get(path) as EntryInfo))
    .map(([path]) => path);
  return { entries: expected.size, hashed: toHash.size, metadataDifferences };
}

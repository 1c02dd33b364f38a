import { createCipheriv, createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { compress, decompress } from "zstd-napi";
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

/** Absolute paths of every stored chunk object (`data/xx/<sha256>`; packed chunks are not among them). */
export async function chunkFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  const data = path.join(repo, "data");
  for (const sub of (await fs.readdir(data).catch(() => [] as string[])).sort()) {
    for (const name of (await fs.readdir(path.join(data, sub))).sort()) {
      if (/^[0-9a-f]{64}$/.test(name)) out.push(path.join(data, sub, name));
    }
  }
  return out;
}

/** Absolute paths of every pack (`packs/xx/<id>`). */
export async function packFiles(repo: string): Promise<string[]> {
  const names = await fs.readdir(path.join(repo, "packs"), { recursive: true }).catch(() => [] as string[]);
  return names
    .filter((n) => /^[0-9a-f]{32}$/.test(path.basename(n)))
    .map((n) => path.join(repo, "packs", n))
    .sort();
}

/**
 * A stored chunk and the bytes that hold it: a whole chunk object, or in a pack the
 * chunk's own bytes (raw frame) or its whole frame (zstd: the chunk is not separable).
 */
export interface StoredChunk {
  id: string;
  file: string;
  packed: boolean;
  /** Plain size (packed) or object size (loose). */
  size: number;
  region: { offset: number; length: number };
}

interface IndexJson {
  frames: { offset: number; length: number; encoding: "zstd" | "raw"; chunks: [string, number][] }[];
}

/** Every stored chunk, read from the repository's own files (chunk objects, then pack indexes). */
export async function storedChunks(repo: string): Promise<StoredChunk[]> {
  const out: StoredChunk[] = [];
  for (const file of await chunkFiles(repo)) {
    const size = (await fs.stat(file)).size;
    out.push({ id: path.basename(file), file, packed: false, size, region: { offset: 1, length: size - 1 } });
  }
  for (const file of await packFiles(repo)) {
    const index = JSON.parse(
      decompress(await fs.readFile(indexFileOf(repo, file))).toString("utf8"),
    ) as IndexJson;
    for (const frame of index.frames) {
      let start = 0;
      for (const [id, size] of frame.chunks) {
        const region =
          frame.encoding === "raw"
            ? { offset: frame.offset + start, length: size }
            : { offset: frame.offset, length: frame.length };
        out.push({ id, file, packed: true, size, region });
        start += size;
      }
    }
  }
  return out;
}

/** The stored chunk with this id; fails the test when there is none. */
export async function storedChunk(repo: string, id: string): Promise<StoredChunk> {
  const found = (await storedChunks(repo)).find((c) => c.id === id);
  if (!found) throw new Error(`chunk ${id} is not stored in ${repo}`);
  return found;
}

/** Flips bits of the byte in the middle of a chunk's stored bytes (damaging it, and in a zstd frame its frame). */
export async function damageChunk(chunk: StoredChunk, mask = 0x10): Promise<void> {
  const handle = await fs.open(chunk.file, "r+");
  try {
    const at = chunk.region.offset + Math.floor(chunk.region.length / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0]! ^= mask;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
}

/**
 * Makes a chunk missing: deletes its object, or for a packed chunk renames it in its
 * pack's index (its neighbours in the pack stay readable).
 */
export async function removeChunk(repo: string, chunk: StoredChunk): Promise<void> {
  if (!chunk.packed) return fs.rm(chunk.file);
  const indexFile = indexFileOf(repo, chunk.file);
  const text = decompress(await fs.readFile(indexFile)).toString("utf8");
  await fs.writeFile(indexFile, compress(Buffer.from(text.replace(chunk.id, "0".repeat(64)))));
}

/** The index object (zstd-compressed JSON) of a pack file. */
function indexFileOf(repo: string, packFile: string): string {
  return path.join(repo, "index", `${path.basename(packFile)}.json.zst`);
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

/** Deterministic incompressible bytes (AES-256-CTR keyed by the seed). */
export function seeded(seed: string, bytes: number): Buffer {
  const key = createHash("sha256").update(seed).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

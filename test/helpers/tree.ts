import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** One entry of a tree as {@link snapshotTree} describes it; equal trees give equal arrays. */
export interface TreeEntry {
  /** Relative to the tree's root ("." for the root itself). */
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  /** Permission bits, octal string (e.g. "644"). */
  mode: string;
  uid: number;
  gid: number;
  /** Modification time in whole microseconds since the epoch (a decimal string). */
  mtimeUs: string;
  size?: number;
  sha256?: string;
  /** Symlink target as stored in the link. */
  target?: string;
}

/** Pseudo-random bytes from a seed (AES-256-CTR over zeros): fast, deterministic, incompressible. */
export function randomStream(seed: string, bytes: number, pieceBytes = 1 << 20): Readable {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(pieceBytes);
  let left = bytes;
  return Readable.from(
    (function* () {
      while (left > 0) {
        const n = Math.min(left, pieceBytes);
        left -= n;
        yield cipher.update(zeros.subarray(0, n));
      }
    })(),
  );
}

/** Writes `bytes` pseudo-random bytes to `file`, streamed (never the whole file in memory). */
export async function writeRandomFile(file: string, bytes: number, seed = file): Promise<void> {
  await pipeline(randomStream(seed, bytes), createWriteStream(file));
}

/** Seconds since the epoch with a sub-second part, for utimes. */
function when(n: number): number {
  return 1_600_000_000 + n * 86_400 + ((n * 123_457) % 1_000_000) / 1e6;
}

/** Names that trip up shells, JSON, path handling and terminals. */
export const ODD_NAMES = [
  "with space.txt",
  "new\nline.txt",
  "-leading-dash.txt",
  `quote"s and 'apostrophes'.txt`,
  "#hash.txt",
  "x".repeat(200),
  "tab\tname",
  "back\\slash",
] as const;

export const UNICODE_NAMES = ["ünïcødé.txt", "日本語", "🎉 party.txt", "Ωmega-ζ"] as const;

export interface MadeTree {
  /** Absolute path of the ~20 MB pseudo-random file. */
  bigFile: string;
  /** Relative paths of the regular files created (handy for mutations). */
  files: string[];
}

/**
 * Builds a tree at `dir` (created) with every kind of entry a files backup must carry:
 * empty, small and large (streamed) regular files; nested and empty directories;
 * relative, absolute, dangling and directory symlinks; modes 0600, 0644, 0755, 0444 and a
 * 0700 directory; explicit mtimes with sub-second parts; unicode and odd names.
 */
export async function makeTree(dir: string, options: { bigBytes?: number } = {}): Promise<MadeTree> {
  const files: string[] = [];
  const file = async (rel: string, content: string | Buffer, mode = 0o644): Promise<void> => {
    const full = path.join(dir, rel);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, content);
    await fs.chmod(full, mode);
    files.push(rel);
  };
  await fs.mkdir(dir, { recursive: true });

  await file("empty.txt", "");
  await file("small.txt", "hello, backup\n");
  await file("docs/readme.md", "# docs\n\nSome text that compresses well. ".repeat(200));
  await file("docs/a/b/c/deep.txt", "deep down\n");
  await fs.mkdir(path.join(dir, "empty-dir"));
  await fs.mkdir(path.join(dir, "docs/a/empty-inner"), { recursive: true });

  const bigFile = path.join(dir, "data/big.bin");
  await fs.mkdir(path.dirname(bigFile), { recursive: true });
  await writeRandomFile(bigFile, options.bigBytes ?? 20 * 1024 * 1024, "big");
  files.push("data/big.bin");
  await file("data/medium.bin", Buffer.alloc(300_000, 7));

  await file("modes/private-0600", "private\n", 0o600);
  await file("modes/public-0644", "public\n", 0o644);
  await file("modes/script-0755.sh", "#!/bin/sh\necho hi\n", 0o755);
  await file("modes/readonly-0444", "read only\n", 0o444);
  await file("modes/secret-dir/inside.txt", "inside a 0700 dir\n", 0o600);
  await fs.chmod(path.join(dir, "modes/secret-dir"), 0o700);

  for (const [i, name] of UNICODE_NAMES.entries()) {
    if (name === "日本語") await file(`${name}/ファイル.txt`, "日本語のテキスト\n");
    else await file(name, `unicode ${i} ✓\n`);
  }
  for (const [i, name] of ODD_NAMES.entries()) await file(`odd/${name}`, `odd name ${i}\n`);

  await fs.mkdir(path.join(dir, "links"));
  await fs.symlink("../small.txt", path.join(dir, "links/relative"));
  await fs.symlink(path.join(dir, "small.txt"), path.join(dir, "links/absolute"));
  await fs.symlink("../does/not/exist", path.join(dir, "links/dangling"));
  await fs.symlink("../docs", path.join(dir, "links/to-dir"));

  await setTimes(dir);
  return { bigFile, files };
}

/**
 * Gives every entry under `dir` (itself included) a distinct explicit mtime with a
 * sub-second part. Directories last, deepest first, since creating entries touches them.
 */
export async function setTimes(dir: string, offset = 0): Promise<void> {
  const all = await walk(dir);
  let n = offset;
  for (const rel of all) {
    const full = path.join(dir, rel);
    const st = await fs.lstat(full);
    const t = when(n++);
    if (st.isSymbolicLink()) await fs.lutimes(full, t, t);
    else if (!st.isDirectory()) await fs.utimes(full, t, t);
  }
  for (const rel of [...all].reverse()) {
    const full = path.join(dir, rel);
    if ((await fs.lstat(full)).isDirectory()) {
      const t = when(n++);
      await fs.utimes(full, t, t);
    }
  }
}

/** Relative paths under `dir`, "." first, each directory before its contents, sorted (just "." for a file). */
async function walk(dir: string): Promise<string[]> {
  const out = ["."];
  if (!(await fs.lstat(dir)).isDirectory()) return out;
  const visit = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(path.join(dir, rel))).sort();
    for (const name of names) {
      const child = rel === "." ? name : `${rel}/${name}`;
      out.push(child);
      if ((await fs.lstat(path.join(dir, child))).isDirectory()) await visit(child);
    }
  };
  await visit(".");
  return out;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const buf of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(buf as Buffer);
  return hash.digest("hex");
}

/**
 * Describes the tree at `dir` (itself included, as ".") so two trees can be compared with
 * `expect(a).toEqual(b)`: type, mode, owner, mtime to the microsecond, and for files size
 * and SHA-256, for symlinks their target. Directory sizes are left out (file-system detail).
 */
export async function snapshotTree(dir: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for (const rel of await walk(dir)) {
    const full = path.join(dir, rel);
    const st = await fs.lstat(full, { bigint: true });
    const entry: TreeEntry = {
      path: rel,
      type: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other",
      mode: Number(st.mode & 0o7777n).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeUs: (st.mtimeNs / 1000n).toString(),
    };
    if (st.isFile()) {
      entry.size = Number(st.size);
      entry.sha256 = await sha256File(full);
    }
    if (st.isSymbolicLink()) entry.target = await fs.readlink(full);
    out.push(entry);
  }
  return out;
}

export interface ListingOptions {
  /** Leave out these relative paths and everything below them. */
  skip?: (rel: string) => boolean;
  /**
   * Include directory mtimes (default true). A directory's mtime changes when a file is
   * created and removed again inside it (a lock, a temp file), which leaves no lasting trace.
   */
  dirMtimes?: boolean;
}

/** Every path under `dir` with mode, size and mtime in ns: any change shows as a different string. */
export async function listing(dir: string, options: ListingOptions = {}): Promise<string> {
  const rows: string[] = [];
  for (const rel of await walk(dir)) {
    if (options.skip?.(rel)) continue;
    const st = await fs.lstat(path.join(dir, rel), { bigint: true });
    const isDir = st.isDirectory();
    const size = isDir ? "-" : st.size.toString();
    const mtime = isDir && options.dirMtimes === false ? "-" : st.mtimeNs.toString();
    rows.push(`${JSON.stringify(rel)} ${st.mode.toString(8)} ${size} ${mtime}`);
  }
  return rows.join("\n");
}

export interface BulkTree {
  smallFiles: string[];
  largeFiles: string[];
}

/**
 * A big tree for fault tests: `smallFiles` files of 1–64 kB spread over folders (half
 * compressible log text, half random) and `largeFiles` random files of `largeBytes`.
 */
export async function makeBulkTree(
  dir: string,
  options: { smallFiles: number; largeFiles: number; largeBytes: number },
): Promise<BulkTree> {
  const smallFiles: string[] = [];
  const largeFiles: string[] = [];
  for (let i = 0; i < options.smallFiles; i++) {
    const file = path.join(dir, `d${String(i % 40).padStart(2, "0")}`, `file-${i}.${i % 2 ? "bin" : "log"}`);
    if (i < 40) await fs.mkdir(path.dirname(file), { recursive: true });
    const size = 1024 + ((i * 7919) % 63) * 1024;
    if (i % 2) await writeRandomFile(file, size, `small-${i}`);
    else await fs.writeFile(file, `${i} GET /api/v1/items?page=${i} 200 ${size}\n`.repeat(size / 40));
    smallFiles.push(file);
  }
  await fs.mkdir(path.join(dir, "large"), { recursive: true });
  for (let i = 0; i < options.largeFiles; i++) {
    const file = path.join(dir, "large", `blob-${i}.bin`);
    await writeRandomFile(file, options.largeBytes, `large-${i}`);
    largeFiles.push(file);
  }
  return { smallFiles, largeFiles };
}

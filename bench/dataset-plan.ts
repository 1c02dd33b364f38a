import { Prng, deriveSeed } from "./prng.js";
import type { TextKind } from "./text-lines.js";

/** What a dataset is generated from; equal parameters give byte-identical trees. */
export interface DatasetParams {
  /** 1 = ~2 GB in ~20,000 files; sizes and counts scale linearly. */
  scale: number;
  /** Base seed of every pseudo-random choice. */
  seed: number;
}

/** The kind of one file: pseudo-random (incompressible) bytes, or compressible text. */
export type FileKind = "bin" | TextKind;

/** One file of the planned tree. */
export interface FileSpec {
  /** Position in the plan; also the file's content seed. */
  index: number;
  /** Path relative to the dataset root, with `/` separators. */
  path: string;
  size: number;
  kind: FileKind;
}

const FILES_AT_SCALE_1 = 20_000;
const BYTES_AT_SCALE_1 = 2_000_000_000;
const FILES_PER_DIR = 100;
const TEXT_SHARE = 0.3;
const TEXT_SIZE = { min: 1_000, max: 256_000 };
const BIN_SIZE = { min: 10_000, max: 2_000_000 };
const BIN_EXTENSIONS = ["jpg", "pdf", "png", "zip", "bin"] as const;
const TEXT_KINDS: readonly TextKind[] = ["log", "csv", "json"];

/** Log-uniform size when `skew` = 1; larger skews push most files towards `min`. */
function skewedSize(u: number, skew: number, range: { min: number; max: number }): number {
  const lnMin = Math.log(range.min);
  return Math.round(Math.exp(lnMin + u ** skew * (Math.log(range.max) - lnMin)));
}

/** Finds the skew that makes the sizes drawn from `us` sum to `target` (bisection; sum falls as skew grows). */
function fitSkew(us: number[], target: number): number {
  const total = (skew: number) => us.reduce((sum, u) => sum + skewedSize(u, skew, BIN_SIZE), 0);
  let low = 0.05;
  let high = 200;
  for (let i = 0; i < 60; i++) {
    const mid = Math.sqrt(low * high);
    if (total(mid) > target) low = mid;
    else high = mid;
  }
  return Math.sqrt(low * high);
}

/** The leaf directory of the `leaf`-th group of files: three levels, `a00/b03/c05`. */
function leafDir(leaf: number, fanout: number): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `a${pad(Math.floor(leaf / fanout / fanout))}/b${pad(Math.floor(leaf / fanout) % fanout)}/c${pad(leaf % fanout)}`;
}

/** The relative directory paths files may live in, for `fileCount` files (~100 per directory). */
export function planDirectories(fileCount: number): string[] {
  const leaves = Math.max(1, Math.ceil(fileCount / FILES_PER_DIR));
  const fanout = Math.max(2, Math.ceil(Math.cbrt(leaves)));
  return Array.from({ length: leaves }, (_, leaf) => leafDir(leaf, fanout));
}

/** The file name of a planned or added file. */
export function fileName(stem: string, kind: FileKind, rng: Prng): string {
  return `${stem}.${kind === "bin" ? rng.pick(BIN_EXTENSIONS) : kind}`;
}

/**
 * Plans the dataset: which files, where, how large and of which kind. 30% of files are text
 * (1–256 kB); the rest are incompressible, 10 kB–2 MB, skewed so the whole lands near 2 GB × scale.
 */
export function planDataset(params: DatasetParams): FileSpec[] {
  const count = Math.max(10, Math.round(FILES_AT_SCALE_1 * params.scale));
  const dirs = planDirectories(count);
  const rng = new Prng(deriveSeed(params.seed, 0x706c616e));
  const drafts = Array.from({ length: count }, (_, index) => {
    const text = rng.next() < TEXT_SHARE;
    const kind: FileKind = text ? rng.pick(TEXT_KINDS) : "bin";
    const dir = dirs[Math.floor((index * dirs.length) / count)] as string;
    const path = `${dir}/${fileName(`file-${String(index).padStart(6, "0")}`, kind, rng)}`;
    const u = rng.next();
    return { index, path, kind, u, size: text ? skewedSize(u, 1, TEXT_SIZE) : 0 };
  });
  const textBytes = drafts.reduce((sum, d) => sum + d.size, 0);
  const bins = drafts.filter((d) => d.kind === "bin");
  const skew = fitSkew(
    bins.map((d) => d.u),
    BYTES_AT_SCALE_1 * params.scale - textBytes,
  );
  return drafts.map(({ index, path, kind, u, size }) => ({
    index,
    path,
    kind,
    size: kind === "bin" ? skewedSize(u, skew, BIN_SIZE) : size,
  }));
}

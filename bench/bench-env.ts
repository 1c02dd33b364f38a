import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchContext } from "./section.js";

/** The project root: this file runs as `<project>/dist/bench/bench-env.js`. */
function projectRoot(): string {
  return resolve(fileURLToPath(new URL("../..", import.meta.url)));
}

function parseScale(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0 || scale > 10) {
    throw new Error(`BENCH_SCALE must be a number in (0, 10], got "${raw}"`);
  }
  return scale;
}

function parseRepeat(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 1;
  const repeat = Number(raw);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
    throw new Error(`BENCH_REPEAT must be an integer from 1 to 20, got "${raw}"`);
  }
  return repeat;
}

/**
 * Reads the benchmark settings from the environment: `BENCH_SCALE` (default 1 = ~2 GB of files),
 * `BENCH_REPEAT` (runs per section, default 1), `BENCH_DIR` (default `<project>/.bench`),
 * `BENCH_KEEP=1` to keep scratch directories.
 */
export function benchContextFromEnv(env: NodeJS.ProcessEnv = process.env): BenchContext {
  const projectDir = projectRoot();
  return {
    projectDir,
    benchDir: resolve(env.BENCH_DIR || resolve(projectDir, ".bench")),
    scale: parseScale(env.BENCH_SCALE),
    repeat: parseRepeat(env.BENCH_REPEAT),
    keep: env.BENCH_KEEP === "1",
    log: (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`),
  };
}

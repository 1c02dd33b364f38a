import { readFileSync, readdirSync } from "node:fs";
import type { BenchContext } from "./section.js";
import { performance } from "node:perf_hooks";
import { ExecaError, execa } from "execa";

/** How often the process tree's memory is sampled. */
const POLL_MS = 50;
const STDERR_TAIL_LINES = 15;

/** The outcome of one measured command. */
export interface Measurement {
  argv: string[];
  wallSeconds: number;
  /** Sum over the process tree of each process's peak resident set (VmHWM), in bytes. */
  peakRssBytes: number;
  stdout: string;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process exited between listing and reading
  }
}

/** `pid` and its descendants, via /proc/<pid>/task/<tid>/children (children of every thread). */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const children = readProc(`/proc/${pids[i]}/task/${tid}/children`) ?? "";
      pids.push(...children.split(" ").filter(Boolean).map(Number));
    }
  }
  return pids;
}

/** Peak resident set of one process so far, in kB; undefined once it has exited. */
function peakRssKb(pid: number): number | undefined {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readProc(`/proc/${pid}/status`) ?? "");
  return match ? Number(match[1]) : undefined;
}

/** The failed command and the tail of its stderr, without execa's full output dump. */
function failureMessage(error: { shortMessage: string; stderr?: unknown }): string {
  const stderr =
    typeof error.stderr === "string" ? error.stderr.trim().split("\n").slice(-STDERR_TAIL_LINES) : [];
  return [error.shortMessage, ...stderr].join("\n  ");
}

/**
 * Runs `argv` (no shell) and measures its wall time and peak memory. Memory is sampled every
 * 50 ms from /proc: for each process of the tree (the child and its descendants) the largest
 * VmHWM seen, summed over the processes. A process living less than one interval may be missed.
 * Throws an error naming the command, its exit code and the tail of its stderr when it fails.
 */
export async function measure(argv: string[], options: { cwd?: string } = {}): Promise<Measurement> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("measure: empty command");
  const peaks = new Map<number, number>();
  const sample = (root: number | undefined) => {
    if (root === undefined) return;
    for (const pid of processTree(root)) {
      const kb = peakRssKb(pid);
      if (kb !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, kb));
    }
  };
  const started = performance.now();
  const child = execa(file, args, { cwd: options.cwd, stdin: "ignore", maxBuffer: 256 * 1024 * 1024 });
  const timer = setInterval(() => sample(child.pid), POLL_MS);
  sample(child.pid);
  try {
    const result = await child.catch((error: unknown) => {
      throw error instanceof ExecaError ? new Error(failureMessage(error)) : error;
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const peakRssBytes = [...peaks.values()].reduce((sum, kb) => sum + kb, 0) * 1024;
    return { argv, wallSeconds, peakRssBytes, stdout: result.stdout };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Flushes dirty pages to disk (`sync`) so one step's writeback is not billed to the next, and
 * returns how long that took: the writeback a step left behind when it exited.
 */
export async function syncDisks(): Promise<number> {
  const started = performance.now();
  await execa("sync");
  return (performance.now() - started) / 1000;
}

/** Apparent size of a tree in bytes (`du -sb`; hard-linked files count once per invocation). */
export async function diskUsage(...paths: string[]): Promise<number> {
  const { stdout } = await execa("du", ["-sbc", ...paths]);
  const total = stdout.trim().split("\n").at(-1) ?? "";
  return Number(total.split("\t")[0]);
}

/**
 * Runs a measured step between two `sync`s, logging it. The second `sync` is timed: it is the
 * writeback the step left behind (rsync does not fsync; ours does, inside its own time).
 */
export async function step<T extends Measurement>(
  context: BenchContext,
  label: string,
  run: () => Promise<T>,
): Promise<T & { flushSeconds: number }> {
  await syncDisks();
  context.log(`${label} …`);
  const result = await run();
  const flushSeconds = await syncDisks();
  context.log(`${label}: ${result.wallSeconds.toFixed(1)} s, then sync ${flushSeconds.toFixed(1)} s`);
  return { ...result, flushSeconds };
}

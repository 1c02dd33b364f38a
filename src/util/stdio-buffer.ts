import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * Large stdio buffers for a C tool that streams through us (pg_dump's and pg_basebackup's
 * stdout, pg_restore's stdin), via coreutils `stdbuf`.
 *
 * Such a tool writes its output with stdio, whose buffer on a pipe is 4–8 KiB: a 1.2 GB
 * dump arrives in about 150,000 writes, each a system call for the tool and a read, a
 * Buffer and a trip through the stream machinery for us. Measured on the benchmark
 * database (2 cores), a 1 MiB buffer cut the reads to 20,000 and the CPU time of moving
 * the dump from 3.4 to 2.0 core-seconds (docs/postgres.md). On two cores that time comes
 * straight off the backup's wall time.
 */
const BUFFER = "1M";

let available: boolean | undefined;

/** True when `stdbuf` runs here (coreutils; the probe runs once per process). */
function stdbufWorks(): boolean {
  if (available === undefined) {
    const probe = spawnSync("stdbuf", [`-o${BUFFER}`, "true"], { stdio: "ignore", timeout: 5000 });
    available = probe.status === 0;
  }
  return available;
}

/** True when `program` (a path, or a name looked up in PATH) is an executable file. */
function isExecutable(program: string): boolean {
  const candidates = program.includes("/")
    ? [program]
    : (process.env["PATH"] ?? "").split(path.delimiter).map((dir) => path.join(dir || ".", program));
  return candidates.some((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * `argv` run with a large buffer on the given stream, or `argv` as it is when `stdbuf`
 * is missing. Only for a program run on this machine: behind an `exec` prefix the program
 * runs in a container that may not have `stdbuf`. A program that is not there is left
 * unwrapped, so that running it fails as "not found" rather than as stdbuf's exit 127.
 */
export function withLargeStdioBuffer(argv: readonly string[], stream: "stdin" | "stdout"): string[] {
  if (!stdbufWorks() || !isExecutable(argv[0] ?? "")) return [...argv];
  return ["stdbuf", stream === "stdin" ? `-i${BUFFER}` : `-o${BUFFER}`, ...argv];
}

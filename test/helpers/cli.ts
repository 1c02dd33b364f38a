import path from "node:path";
import { execa } from "execa";
import { expect } from "vitest";

/** The built CLI (`npm run build` first); `PRS_E2E_CLI` points the suite at another build. */
export const CLI =
  process.env["PRS_E2E_CLI"] ?? path.resolve(import.meta.dirname, "../../dist/bin/prs-backup.js");

export interface RunOptions {
  cwd?: string;
  /** Added to (not replacing) the test process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Run as this system user (via `runuser`), e.g. "nobody"; only when the tests run as root. */
  user?: string;
  timeoutMs?: number;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (the command must have been given --json). */
  json<T = unknown>(): T;
}

/** The argv that runs the CLI with `args`, as the given user when asked. */
export function cliCommand(args: readonly string[], user?: string): [string, string[]] {
  if (user === undefined) return [process.execPath, [CLI, ...args]];
  return ["runuser", ["-u", user, "--", process.execPath, CLI, ...args]];
}

/** Starts the CLI without waiting (kill tests); never rejects on a non-zero exit. */
export function startCli(args: readonly string[], options: RunOptions = {}) {
  const [file, argv] = cliCommand(args, options.user);
  return execa(file, argv, {
    cwd: options.cwd,
    env: { PRS_BACKUP_CONFIG: undefined, ...options.env },
    reject: false,
    stdin: "ignore",
    timeout: options.timeoutMs ?? 300_000,
  });
}

/** Runs the built CLI to completion; a non-zero exit is a result, not an exception. */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const r = await startCli(args, options);
  const stdout = String(r.stdout);
  const stderr = String(r.stderr);
  return {
    exitCode: r.exitCode ?? -1,
    stdout,
    stderr,
    json<T>(): T {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(
          `prs-backup ${args.join(" ")} (exit ${r.exitCode}) did not print JSON:\n${stdout}\n${stderr}`,
        );
      }
    },
  };
}

/** Runs the CLI and fails the test, showing stderr, unless it exits with `code`. */
export async function runOk(args: readonly string[], options: RunOptions = {}, code = 0): Promise<CliResult> {
  const r = await runCli(args, options);
  expect(r.exitCode, `prs-backup ${args.join(" ")}\n${r.stderr}`).toBe(code);
  return r;
}

/** A log line (`HH:MM:SS level message`): the CLI logs progress on stderr alongside its errors. */
const LOG_LINE = /^\d\d:\d\d:\d\d (debug|info |warn |error) /;

/** The stderr lines that are not log lines: what the contract calls the error output. */
export function errorOutput(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "" && !LOG_LINE.test(line));
}

/**
 * Asserts the contract for errors: exactly one `error: …` line (log lines aside), no stack
 * trace anywhere, and returns that line.
 */
export function expectOneErrorLine(stderr: string): string {
  const lines = errorOutput(stderr);
  expect(lines, `stderr was:\n${stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: \S/);
  expect(stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  return lines[0]!;
}

/** A snapshot as `list --json` and `backup --json` print it. */
export interface SnapshotJson {
  id: string;
  target: string;
  type: string;
  startTime: string;
  endTime: string;
  sourceBytes: number;
  storedBytes: number;
  status: "complete" | "partial";
}

/** `verify --json`. */
export interface VerifyJson {
  ok: boolean;
  checked: number;
  problems: { snapshot: string; target: string; message: string }[];
  drills?: { snapshot: string; target: string; ok: boolean; seconds: number; compared: unknown }[];
}

import type { Readable } from "node:stream";
import type { ResultPromise } from "execa";
import { OperationError } from "../errors.js";

/**
 * The one way prs-backup runs external tools (pg_dump, redis-cli, rsync …): argument
 * arrays, never shell strings; secrets only in the child's environment, never in argv
 * or messages; a timeout that sends SIGTERM, then SIGKILL after a grace period; and
 * children killed when we exit.
 */
export interface RunOptions {
  /** Extra environment for the child (merged over ours). Put secrets here, never in argv. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Bytes or a stream for stdin. */
  input?: string | Buffer | Readable;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Run as another user (e.g. the postgres user when we are root). */
  uid?: number;
  gid?: number;
  /** Words that must never appear in messages (e.g. a password); replaced by ***. */
  redact?: readonly string[];
}

export interface RunResult {
  /** The command as a readable string, redacted. */
  command: string;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  /** The last lines of stderr (bounded). */
  stderrTail: string;
}

const STDERR_TAIL_BYTES = 4096;

/**
 * execa is loaded on first use: it is the heaviest module of a command's start-up, and a
 * Redis backup, say, first runs a tool only once its BGSAVE is under way.
 */
let execaModule: Promise<typeof import("execa")> | undefined;
const loadExeca = () => (execaModule ??= import("execa"));
const KILL_GRACE_MS = 5000;

/** A tool ran but failed: the message names the tool, the exit status and its last stderr line. */
export class CommandFailedError extends OperationError {
  readonly result: RunResult;
  constructor(code: string, message: string, result: RunResult) {
    super(code, message);
    this.result = result;
  }
}

function redactText(text: string, words: readonly string[] | undefined): string {
  let out = text;
  for (const w of words ?? []) if (w) out = out.split(w).join("***");
  return out;
}

function tail(text: string): string {
  return text.length > STDERR_TAIL_BYTES ? text.slice(-STDERR_TAIL_BYTES) : text;
}

function execaOptions(options: RunOptions) {
  return {
    env: options.env,
    extendEnv: true,
    cwd: options.cwd,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    killSignal: "SIGTERM" as const,
    forceKillAfterDelay: KILL_GRACE_MS,
    cleanup: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 64 * 1024 * 1024,
    uid: options.uid,
    gid: options.gid,
  };
}

/** Summarizes an execa result as ours (redacted). */
function toResult(argv: readonly string[], r: Awaited<ResultPromise>, options: RunOptions): RunResult {
  const stderr = typeof r.stderr === "string" ? r.stderr : "";
  return {
    command: redactText(argv.join(" "), options.redact),
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    durationMs: r.durationMs,
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderrTail: redactText(tail(stderr), options.redact),
  };
}

/** A one-line reason for a failed run: "exit 1: <last stderr line>", "timed out after 30s", "killed by SIGKILL". */
export function describeFailure(result: RunResult): string {
  const lastLine = result.stderrTail.trim().split("\n").filter(Boolean).pop() ?? "";
  const status = result.timedOut
    ? `timed out after ${Math.round(result.durationMs / 1000)}s`
    : result.signal
      ? `killed by ${result.signal}`
      : `exit ${result.exitCode}`;
  return lastLine ? `${status}: ${lastLine}` : status;
}

/** Runs a command to completion, collecting stdout (small outputs only). Never throws for a non-zero exit. */
export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { child } = await startChild(argv, options, {});
  const r = await child;
  if (isMissingTool(r)) throw missingTool(argv[0]!);
  return toResult(argv, r, options);
}

/** Runs a command and throws CommandFailedError (code `code`) unless it exits 0. */
export async function runChecked(
  argv: readonly string[],
  code: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await runCommand(argv, options);
  if (result.exitCode !== 0 || result.timedOut || result.signal) {
    throw new CommandFailedError(code, `${baseName(argv[0]!)} failed (${describeFailure(result)})`, result);
  }
  return result;
}

/**
 * Starts a command whose stdout is consumed as a stream (a dump). `done` settles when
 * the child has exited; it never rejects for a non-zero exit — the caller decides.
 */
export async function spawnStreaming(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: Readable; done: Promise<RunResult> }> {
  const { child } = await startChild(argv, options, { buffer: { stdout: false, stderr: true } });
  const done = child.then((r) => {
    if (isMissingTool(r)) throw missingTool(argv[0]!);
    return toResult(argv, r, options);
  });
  return { stdout: child.stdout, done };
}

/**
 * Starts `argv` with our options (stdout and stderr piped); `extra` adds execa options.
 * The child is wrapped: an async function returning execa's promise would wait for it.
 */
async function startChild(
  argv: readonly string[],
  options: RunOptions,
  extra: { buffer?: { stdout: boolean; stderr: boolean } },
) {
  const [file, ...args] = argv;
  if (!file) throw new Error("internal: a command is needed");
  const { execa } = await loadExeca();
  const child = execa(file, args, {
    ...execaOptions(options),
    input: options.input,
    stdout: "pipe",
    stderr: "pipe",
    ...extra,
  });
  return { child };
}

function isMissingTool(r: { failed: boolean; code?: string }): boolean {
  return r.failed && r.code === "ENOENT";
}

function missingTool(file: string): OperationError {
  return new OperationError("E_TOOL_MISSING", `${file} not found: install it or set the target's binDir`);
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf("/") + 1);
}

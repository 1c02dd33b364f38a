import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { OperationError } from "../../errors.js";
import { toolPath } from "./rdb-check.js";
import { freePort } from "../../util/free-port.js";

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5000;

export interface ScratchRedisOptions {
  /** Parent folder of the server's temp dir. Default: the OS temp dir. */
  tempDirectory?: string;
  /** An RDB to load at start (copied into the server's dir as dump.rdb; hard-linked when possible). */
  rdb?: string;
  /** Turn AOF on. Default: off. */
  appendonly?: boolean;
  /** requirepass; kept in the server's config file (0600), never in its argv. */
  password?: string;
  /** More `redis.conf` lines. */
  config?: string[];
  binDir?: string;
}

/**
 * A throwaway redis-server on a free 127.0.0.1 port in its own temp dir, for drills, tests
 * and the demo. Its settings (password included) live in a 0600 config file, so nothing
 * secret is in its argv. `close()` stops it (SIGTERM, SIGKILL after a grace period) and
 * deletes the dir; it is safe to call twice.
 */
export class ScratchRedis {
  readonly dir: string;
  readonly port: number;
  readonly #child: ChildProcess;
  #closed = false;

  private constructor(dir: string, port: number, child: ChildProcess) {
    this.dir = dir;
    this.port = port;
    this.#child = child;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The server's log so far (startup problems, loading summary). */
  async log(): Promise<string> {
    return fs.readFile(path.join(this.dir, "redis.log"), "utf8").catch(() => "");
  }

  /** Starts a server; retries on another port if the free one was taken meanwhile. */
  static async start(options: ScratchRedisOptions = {}): Promise<ScratchRedis> {
    const dir = await fs.mkdtemp(
      path.join(options.tempDirectory ?? os.tmpdir(), "prs-backup-redis-scratch-"),
    );
    try {
      await fs.chmod(dir, 0o700);
      if (options.rdb)
        await fs
          .link(options.rdb, path.join(dir, "dump.rdb"))
          .catch(() => fs.copyFile(options.rdb!, path.join(dir, "dump.rdb")));
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const started = await startOn(dir, port, options).catch((err: unknown) => err as Error);
        if (!(started instanceof Error)) return new ScratchRedis(dir, port, started);
        if (attempt >= 3 || !/in use/i.test(started.message)) throw started;
      }
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Stops the server and deletes its dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await stopChild(this.#child);
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

async function startOn(dir: string, port: number, options: ScratchRedisOptions): Promise<ChildProcess> {
  const conf = path.join(dir, "redis.conf");
  const logFile = path.join(dir, "redis.log");
  await fs.rm(logFile, { force: true });
  const lines = [
    "bind 127.0.0.1",
    `port ${port}`,
    `dir ${dir}`,
    "dbfilename dump.rdb",
    `logfile ${logFile}`,
    "daemonize no",
    'save ""',
    `appendonly ${options.appendonly ? "yes" : "no"}`,
    ...(options.password !== undefined
      ? [`requirepass "${options.password.replace(/(["\\])/g, "\\$1")}"`]
      : []),
    ...(options.config ?? []),
  ];
  await fs.writeFile(conf, `${lines.join("\n")}\n`, { mode: 0o600 });
  const child = spawn(toolPath(options.binDir, "redis-server"), [conf], { stdio: "ignore" });
  // A throwaway server must not outlive us, also when we exit without closing it.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  const exited = new Promise<Error>((resolve) => {
    child.once("error", (err) => resolve(err));
    child.once("exit", (code, signal) => resolve(new Error(`exited (${signal ?? `code ${code}`})`)));
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const log = await fs.readFile(logFile, "utf8").catch(() => "");
    if (/Ready to accept connections/.test(log)) return child;
    const failure = await Promise.race([exited, sleep(50).then(() => undefined)]);
    if (failure || Date.now() > deadline) {
      await stopChild(child);
      const tail = log.trim().split("\n").slice(-3).join(" | ");
      const why =
        failure instanceof Error && "code" in failure && failure.code === "ENOENT"
          ? "redis-server not found: install it or set the target's binDir"
          : `redis-server ${failure ? failure.message : "did not get ready in time"}${tail ? `: ${tail}` : ""}`;
      throw new OperationError("E_REDIS_SCRATCH", `scratch Redis on port ${port}: ${why}`);
    }
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const done = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!done) {
    child.kill("SIGKILL");
    await exited;
  }
}

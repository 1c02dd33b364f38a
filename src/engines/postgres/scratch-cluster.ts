import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { queryOnce } from "./query-once.js";
import { OperationError } from "../../errors.js";
import { runChecked, runCommand, type RunOptions } from "../../util/subprocess.js";
import { freePort } from "../../util/free-port.js";

/** Where Debian puts the PostgreSQL 15 server programs. */
export const DEFAULT_SERVER_BIN = "/usr/lib/postgresql/15/bin";

export interface ScratchClusterOptions {
  /**
   * Parent folder of the cluster's temp dir. Default: the OS temp dir, which is also used
   * when we are root and the `postgres` user cannot reach this folder.
   */
  tempDirectory?: string;
  /** Directory of initdb, pg_ctl, postgres. Default: `DEFAULT_SERVER_BIN`. */
  binDir?: string;
  /**
   * Password of the `postgres` superuser. When set, TCP connections need it
   * (scram-sha-256); otherwise every connection is trusted. Default: none (trust).
   */
  password?: string;
  /** postgresql.conf settings, e.g. `{ fsync: "off" }`. */
  settings?: Record<string, string>;
}

/**
 * A throwaway PostgreSQL cluster for drills, tests, the demo and the benchmark: `initdb`
 * in a fresh temp dir, `pg_ctl start` on a free 127.0.0.1 port with its socket in that
 * dir. When we are root it runs as the `postgres` system user (initdb and postgres refuse
 * root), which owns the temp dir. `close()` stops it and removes the dir; safe to call twice.
 */
export class ScratchCluster {
  readonly dir: string;
  readonly port: number;
  readonly binDir: string;
  readonly password: string | undefined;
  readonly #owner: { uid: number; gid: number } | undefined;
  #running = false;

  private constructor(dir: string, port: number, binDir: string, password: string | undefined) {
    this.dir = dir;
    this.port = port;
    this.binDir = binDir;
    this.password = password;
    this.#owner = serverUser();
  }

  get dataDirectory(): string {
    return path.join(this.dir, "data");
  }

  /** Superuser connection settings for `pg`. */
  connection(database = "postgres"): pg.ClientConfig {
    return { host: "127.0.0.1", port: this.port, user: "postgres", database, password: this.password };
  }

  /** Creates, configures and starts a cluster; removes everything if any step fails. */
  static async start(options: ScratchClusterOptions = {}): Promise<ScratchCluster> {
    const owner = serverUser();
    const wanted = options.tempDirectory ?? os.tmpdir();
    // The server user must reach its data directory; a private (0700 root) temp dir would stop initdb.
    const parent = !owner || (await traversableBy(wanted, owner)) ? wanted : os.tmpdir();
    const dir = await fs.mkdtemp(path.join(parent, "prs-backup-pg-scratch-"));
    const cluster = new ScratchCluster(
      dir,
      await freePort(),
      options.binDir ?? DEFAULT_SERVER_BIN,
      options.password,
    );
    try {
      await cluster.#init(options);
      await cluster.#start();
      return cluster;
    } catch (err) {
      await cluster.close();
      throw err;
    }
  }

  async #init(options: ScratchClusterOptions): Promise<void> {
    await fs.chmod(this.dir, 0o700);
    await this.#chown(this.dir);
    const args = ["-D", this.dataDirectory, "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"];
    if (this.password !== undefined) {
      const pwfile = path.join(this.dir, "pwfile");
      await fs.writeFile(pwfile, `${this.password}\n`, { mode: 0o600 });
      await this.#chown(pwfile);
      args.push("--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`);
    } else args.push("--auth=trust");
    try {
      await runChecked([path.join(this.binDir, "initdb"), ...args], "E_INITDB_FAILED", this.#asServer());
    } finally {
      await fs.rm(path.join(this.dir, "pwfile"), { force: true });
    }
    const settings = {
      listen_addresses: "127.0.0.1",
      port: String(this.port),
      unix_socket_directories: this.dir,
      max_connections: "50",
      shared_buffers: "64MB",
      ...options.settings,
    };
    const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'\n`);
    await fs.appendFile(path.join(this.dataDirectory, "postgresql.auto.conf"), lines.join(""));
  }

  async #start(): Promise<void> {
    const log = path.join(this.dir, "server.log");
    const result = await runCommand(
      [path.join(this.binDir, "pg_ctl"), "-D", this.dataDirectory, "-l", log, "-w", "-t", "120", "start"],
      this.#asServer(),
    );
    if (result.exitCode !== 0) {
      const tail = (await this.log()).trim().split("\n").slice(-3).join(" | ");
      throw new OperationError(
        "E_PG_START_FAILED",
        `scratch PostgreSQL in ${this.dir} did not start: ${tail}`,
      );
    }
    this.#running = true;
  }

  /** The server log so far. */
  async log(): Promise<string> {
    return fs.readFile(path.join(this.dir, "server.log"), "utf8").catch(() => "");
  }

  /** Runs SQL as the superuser and returns the rows. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    database = "postgres",
  ): Promise<R[]> {
    return queryOnce<R>(this.connection(database), sql, params);
  }

  /** Runs a server-side program (pgbench …) as the cluster's owner. */
  async runTool(name: string, args: readonly string[], options: RunOptions = {}): Promise<void> {
    await runChecked([path.join(this.binDir, name), ...args], `E_${name.toUpperCase()}_FAILED`, {
      ...this.#asServer(),
      ...options,
    });
  }

  /** Stops the server (immediately: it is throwaway) and removes its dir. */
  async close(): Promise<void> {
    if (this.#running) {
      await runCommand(
        [path.join(this.binDir, "pg_ctl"), "-D", this.dataDirectory, "-m", "immediate", "-w", "stop"],
        this.#asServer(),
      ).catch(() => undefined);
      this.#running = false;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  #asServer(): RunOptions {
    return { ...(this.#owner ?? {}), cwd: this.dir };
  }

  async #chown(p: string): Promise<void> {
    if (this.#owner) await fs.chown(p, this.#owner.uid, this.#owner.gid);
  }
}

/** The `postgres` system user when we are root (initdb and postgres refuse root); else nobody. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new OperationError(
      "E_PG_USER_MISSING",
      "running as root needs a `postgres` system user to run a scratch PostgreSQL (initdb refuses root)",
    );
  }
}

/** True when every folder from `dir` up to / lets `who` pass (execute permission). */
async function traversableBy(dir: string, who: { uid: number; gid: number }): Promise<boolean> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d).catch(() => undefined);
    if (!st) return false;
    const ok =
      st.uid === who.uid
        ? (st.mode & 0o100) !== 0
        : st.gid === who.gid
          ? (st.mode & 0o010) !== 0
          : (st.mode & 0o001) !== 0;
    if (!ok) return false;
    if (d === path.dirname(d)) return true;
  }
}

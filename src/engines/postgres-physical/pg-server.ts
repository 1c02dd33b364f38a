import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { queryOnce } from "../postgres/query-once.js";
import { OperationError } from "../../errors.js";
import { runCommand } from "../../util/subprocess.js";
export { freePort } from "../../util/free-port.js";
import { freePort } from "../../util/free-port.js";

/** Where Debian puts the PostgreSQL 15 server programs. */
export const DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin";

/** The OS user PostgreSQL runs as when we are root (initdb and postgres refuse root). */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/**
 * A PostgreSQL server on a restored data directory (a drill, a test, the bench): started
 * with `pg_ctl` on a free port as the `postgres` user when we are root, its socket in a
 * private folder beside the data directory, stopped and removed by `destroy()`. New
 * clusters come from `../postgres/scratch-cluster.ts`; this one adopts what a restore wrote.
 */
export class PgServer {
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly binDir: string;
  readonly #owner: { uid: number; gid: number } | undefined;
  #running = false;

  private constructor(dataDir: string, port: number, socketDir: string, binDir: string) {
    this.dataDir = dataDir;
    this.port = port;
    this.socketDir = socketDir;
    this.binDir = binDir;
    this.#owner = serverUser();
  }

  /** A server for an existing data directory (a restored one); the folder above it holds the socket. */
  static async adopt(dataDir: string, options: { binDir?: string } = {}): Promise<PgServer> {
    const base = path.dirname(dataDir);
    const socketDir = path.join(base, "sock");
    await fs.mkdir(socketDir, { recursive: true, mode: 0o700 });
    const server = new PgServer(dataDir, await freePort(), socketDir, options.binDir ?? DEFAULT_PG_BIN);
    await server.#chownToServer(base);
    await server.#chownToServer(socketDir);
    return server;
  }

  /** Appends settings to postgresql.auto.conf (the last line of a setting wins). */
  async appendSettings(settings: Record<string, string>): Promise<void> {
    const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'\n`);
    const file = path.join(this.dataDir, "postgresql.auto.conf");
    await fs.appendFile(file, lines.join(""));
    await this.#chownToServer(file);
  }

  /** Starts the server and waits until it accepts connections (or `pg_ctl -w` gives up). */
  async start(options: { timeoutSeconds?: number } = {}): Promise<void> {
    const opts = `-p ${this.port} -k ${this.socketDir} -c listen_addresses=127.0.0.1`;
    const log = path.join(path.dirname(this.dataDir), "server.log");
    const result = await runCommand(
      [
        path.join(this.binDir, "pg_ctl"),
        "-D",
        this.dataDir,
        "-l",
        log,
        "-o",
        opts,
        "-w",
        "-t",
        String(options.timeoutSeconds ?? 120),
        "start",
      ],
      this.#asServer(),
    );
    if (result.exitCode !== 0) {
      const tail = await fs.readFile(log, "utf8").catch(() => "");
      throw new OperationError(
        "E_PG_START_FAILED",
        `PostgreSQL on ${this.dataDir} did not start: ${tail.trim().split("\n").slice(-3).join(" | ")}`,
      );
    }
    this.#running = true;
  }

  /** Stops the server (fast shutdown by default; "immediate" simulates a crash). */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (!this.#running) return;
    await runCommand(
      [path.join(this.binDir, "pg_ctl"), "-D", this.dataDir, "-m", mode, "-w", "stop"],
      this.#asServer(),
    );
    this.#running = false;
  }

  /** The server log (for messages about recovery). */
  async log(): Promise<string> {
    return fs.readFile(path.join(path.dirname(this.dataDir), "server.log"), "utf8").catch(() => "");
  }

  /** Connection settings for `pg` and libpq tools. */
  connection(database = "postgres"): pg.ClientConfig {
    return { host: "127.0.0.1", port: this.port, user: "postgres", database };
  }

  /** Runs SQL and returns the rows. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    database = "postgres",
  ): Promise<R[]> {
    return queryOnce<R>(this.connection(database), sql, params);
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop("immediate").catch(() => undefined);
    await fs.rm(path.dirname(this.dataDir), { recursive: true, force: true });
  }

  #asServer(): { uid?: number; gid?: number; cwd: string } {
    return { ...(this.#owner ?? {}), cwd: path.dirname(this.dataDir) };
  }

  async #chownToServer(p: string): Promise<void> {
    if (this.#owner) await fs.chown(p, this.#owner.uid, this.#owner.gid);
  }
}

import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { OperationError } from "../../errors.js";
import { LocalBackend } from "../../repo/backends/local.js";
import { parallelChunks } from "../../repo/decode-pool.js";
import { entryText } from "../../repo/entry-content.js";
import type { Repository } from "../../repo/repository.js";
import type { FileEntry, SnapshotManifest } from "../../repo/snapshot.js";
import { writeFully } from "../../util/fs.js";
import type { Logger } from "../../util/logger.js";
import { CommandFailedError, runCommand, type RunResult } from "../../util/subprocess.js";
import { runFedFromEntry } from "../restore-into-command.js";
import { DumpReblocker, reblocked } from "./dump-reblock.js";
import { restoreInSessions } from "./restore-sessions.js";
import { DUMP_ENTRY, GLOBALS_ENTRY } from "./backup.js";
import {
  connect,
  quoteIdent,
  streamingToolArgv,
  toolArgv,
  toolOptions,
  withClient,
  withDatabase,
  type PgEndpoint,
} from "./connection.js";
import { parseGlobals, planRoles, type RolePlan } from "./globals.js";
import { checkTimescaleAvailable, timescaleSteps, timescaleVersionOf } from "./timescale.js";

/**
 * A snapshot's dump made ready before anything on the server changes: the globals read,
 * and the dump either spooled to a file (mode 0600, for `pg_restore -j`), or read through
 * once to check every chunk when the restore is about to stop services or rename a
 * database — so damaged data stops it first. A restore into a new database skips that
 * pass: the stream checks each chunk before pg_restore sees it, and damage fails the
 * restore with the partial new database left for inspection. `dispose()` removes the spool.
 */
export interface PreparedDump {
  globals: string;
  dump: FileEntry;
  /** The spooled dump, when pg_restore runs in parallel on this host. */
  file?: string;
  dispose(): Promise<void>;
}

/** Spools the dump (parallel restore on this host) or checks it (streamed restore). */
export async function prepareDump(options: {
  repo: Repository;
  snapshot: SnapshotManifest;
  spool: boolean;
  /** Read the whole dump once first, when it is streamed (see above). */
  precheck: boolean;
  /** Threads that decode the dump for that pass (the restore waits for it). */
  threads: number;
  tempDirectory?: string;
  logger?: Logger;
}): Promise<PreparedDump> {
  const { repo, snapshot } = options;
  const entries = await dumpEntries(repo, snapshot);
  const globals = await entryText(repo.chunks, entries.globals);
  // Decoded and checked on worker threads when the repository is a local directory.
  const backend = repo.backend;
  const root = backend instanceof LocalBackend ? backend.location : undefined;
  const pieces = () => parallelChunks(repo.chunks, root, entries.dump, options.threads);
  if (!options.spool) {
    if (options.precheck) for await (const piece of pieces()) piece.release();
    return { globals, dump: entries.dump, dispose: () => Promise.resolve() };
  }
  const dir = await fs.mkdtemp(path.join(options.tempDirectory ?? os.tmpdir(), "prs-backup-pg-restore-"));
  const dispose = (): Promise<void> => fs.rm(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, DUMP_ENTRY);
    const started = Date.now();
    const handle = await fs.open(file, "wx", 0o600);
    try {
      // Merged blocks also spare each pg_restore -j worker stepping through every row of
      // the tables before its own (the spool's table of contents has no data offsets).
      const reblocker = new DumpReblocker();
      for await (const piece of pieces()) {
        const merged = reblocker.push(piece.data);
        piece.release();
        for (const part of merged) await writeFully(handle, part, null);
      }
      for (const part of reblocker.end()) await writeFully(handle, part, null);
    } finally {
      await handle.close();
    }
    options.logger?.info(
      `spooled the ${entries.dump.size}-byte dump for pg_restore -j in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    return { globals, dump: entries.dump, file, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** True when pg_restore can read a spooled file in parallel (not in a container, more than one job). */
export function spoolsFor(endpoint: Pick<PgEndpoint, "exec">, jobs: number): boolean {
  return jobs > 1 && (endpoint.exec?.length ?? 0) === 0;
}

export interface LoadOptions {
  /** The server, connected to a maintenance database (never the one being created). */
  server: PgEndpoint;
  /** The new database's name; it must not exist. */
  database: string;
  snapshot: SnapshotManifest;
  repo: Repository;
  prepared: PreparedDump;
  jobs: number;
  /** pg_restore sessions sharing the table data of a streamed restore (see restore-sessions.ts). */
  sessions: number;
  logger: Logger;
  signal?: AbortSignal;
}

export interface LoadResult {
  roles: RolePlan;
  notes: string[];
  bytes: number;
}

/**
 * Loads a prepared snapshot into a new database on a server: missing roles from the
 * globals, the database (encoding, locale and owner as at backup time), TimescaleDB's
 * restore mode around pg_restore when the dump uses it, and pg_restore itself — streamed
 * through several sessions sharing the table data (restore-sessions.ts), streamed into one,
 * or in parallel from the spooled copy.
 */
export async function loadSnapshot(options: LoadOptions): Promise<LoadResult> {
  const { server, database, snapshot, logger, prepared } = options;
  const notes: string[] = [];
  const timescale = timescaleVersionOf(snapshot.metadata);
  const roles = await withClient(server, async (client) => {
    if (timescale) await checkTimescaleAvailable(client, timescale, `${server.host}:${server.port}`);
    const globals = parseGlobals(prepared.globals);
    const existing = await client.query<{ rolname: string }>("SELECT rolname FROM pg_roles");
    const plan = planRoles(globals, new Set(existing.rows.map((r) => r.rolname)));
    if (plan.statements.length > 0) await createRoles(client, plan, server);
    if (globals.tablespaces.length > 0) {
      notes.push(`tablespaces in the backup are not created by a restore: ${globals.tablespaces.join(", ")}`);
    }
    await createDatabase(client, database, snapshot.metadata, notes);
    return plan;
  });
  if (roles.create.length > 0) logger.info(`created roles: ${roles.create.join(", ")}`);
  const target = withDatabase(server, database);
  const steps = timescale ? timescaleSteps(timescale) : undefined;
  if (steps) await runSql(target, steps.before);
  const started = Date.now();
  await restoreDump({ ...options, target });
  logger.info(`pg_restore into ${database} took ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (steps) await runSql(target, steps.after);
  return { roles, notes, bytes: prepared.dump.size };
}

async function createRoles(client: pg.Client, plan: RolePlan, server: PgEndpoint): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(plan.statements.join("\n"));
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new OperationError(
      "E_PG_ROLES_FAILED",
      `creating roles ${plan.create.join(", ")} on ${server.host}:${server.port} failed: ${(err as Error).message} (does ${server.user} have CREATEROLE?)`,
      { cause: err },
    );
  }
}

async function dumpEntries(
  repo: Repository,
  snapshot: SnapshotManifest,
): Promise<{ dump: FileEntry; globals: FileEntry }> {
  const found = await repo.snapshots.fileEntries(snapshot, [DUMP_ENTRY, GLOBALS_ENTRY]);
  const dump = found.get(DUMP_ENTRY);
  const globals = found.get(GLOBALS_ENTRY);
  if (!dump || !globals) {
    throw new OperationError(
      "E_REPO_CORRUPT",
      `snapshot ${snapshot.id} lacks ${!dump ? DUMP_ENTRY : GLOBALS_ENTRY}`,
    );
  }
  return { dump, globals };
}

/** CREATE DATABASE like the source: its encoding and locale (when this server has it) and owner. */
async function createDatabase(
  client: pg.Client,
  database: string,
  metadata: Record<string, unknown>,
  notes: string[],
): Promise<void> {
  const owner = typeof metadata.owner === "string" ? metadata.owner : undefined;
  const hasOwner =
    owner !== undefined &&
    (await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [owner])).rowCount === 1;
  const base = `CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0${hasOwner ? ` OWNER ${quoteIdent(owner)}` : ""}`;
  const literal = (v: unknown): string => `'${String(v).replace(/'/g, "''")}'`;
  const withLocale =
    typeof metadata.encoding === "string"
      ? `${base} ENCODING ${literal(metadata.encoding)} LC_COLLATE ${literal(metadata.collate)} LC_CTYPE ${literal(metadata.ctype)}`
      : base;
  try {
    await client.query(withLocale);
  } catch (err) {
    if (
      (err as { code?: string }).code !== "22023" &&
      !/locale|collation|encoding/i.test((err as Error).message)
    )
      throw err;
    await client.query(
      typeof metadata.encoding === "string" ? `${base} ENCODING ${literal(metadata.encoding)}` : base,
    );
    notes.push(
      `locale ${String(metadata.collate)} is not available here: ${database} uses the server's default locale`,
    );
  }
}

async function runSql(endpoint: PgEndpoint, statements: readonly string[]): Promise<void> {
  await withClient(endpoint, async (client) => {
    for (const sql of statements) await client.query(sql);
  });
}

async function restoreDump(options: LoadOptions & { target: PgEndpoint }): Promise<void> {
  const { target, prepared, repo } = options;
  const base = ["--no-password", "-d", target.database];
  const split =
    !prepared.file &&
    options.sessions > 1 &&
    (await restoreInSessions({
      argv: (section) => streamingToolArgv(target, "pg_restore", [...base, `--section=${section}`], "stdin"),
      run: toolOptions(target),
      signal: options.signal,
      chunks: repo.chunks,
      entry: prepared.dump,
      sessions: options.sessions,
      check: (result) => checkRestore(result, target),
      explain: (damage) => partlyRestored(damage, target),
      logger: options.logger,
    }));
  if (split) return;
  const result = prepared.file
    ? await runCommand(
        toolArgv(target, "pg_restore", [...base, `--jobs=${options.jobs}`, prepared.file]),
        toolOptions(target, { signal: options.signal }),
      )
    : await streamedRestore(options, base);
  checkRestore(result, target);
}

function partlyRestored(damage: string, target: PgEndpoint): string {
  return `${damage} (the partly restored database ${target.database} is left for inspection; drop it)`;
}

/** pg_restore reading the dump on stdin (see runFedFromEntry for damaged data). */
function streamedRestore(options: LoadOptions & { target: PgEndpoint }, base: string[]): Promise<RunResult> {
  const { target, prepared, repo } = options;
  return runFedFromEntry(
    streamingToolArgv(target, "pg_restore", base, "stdin"),
    toolOptions(target, { signal: options.signal }),
    { chunks: repo.chunks, entry: prepared.dump },
    (damage) => partlyRestored(damage, target),
    reblocked,
  );
}

function checkRestore(result: RunResult, target: PgEndpoint): void {
  if (result.exitCode === 0 && !result.signal && !result.timedOut) return;
  const lines = result.stderrTail.split("\n").filter(Boolean);
  const firstError = lines.find((l) => /error:/i.test(l)) ?? lines.at(-1) ?? `exit ${result.exitCode}`;
  throw new CommandFailedError(
    "E_PG_RESTORE_FAILED",
    `pg_restore into ${target.database} failed: ${firstError.replace(/^pg_restore: /, "")} (the partly restored database ${target.database} is left for inspection)`,
    result,
  );
}

/** Connects to a database that is not `avoid`: postgres, else template1. */
export async function maintenanceEndpoint(server: PgEndpoint, avoid: string): Promise<PgEndpoint> {
  for (const db of ["postgres", "template1"]) {
    if (db === avoid) continue;
    const candidate = withDatabase(server, db);
    try {
      const client = await connect(candidate);
      await client.end().catch(() => undefined);
      return candidate;
    } catch (err) {
      if ((err as { code?: string }).code !== "E_PG_NO_DATABASE") throw err;
    }
  }
  throw new OperationError(
    "E_PG_CONNECT",
    `cannot connect to database postgres or template1 on ${server.host}:${server.port}`,
  );
}

import { access } from "node:fs/promises";
import path from "node:path";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import type { DrillResult, EngineContext } from "../engine.js";
import { OperationError } from "../../errors.js";
import { withClient, withDatabase, type PgEndpoint } from "./connection.js";
import { countRows } from "./inventory.js";
import { loadSnapshot, prepareDump, spoolsFor, type PreparedDump } from "./load-dump.js";
import { DEFAULT_SERVER_BIN, ScratchCluster } from "./scratch-cluster.js";
import type { PostgresTarget } from "./target.js";

/**
 * Restores the snapshot into a throwaway cluster (initdb + pg_ctl on a free port, in the
 * temp dir) and compares exact row counts per table with the manifest. The production
 * server is not touched. Everything the drill created is removed, also on failure.
 */
export async function drillPostgres(
  target: PostgresTarget,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<DrillResult> {
  const started = Date.now();
  const problems: string[] = [];
  const compared = { tables: 0, rows: 0, where: "" };
  const scratch = await openScratch(target, snapshot, ctx).catch((err: unknown) => err as Error);
  if (scratch instanceof Error) return { ok: false, seconds: 0, compared, problems: [scratch.message] };
  compared.where = scratch.where;
  let prepared: PreparedDump | undefined;
  try {
    prepared = await prepareDump({
      repo: ctx.repo,
      snapshot,
      spool: spoolsFor(scratch.server, target.jobs),
      threads: target.threads,
      precheck: false, // the scratch database is thrown away anyway
      tempDirectory: ctx.tempDirectory,
      logger: ctx.logger,
    });
    await loadSnapshot({
      server: scratch.server,
      database: scratch.database,
      snapshot,
      repo: ctx.repo,
      prepared,
      jobs: target.jobs,
      sessions: target.restoreSessions,
      logger: ctx.logger,
      signal: ctx.signal,
    });
    const actual = await withClient(withDatabase(scratch.server, scratch.database), (c) => countRows(c));
    const expected = (snapshot.metadata.tables as Record<string, number> | undefined) ?? {};
    problems.push(...compareCounts(expected, actual));
    compared.tables = Object.keys(actual).length;
    compared.rows = Object.values(actual).reduce((a, b) => a + b, 0);
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    await scratch
      .close()
      .catch((err: unknown) => ctx.logger.warn(`drill cleanup: ${(err as Error).message}`));
  }
  return { ok: problems.length === 0, seconds: (Date.now() - started) / 1000, compared, problems };
}

/** Differences between the manifest's row counts and the restored ones, one line each. */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): string[] {
  const problems: string[] = [];
  for (const [table, rows] of Object.entries(expected)) {
    if (!(table in actual)) problems.push(`table ${table} is missing after restore`);
    else if (actual[table] !== rows)
      problems.push(`table ${table}: ${actual[table]} rows restored, ${rows} at backup time`);
  }
  for (const table of Object.keys(actual)) {
    if (!(table in expected)) problems.push(`table ${table} was restored but is not in the manifest`);
  }
  return problems;
}

const BUILT_IN_DATABASES = new Set(["postgres", "template0", "template1"]);

interface Scratch {
  server: PgEndpoint;
  database: string;
  where: string;
  close: () => Promise<void>;
}

async function openScratch(
  target: PostgresTarget,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<Scratch> {
  const recorded = snapshot.metadata.database;
  const original = typeof recorded === "string" ? recorded : target.connection.database;
  // A fresh cluster already has these; the copy gets another name (row counts do not depend on it).
  const database = BUILT_IN_DATABASES.has(original) ? `${original}_drill` : original;
  if (!(await hasServerPrograms())) {
    throw new OperationError(
      "E_PG_SERVER_MISSING",
      `cannot drill ${target.name}: the PostgreSQL server programs (initdb, pg_ctl) are not in ${DEFAULT_SERVER_BIN}; install the postgresql-15 server package where verify --deep runs`,
    );
  }
  const cluster = await ScratchCluster.start({
    tempDirectory: ctx.tempDirectory,
    settings: { fsync: "off" },
  });
  const server: PgEndpoint = {
    host: "127.0.0.1",
    port: cluster.port,
    user: "postgres",
    database: "postgres",
    binDir: cluster.binDir,
    field: "scratch cluster",
  };
  return { server, database, where: `scratch cluster on port ${cluster.port}`, close: () => cluster.close() };
}

async function hasServerPrograms(): Promise<boolean> {
  return access(path.join(DEFAULT_SERVER_BIN, "initdb")).then(
    () => true,
    () => false,
  );
}

import { UserError } from "../../errors.js";
import { runChecked } from "../../util/subprocess.js";
import type { EngineContext, RestoreRequest, RestoreResult, RestoreStep } from "../engine.js";
import { endpointOf, quoteIdent, withClient, type PgEndpoint } from "./connection.js";
import { loadSnapshot, maintenanceEndpoint, prepareDump, spoolsFor, type PreparedDump } from "./load-dump.js";
import type { PostgresTarget } from "./target.js";
import { timescaleVersionOf } from "./timescale.js";

/** What a restore will do, decided before anything is touched (printed by --dry-run). */
export interface PostgresRestorePlan {
  database: string;
  /** In place: the configured database is replaced (services stopped and started around it). */
  inPlace: boolean;
  /** The existing database is renamed to this, never dropped. */
  keepAs?: string;
  steps: RestoreStep[];
}

/** The name the replaced database is kept under: `<name>_before_<yyyymmdd_hhmmss>` (at most 63 bytes). */
export function keptName(database: string, now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "_");
  const suffix = `_before_${stamp}`;
  let base = database;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

/** Builds the plan; refuses an in-place restore, or an existing database, without --force. */
export function planPostgresRestore(
  target: PostgresTarget,
  request: RestoreRequest,
  exists: boolean,
  now: Date,
  services: EngineContext["services"],
): PostgresRestorePlan {
  const configured = target.connection.database;
  const database = request.database ?? configured;
  const inPlace = database === configured;
  if (request.to !== undefined) {
    throw new UserError("E_USAGE", `restore ${target.name}: postgres targets take --database NAME, not --to`);
  }
  if (inPlace && !request.force) {
    throw new UserError(
      "E_RESTORE_REFUSED",
      `restoring ${target.name} in place replaces database ${configured}: add --force to do it (the current database is renamed and kept, not dropped), or use --database NAME to restore into a new database`,
    );
  }
  if (exists && !request.force) {
    throw new UserError(
      "E_RESTORE_TARGET_EXISTS",
      `database ${database} already exists on ${target.connection.host}:${target.connection.port}: choose another --database name, or add --force to keep it under another name and restore in its place`,
    );
  }
  const keepAs = exists ? keptName(database, now) : undefined;
  const steps: RestoreStep[] = [];
  if (inPlace && services?.stop) steps.push({ action: "stop-services", detail: services.stop.join(" ") });
  if (keepAs) steps.push({ action: "keep-database", detail: `rename ${database} → ${keepAs}` });
  steps.push({ action: "create-roles", detail: "roles missing on the server, from globals.sql" });
  steps.push({ action: "create-database", detail: database });
  const timescale = timescaleVersionOf(request.snapshot.metadata);
  if (timescale) steps.push({ action: "timescaledb-pre-restore", detail: `timescaledb ${timescale}` });
  steps.push({
    action: "pg_restore",
    detail: `${String(request.snapshot.metadata.database)} → ${database}, ${howLoaded(target)}`,
  });
  if (timescale) steps.push({ action: "timescaledb-post-restore", detail: database });
  if (inPlace && services?.start) steps.push({ action: "start-services", detail: services.start.join(" ") });
  return { database, inPlace, ...(keepAs ? { keepAs } : {}), steps };
}

/** How pg_restore will load the dump (see loadSnapshot). */
function howLoaded(target: PostgresTarget): string {
  if (spoolsFor(target, target.jobs)) return `pg_restore -j ${target.jobs} from a spooled copy`;
  if (target.restoreSessions > 1)
    return `streamed, the table data through ${target.restoreSessions} sessions`;
  return "streamed into one pg_restore";
}

/**
 * Restores a postgres snapshot into `--database NAME` (new), or in place with --force:
 * services stopped, the current database renamed aside (never dropped), the snapshot
 * loaded under the configured name, services started again — also when the load fails.
 */
export async function restorePostgres(
  target: PostgresTarget,
  request: RestoreRequest,
  ctx: EngineContext,
): Promise<RestoreResult> {
  const endpoint = await endpointOf(target, ctx.env);
  const wanted = request.database ?? target.connection.database;
  const server = await maintenanceEndpoint(endpoint, wanted);
  const exists = await databaseExists(server, wanted);
  const plan = planPostgresRestore(target, request, exists, new Date(), ctx.services);
  const location = `${target.connection.host}:${target.connection.port}/${plan.database}`;
  const result: RestoreResult = {
    location,
    steps: plan.steps,
    entries: 0,
    bytes: 0,
    movedAside: [],
    notes: [],
  };
  if (request.dryRun) {
    result.bytes = Number(request.snapshot.metadata.dumpBytes ?? request.snapshot.sourceBytes);
    return result;
  }
  // Damaged data must stop the restore before services stop or anything is renamed.
  const prepared = await prepareDump({
    repo: ctx.repo,
    snapshot: request.snapshot,
    spool: spoolsFor(endpoint, target.jobs),
    threads: target.threads,
    precheck: plan.inPlace || plan.keepAs !== undefined,
    tempDirectory: ctx.tempDirectory,
    logger: ctx.logger,
  });
  try {
    await applyPlan({ target, plan, request, ctx, server, prepared, result });
  } finally {
    await prepared.dispose();
  }
  return result;
}

interface Apply {
  target: PostgresTarget;
  plan: PostgresRestorePlan;
  request: RestoreRequest;
  ctx: EngineContext;
  server: PgEndpoint;
  prepared: PreparedDump;
  /** Filled in as the steps succeed. */
  result: RestoreResult;
}

/** Runs the plan: services stopped, the old database kept, the snapshot loaded, services started. */
async function applyPlan({ target, plan, request, ctx, server, prepared, result }: Apply): Promise<void> {
  const stop = plan.inPlace ? ctx.services?.stop : undefined;
  const start = plan.inPlace ? ctx.services?.start : undefined;
  if (stop) await runChecked(stop, "E_SERVICES_STOP_FAILED", { signal: ctx.signal });
  try {
    if (plan.keepAs) {
      await renameDatabase(server, plan.database, plan.keepAs);
      result.movedAside.push(`database ${plan.keepAs}`);
      ctx.logger.info(`kept the previous ${plan.database} as ${plan.keepAs}`);
    }
    const loaded = await loadSnapshot({
      server,
      database: plan.database,
      snapshot: request.snapshot,
      repo: ctx.repo,
      prepared,
      jobs: target.jobs,
      sessions: target.restoreSessions,
      logger: ctx.logger,
      signal: ctx.signal,
    });
    result.entries = Number(request.snapshot.metadata.tableCount ?? 0);
    result.bytes = loaded.bytes;
    if (loaded.roles.create.length > 0) result.notes.push(`created roles: ${loaded.roles.create.join(", ")}`);
    if (loaded.roles.existing.length > 0) {
      result.notes.push(`roles already present, left unchanged: ${loaded.roles.existing.join(", ")}`);
    }
    result.notes.push(...loaded.notes);
    if (plan.keepAs) {
      result.notes.push(`drop the kept copy once satisfied: DROP DATABASE ${quoteIdent(plan.keepAs)};`);
    }
  } catch (err) {
    if (plan.keepAs) {
      ctx.logger.error(
        `restore failed; the previous database is intact as ${plan.keepAs} (rename it back with ALTER DATABASE ${quoteIdent(plan.keepAs)} RENAME TO ${quoteIdent(plan.database)} after dropping the partial one)`,
      );
    }
    throw err;
  } finally {
    if (start) await runChecked(start, "E_SERVICES_START_FAILED");
  }
}

async function databaseExists(server: PgEndpoint, name: string): Promise<boolean> {
  return withClient(
    server,
    async (c) => (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1,
  );
}

/** Renames a database aside: new connections are refused, open ones ended, then the rename. */
async function renameDatabase(server: PgEndpoint, from: string, to: string): Promise<void> {
  await withClient(server, async (client) => {
    await client.query(`ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS false`);
    try {
      await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        [from],
      );
      await client.query(`ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
      await client.query(`ALTER DATABASE ${quoteIdent(to)} ALLOW_CONNECTIONS true`);
    } catch (err) {
      await client.query(`ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS true`).catch(() => undefined);
      throw err;
    }
  });
}

import type pg from "pg";
import { storeStreamPooled } from "../../repo/pooled-stream.js";
import type { StoredData } from "../../repo/snapshot-writer.js";
import { StorePool } from "../../repo/store-pool.js";
import type { FileEntry } from "../../repo/snapshot.js";
import { CommandFailedError, describeFailure, runCommand, spawnStreaming } from "../../util/subprocess.js";
import type { BackupContext, BackupResult } from "../engine.js";
import {
  connect,
  endpointOf,
  streamingToolArgv,
  toolArgv,
  toolOptions,
  type PgEndpoint,
} from "./connection.js";
import { parseGlobals } from "./globals.js";
import { DumpRowCounter, type DumpRowCounts } from "./dump-rows.js";
import { countRows, countTable, listTables, readInventory, tableKey } from "./inventory.js";
import { isExpectedTimescaleNotice } from "./timescale.js";
import { checkToolVersion } from "./tools.js";
import type { PostgresTarget } from "./target.js";

/** Entry names inside a postgres snapshot (see docs/postgres.md). */
export const DUMP_ENTRY = "database.pgdump";
export const GLOBALS_ENTRY = "globals.sql";

/**
 * Backs up one database: roles and tablespaces with `pg_dumpall --globals-only`, then
 * the database with `pg_dump -Fc -Z0` streamed straight into the repository (no spool;
 * our zstd compresses, and chunks of unchanged tables dedup day to day). Row counts are
 * the rows of the dump itself, counted as it streams past (dump-rows.ts); a table that
 * cannot be counted there is counted with SQL in the REPEATABLE READ transaction whose
 * exported snapshot pg_dump uses, so either way they are exactly the rows the dump holds.
 */
export async function backupPostgres(target: PostgresTarget, ctx: BackupContext): Promise<BackupResult> {
  const endpoint = await endpointOf(target, ctx.env);
  const client = await connect(endpoint);
  try {
    const inventory = await readInventory(client);
    // Each tool start-up costs tens of milliseconds of waiting: the checks run side by side,
    // and pg_dumpall beside pg_dump (its output is stored once the dump is in).
    const checks = await Promise.allSettled(
      ["pg_dump", "pg_dumpall"].map((tool) =>
        checkToolVersion(endpoint, tool, inventory.serverVersionNum, inventory.serverVersion),
      ),
    );
    const failed = checks.find((c) => c.status === "rejected");
    if (failed) throw failed.reason;
    const pgDumpVersion = (checks[0] as PromiseFulfilledResult<string>).value;
    const globalsRun = runGlobals(endpoint, inventory.superuser, ctx);
    globalsRun.catch(() => undefined); // awaited below; not unhandled if the dump fails first
    ctx.logger.info(
      `${target.name}: dumping ${endpoint.database} (${inventory.databaseBytes} bytes on disk)`,
    );

    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // Any count(*) runs beside pg_dump on a machine whose cores the dump already keeps busy:
    // parallel workers would only add their start-up and coordination to the CPU bill.
    await client.query("SET LOCAL max_parallel_workers_per_gather = 0");
    const snapshotId = (await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id")).rows[0]!.id;
    const { dump, counted, counting } = await dumpStream(endpoint, client, snapshotId, target.threads, ctx);
    const { tables, rowCountSource } = await rowCounts(client, counted, counting, target.name, ctx);
    await client.query("COMMIT");
    const globals = await storeGlobals(await globalsRun, inventory.superuser, endpoint, ctx);

    await ctx.writer.addEntry(dumpEntry(DUMP_ENTRY, dump));
    await ctx.writer.addEntry(dumpEntry(GLOBALS_ENTRY, globals.stored));
    const totalRows = Object.values(tables).reduce((a, b) => a + b, 0);
    ctx.logger.info(
      `${target.name}: ${Object.keys(tables).length} tables, ${totalRows} rows, dump ${dump.size} bytes`,
    );
    return {
      status: "complete",
      sourceBytes: dump.size + globals.stored.size,
      metadata: {
        format: "custom",
        database: inventory.database,
        serverVersion: inventory.serverVersion,
        serverVersionNum: inventory.serverVersionNum,
        pgDumpVersion,
        databaseBytes: inventory.databaseBytes,
        encoding: inventory.encoding,
        collate: inventory.collate,
        ctype: inventory.ctype,
        owner: inventory.owner,
        extensions: inventory.extensions,
        dumpBytes: dump.size,
        roles: globals.roles,
        rolePasswords: inventory.superuser,
        tableCount: Object.keys(tables).length,
        totalRows,
        rowCountSource,
        tables,
      },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs pg_dump on the exported snapshot (whose transaction, on `client`, the caller keeps
 * open) into the repository, counting each table's rows on the way. When the stream turns
 * out not to be countable, `count(*)` of every table starts at once on `client`, beside
 * the dump, as `counting`.
 */
async function dumpStream(
  endpoint: PgEndpoint,
  client: pg.Client,
  snapshotId: string,
  threads: number,
  ctx: BackupContext,
): Promise<{ dump: StoredData; counted: DumpRowCounts; counting?: Promise<Record<string, number>> }> {
  const abort = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, abort.signal]) : abort.signal;
  const argv = streamingToolArgv(
    endpoint,
    "pg_dump",
    ["--format=custom", "--compress=0", `--snapshot=${snapshotId}`, "--no-password", "-d", endpoint.database],
    "stdout",
  );
  const child = await spawnStreaming(argv, toolOptions(endpoint, { signal }));
  const settled = child.done.catch((err: unknown) => err as Error);
  const pool = ctx.writer.packed ? new StorePool(threads, ctx.repo.chunks.compressionLevel) : undefined;
  try {
    const counter = new DumpRowCounter();
    let counting: Promise<Record<string, number>> | undefined;
    const source = countProgress(child.stdout, counter, ctx, () => {
      counting = countRows(client);
      counting.catch(() => undefined); // awaited by the caller; not unhandled if the dump fails
    });
    const dump = pool
      ? await storeStreamPooled(ctx.writer, pool, source, ctx.writer.chunkerParams)
      : await ctx.writer.storeStream(source, { wholeHash: false });
    const result = await settled;
    if (result instanceof Error) throw result;
    for (const line of result.stderrTail.split("\n").filter(Boolean)) {
      if (isExpectedTimescaleNotice(line)) ctx.logger.debug(line);
      else ctx.logger.warn(line);
    }
    if (result.exitCode !== 0 || result.signal || result.timedOut) {
      throw new CommandFailedError(
        "E_PG_DUMP_FAILED",
        `pg_dump of ${endpoint.database} failed (${describeFailure(result)}); no snapshot was written`,
        result,
      );
    }
    return { dump, counted: counter.result(), ...(counting ? { counting } : {}) };
  } catch (err) {
    abort.abort();
    const result = await settled;
    // When pg_dump itself failed, its message says why better than a broken pipe does.
    if (
      !(err instanceof CommandFailedError) &&
      !(result instanceof Error) &&
      result.exitCode !== 0 &&
      !abort.signal.aborted
    ) {
      throw new CommandFailedError("E_PG_DUMP_FAILED", `pg_dump failed (${describeFailure(result)})`, result);
    }
    throw err;
  } finally {
    await pool?.close();
  }
}

async function* countProgress(
  source: AsyncIterable<Uint8Array>,
  counter: DumpRowCounter,
  ctx: BackupContext,
  onUncountable: () => void,
): AsyncGenerator<Uint8Array> {
  let counting = true;
  for await (const buf of source) {
    ctx.progress.add(buf.length, 0);
    if (counting) {
      counter.push(buf);
      if (counter.unusable !== undefined) {
        counting = false;
        onUncountable();
      }
    }
    yield buf;
  }
}

/**
 * Exact rows per table (the tables `listTables` names, in the dump's snapshot): from the
 * dump's own stream where it could be counted, otherwise `count(*)` in the snapshot
 * (already under way as `counting` when the whole stream was uncountable).
 */
async function rowCounts(
  client: pg.Client,
  counted: DumpRowCounts,
  counting: Promise<Record<string, number>> | undefined,
  targetName: string,
  ctx: BackupContext,
): Promise<{ tables: Record<string, number>; rowCountSource: "dump" | "count" | "dump+count" }> {
  if (counted.unusable !== undefined) {
    ctx.logger.info(`${targetName}: rows counted with count(*): ${counted.unusable}`);
    return { tables: await (counting ?? countRows(client)), rowCountSource: "count" };
  }
  const tables: Record<string, number> = {};
  const bySql: string[] = [];
  for (const t of await listTables(client)) {
    const key = tableKey(t.schema, t.name);
    const rows = counted.tables.get(key);
    if (rows !== undefined) tables[key] = rows;
    else {
      ctx.signal?.throwIfAborted();
      tables[key] = await countTable(client, t);
      bySql.push(key);
    }
  }
  if (bySql.length > 0) {
    ctx.logger.info(
      `${targetName}: rows of ${bySql.length} table(s) counted with count(*): ${bySql.join(", ")}`,
    );
  }
  const fromDump = Object.keys(tables).length - bySql.length;
  const rowCountSource = bySql.length === 0 ? "dump" : fromDump === 0 ? "count" : "dump+count";
  return { tables, rowCountSource };
}

/** Roles and tablespaces (small): pg_dumpall --globals-only, without password hashes for a non-superuser. */
async function runGlobals(endpoint: PgEndpoint, superuser: boolean, ctx: BackupContext): Promise<string> {
  const args = ["--globals-only", "--no-password", "-l", endpoint.database];
  if (!superuser) args.push("--no-role-passwords");
  const result = await runCommand(
    toolArgv(endpoint, "pg_dumpall", args),
    toolOptions(endpoint, { signal: ctx.signal }),
  );
  if (result.exitCode !== 0 || result.signal || result.timedOut) {
    throw new CommandFailedError(
      "E_PG_DUMPALL_FAILED",
      `pg_dumpall --globals-only failed (${describeFailure(result)}); no snapshot was written`,
      result,
    );
  }
  return result.stdout;
}

async function storeGlobals(
  sql: string,
  superuser: boolean,
  endpoint: PgEndpoint,
  ctx: BackupContext,
): Promise<{ stored: StoredData; roles: string[] }> {
  if (!superuser) {
    ctx.logger.warn(
      `${endpoint.user} is not a superuser: roles are saved without their passwords (set them again after restoring roles)`,
    );
  }
  const stored = await ctx.writer.storeBuffer(Buffer.from(sql, "utf8"));
  return { stored, roles: parseGlobals(sql).roles };
}

function dumpEntry(name: string, data: StoredData): FileEntry {
  return {
    type: "file",
    path: name,
    mode: 0o600,
    uid: 0,
    gid: 0,
    mtimeNs: `${BigInt(Date.now()) * 1_000_000n}`,
    size: data.size,
    chunks: data.chunks,
    ...(data.sha256 ? { sha256: data.sha256 } : {}),
  };
}

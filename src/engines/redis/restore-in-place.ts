import fs from "node:fs/promises";
import path from "node:path";
import type { Redis } from "ioredis";
import { pollUntil } from "../../util/concurrency.js";
import { OperationError, UserError } from "../../errors.js";
import { pathExists } from "../../util/fs.js";
import { runChecked } from "../../util/subprocess.js";
import type { EngineContext, RestoreRequest, RestoreResult, RestoreStep } from "../engine.js";
import { configGet } from "./backup.js";
import { connectRedis, resolveEndpoint, type RedisEndpoint } from "./connection.js";
import { numberField, parseKeyspace, readInfo, totalKeys, type Keyspace } from "./info.js";
import { rdbEntry, stamp, writeRdb } from "./restore-file.js";
import type { RedisTarget } from "./target.js";

const COMMAND_TIMEOUT_MS = 300_000;
const READY_TIMEOUT_MS = 300_000;

/** What the live server's configuration says about its files (or the defaults when it is down). */
interface ServerFiles {
  dbfilename: string;
  aof: boolean;
  appenddirname: string;
  appendfilename: string;
  reachable: boolean;
}

/**
 * Restores in place: stop the application (services.stop) and Redis (stopCommand, else
 * SHUTDOWN NOSAVE), move dump.rdb and the AOF (appendonlydir) aside, place the RDB, start
 * Redis (startCommand) and confirm the key counts match the snapshot before starting the
 * application again. With AOF on, Redis would ignore a lone dump.rdb and start empty, so the
 * RDB also becomes the base of a fresh Redis 7 AOF (appendonlydir with a manifest naming it):
 * Redis loads it, AOF stays on, and new writes are appended — the state that
 * `CONFIG SET appendonly yes` after an AOF-off start would produce, without running Redis
 * with AOF off in between.
 */
export async function restoreInPlace(
  target: RedisTarget,
  request: RestoreRequest,
  ctx: EngineContext,
): Promise<RestoreResult> {
  const dataDir = target.dataDirectory;
  if (dataDir === undefined || target.startCommand === undefined) {
    throw new UserError(
      "E_RESTORE_REFUSED",
      `restoring ${target.name} in place needs targets.${target.name}.dataDirectory and targets.${target.name}.startCommand (and usually stopCommand); or use --to FILE`,
    );
  }
  const endpoint = await resolveEndpoint(target, ctx.env);
  const live = await connectRedis(endpoint, target.name).catch(() => undefined);
  let files: ServerFiles;
  try {
    files = await serverFiles(live, dataDir);
  } catch (err) {
    live?.disconnect();
    throw err;
  }
  const suffix = `.before-restore-${stamp(new Date())}`;
  const rdbPath = path.join(dataDir, files.dbfilename);
  const aside = [rdbPath, path.join(dataDir, files.appenddirname), path.join(dataDir, files.appendfilename)];
  const toMove: string[] = [];
  for (const p of aside) if (await pathExists(p)) toMove.push(p);
  const steps: RestoreStep[] = [
    ...(ctx.services?.stop ? [{ action: "stop-services", detail: ctx.services.stop.join(" ") }] : []),
    {
      action: "stop-redis",
      detail: target.stopCommand?.join(" ") ?? `SHUTDOWN NOSAVE on ${endpoint.label}`,
    },
    ...toMove.map((p) => ({ action: "move-aside", detail: `${p} → ${p}${suffix}` })),
    { action: "write-rdb", detail: `${request.snapshot.id} → ${rdbPath}` },
    ...(files.aof
      ? [{ action: "aof-base", detail: `${path.join(dataDir, files.appenddirname)} (the RDB as AOF base)` }]
      : []),
    { action: "start-redis", detail: target.startCommand.join(" ") },
    { action: "confirm", detail: "key counts match the snapshot" },
    ...(ctx.services?.start ? [{ action: "start-services", detail: ctx.services.start.join(" ") }] : []),
  ];
  const result: RestoreResult = {
    location: rdbPath,
    steps,
    entries: 1,
    bytes: request.snapshot.sourceBytes,
    movedAside: [],
    notes: [],
  };
  if (request.dryRun) {
    live?.disconnect();
    return result;
  }
  const entry = await rdbEntry(request.snapshot, ctx);
  if (ctx.services?.stop) await run(ctx.services.stop, "services.stop", ctx);
  await stopRedis(target, endpoint, live, ctx);
  for (const p of toMove) {
    await fs.rename(p, `${p}${suffix}`);
    result.movedAside.push(`${p}${suffix}`);
    ctx.logger.info(`moved ${p} aside to ${p}${suffix}`);
  }
  const dirStat = await fs.stat(dataDir);
  const owner = process.getuid?.() === 0 ? { uid: dirStat.uid, gid: dirStat.gid } : undefined;
  await writeRdb(entry, rdbPath, ctx, owner);
  if (files.aof)
    await writeAofBase(rdbPath, path.join(dataDir, files.appenddirname), files.appendfilename, owner);
  await run(target.startCommand, `targets.${target.name}.startCommand`, ctx);
  const counts = await waitReady(endpoint, target.name, ctx);
  const expected = (request.snapshot.metadata.rdbKeyspace ?? {}) as Keyspace;
  const problem = compareCounts(expected, counts.keyspace, counts.expiredAtLoad);
  if (problem) {
    throw new OperationError(
      "E_RESTORE_MISMATCH",
      `Redis at ${endpoint.label} started but ${problem}; the previous files are at ${result.movedAside.join(", ") || "(none)"}${ctx.services?.start ? "; the application services were left stopped" : ""}`,
    );
  }
  if (files.aof && !counts.aofEnabled) {
    result.notes.push("warning: Redis came up with AOF off although it was on before the restore");
  }
  result.notes.push(
    `Redis at ${endpoint.label} loaded ${totalKeys(counts.keyspace)} keys${counts.expiredAtLoad ? ` (${counts.expiredAtLoad} had expired since the backup)` : ""}${files.aof ? ", AOF on" : ""}`,
  );
  if (ctx.services?.start) await run(ctx.services.start, "services.start", ctx);
  return result;
}

async function serverFiles(live: Redis | undefined, dataDir: string): Promise<ServerFiles> {
  if (!live) {
    const appenddirname = "appendonlydir";
    return {
      dbfilename: "dump.rdb",
      appenddirname,
      appendfilename: "appendonly.aof",
      aof: await pathExists(path.join(dataDir, appenddirname)),
      reachable: false,
    };
  }
  const server = await readInfo(live, "server");
  const aof = (await configGet(live, "appendonly")) === "yes";
  const major = Number((server.redis_version ?? "0").split(".")[0]);
  if (aof && major < 7) {
    throw new UserError(
      "E_NOT_SUPPORTED",
      `in-place restore with AOF on needs Redis 7 or later (this one is ${server.redis_version}); restore --to FILE and load it with AOF off`,
    );
  }
  return {
    dbfilename: path.basename((await configGet(live, "dbfilename")) ?? "dump.rdb"),
    appenddirname: path.basename((await configGet(live, "appenddirname")) ?? "appendonlydir"),
    appendfilename: path.basename((await configGet(live, "appendfilename")) ?? "appendonly.aof"),
    aof,
    reachable: true,
  };
}

async function run(argv: readonly string[], what: string, ctx: EngineContext): Promise<void> {
  ctx.logger.info(`running ${what}: ${argv.join(" ")}`);
  await runChecked(argv, "E_COMMAND_FAILED", { timeoutMs: COMMAND_TIMEOUT_MS });
}

/** Stops Redis and waits until it no longer answers, so it cannot rewrite the files we move. */
async function stopRedis(
  target: RedisTarget,
  endpoint: RedisEndpoint,
  live: Redis | undefined,
  ctx: EngineContext,
): Promise<void> {
  if (target.stopCommand) {
    live?.disconnect();
    await run(target.stopCommand, `targets.${target.name}.stopCommand`, ctx);
  } else if (live) {
    await live.call("SHUTDOWN", "NOSAVE").catch(() => undefined); // the reply is the connection closing
    live.disconnect();
  }
  await pollUntil(
    async () => {
      const client = await connectRedis(endpoint, target.name).catch(() => undefined);
      client?.disconnect();
      return client ? undefined : true;
    },
    {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 200,
      onTimeout: () =>
        new OperationError(
          "E_REDIS_STILL_RUNNING",
          `Redis at ${endpoint.label} is still running after the stop command`,
        ),
    },
  );
}

/** A fresh Redis 7 AOF whose base is the restored RDB (hard-linked, else copied). */
async function writeAofBase(
  rdbPath: string,
  dir: string,
  appendfilename: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  await fs.mkdir(dir, { mode: 0o755 });
  const base = `${appendfilename}.1.base.rdb`;
  await fs.link(rdbPath, path.join(dir, base)).catch(() => fs.copyFile(rdbPath, path.join(dir, base)));
  const manifest = path.join(dir, `${appendfilename}.manifest`);
  await fs.writeFile(manifest, `file ${base} seq 1 type b\n`, { mode: 0o644 });
  const handle = await fs.open(manifest, "r");
  await handle.sync().finally(() => handle.close());
  if (owner) {
    for (const p of [dir, manifest]) await fs.chown(p, owner.uid, owner.gid);
  }
}

/** Waits until Redis answers and has loaded its data; returns what it loaded. */
async function waitReady(endpoint: RedisEndpoint, name: string, ctx: EngineContext) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  return pollUntil(
    async () => {
      const client = await connectRedis(endpoint, name).catch((err: unknown) => {
        if (Date.now() > deadline) throw err;
        return undefined;
      });
      if (!client) return undefined;
      try {
        const persistence = await readInfo(client, "persistence");
        if (persistence.loading !== "0") return undefined;
        return {
          keyspace: parseKeyspace(await readInfo(client, "keyspace")),
          expiredAtLoad: numberField(persistence, "rdb_last_load_keys_expired") ?? 0,
          aofEnabled: persistence.aof_enabled === "1",
        };
      } catch (err) {
        ctx.logger.debug(`waiting for Redis at ${endpoint.label}: ${String(err)}`);
        return undefined;
      } finally {
        client.disconnect();
      }
    },
    {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 200,
      onTimeout: () =>
        new OperationError(
          "E_REDIS_NOT_READY",
          `Redis at ${endpoint.label} did not come back after the restore`,
        ),
    },
  );
}

/**
 * Why the loaded keyspace does not match the snapshot's, or undefined. Keys whose TTL ran
 * out since the backup are dropped at load, so per database the loaded count may be lower,
 * and in total loaded + expired-at-load must equal what the RDB holds.
 */
export function compareCounts(
  expected: Keyspace,
  loaded: Keyspace,
  expiredAtLoad: number,
): string | undefined {
  const problems: string[] = [];
  for (const db of new Set([...Object.keys(expected), ...Object.keys(loaded)])) {
    const want = expected[db]?.keys ?? 0;
    const got = loaded[db]?.keys ?? 0;
    if (got > want || want - got > (expected[db]?.expires ?? 0))
      problems.push(`${db} has ${got} keys, the snapshot ${want}`);
  }
  const total = totalKeys(expected);
  if (totalKeys(loaded) + expiredAtLoad !== total) {
    problems.push(`${totalKeys(loaded)} keys loaded + ${expiredAtLoad} expired ≠ ${total} in the snapshot`);
  }
  return problems.length > 0 ? problems.join("; ") : undefined;
}

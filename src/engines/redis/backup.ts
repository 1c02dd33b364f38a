import fs from "node:fs/promises";
import path from "node:path";
import type { Redis } from "ioredis";
import { PrsBackupError } from "../../errors.js";
import type { BackupContext, BackupResult } from "../engine.js";
import { runBgsave } from "./bgsave.js";
import { connectRedis, redisError, resolveEndpoint } from "./connection.js";
import { numberField, parseKeyspace, readInfo } from "./info.js";
import { checkRdb } from "./rdb-check.js";
import { fetchRdb } from "./rdb-fetch.js";
import type { RedisTarget } from "./target.js";

/** The name of the RDB inside a redis snapshot. */
export const RDB_ENTRY_PATH = "/dump.rdb";
/** A file older than the save request by more than this is not the one Redis just wrote. */
const MTIME_SLACK_MS = 2000;

/**
 * Backs up a Redis server: BGSAVE and read the RDB from the data directory, or fetch one over
 * replication when that directory is not reachable from here. The RDB is stored with dedup
 * and validated by redis-check-rdb (on the very inode being stored) before the snapshot can
 * be committed.
 */
export async function backupRedis(target: RedisTarget, ctx: BackupContext): Promise<BackupResult> {
  const endpoint = await resolveEndpoint(target, ctx.env);
  const client = await connectRedis(endpoint, target.name);
  try {
    const server = await readInfo(client, "server");
    const memory = await readInfo(client, "memory");
    const persistence = await readInfo(client, "persistence");
    const local = await localRdbPath(client, target);
    let source: { file: string; origin: string; release: () => Promise<void> } | undefined;
    let bgsaveSeconds: number | undefined;
    if (local && (await isDirectory(path.dirname(local)))) {
      const save = await runBgsave({ client, label: endpoint.label, logger: ctx.logger, signal: ctx.signal });
      bgsaveSeconds = save.seconds;
      const st = await fs.stat(local).catch(() => undefined);
      if (st && st.mtimeMs >= save.requestedAt - MTIME_SLACK_MS) {
        source = { file: local, origin: "data-directory", release: () => Promise.resolve() };
      } else {
        ctx.logger.warn(
          `${target.name}: ${local} is not the RDB Redis at ${endpoint.label} just wrote (${st ? "older" : "missing"}); is dataDirectory right? Fetching it over replication instead`,
        );
      }
    }
    if (!source) {
      ctx.logger.info(`${target.name}: fetching the RDB from ${endpoint.label} with redis-cli --rdb`);
      const fetched = await fetchRdb({
        endpoint,
        ...(target.binDir ? { binDir: target.binDir } : {}),
        ...(ctx.tempDirectory ? { tempDirectory: ctx.tempDirectory } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      source = { file: fetched.file, origin: "replication", release: fetched.remove };
    }
    try {
      const keyspace = parseKeyspace(await readInfo(client, "keyspace"));
      const stored = await storeRdb(source.file, target, ctx);
      return {
        status: "complete",
        sourceBytes: stored.size,
        metadata: {
          server: endpoint.label,
          redisVersion: server.redis_version,
          rdbVersion: stored.report.rdbVersion,
          rdbKeyspace: stored.report.keyspace,
          rdbKeys: stored.report.keysRead,
          keyspace,
          usedMemory: numberField(memory, "used_memory"),
          aofEnabled: persistence.aof_enabled === "1",
          rdbSource: source.origin,
          rdbBytes: stored.size,
          ...(bgsaveSeconds !== undefined ? { bgsaveSeconds } : {}),
        },
      };
    } finally {
      await source.release();
    }
  } catch (err) {
    throw err instanceof PrsBackupError ? err : redisError(err, endpoint, target.name);
  } finally {
    client.disconnect();
  }
}

/** Where the server's RDB is, as seen from here: dataDirectory (or CONFIG GET dir) + dbfilename. */
async function localRdbPath(client: Redis, target: RedisTarget): Promise<string | undefined> {
  const dir = await configGet(client, "dir");
  const name = (await configGet(client, "dbfilename")) ?? "dump.rdb";
  const base = target.dataDirectory ?? dir;
  return base === undefined ? undefined : path.join(base, path.basename(name));
}

/** One CONFIG GET value; undefined when CONFIG is renamed away or not allowed for this user. */
export async function configGet(client: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await client.call("CONFIG", "GET", name)) as string[];
    return reply[1];
  } catch (err) {
    if (err instanceof Error && /unknown command|NOPERM|no permissions/i.test(err.message)) return undefined;
    throw err;
  }
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await fs.stat(dir).catch(() => undefined))?.isDirectory() === true;
}

/** Stores the RDB and runs redis-check-rdb on the same open inode, side by side. */
async function storeRdb(file: string, target: RedisTarget, ctx: BackupContext) {
  const handle = await fs.open(file, "r");
  try {
    const st = await handle.stat({ bigint: true });
    const stream = handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
    stream.on("data", (buf) => ctx.progress.add(buf.length));
    const [stored, report] = await settleBoth(
      ctx.writer.storeStream(stream),
      checkRdb(`/proc/${process.pid}/fd/${handle.fd}`, {
        label: `the RDB of target "${target.name}"`,
        ...(target.binDir ? { binDir: target.binDir } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      }),
    );
    await ctx.writer.addEntry({
      path: RDB_ENTRY_PATH,
      type: "file",
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeNs: st.mtimeNs.toString(),
      size: stored.size,
      chunks: stored.chunks,
      sha256: stored.sha256,
    });
    ctx.progress.add(0, 1);
    return { ...stored, report };
  } finally {
    await handle.close();
  }
}

/** Awaits both; rethrows the first failure only once neither is still running. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "rejected") throw ra.reason;
  if (rb.status === "rejected") throw rb.reason;
  return [ra.value, rb.value];
}

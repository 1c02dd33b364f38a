import fs from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import type { Redis } from "ioredis";
import { PrsBackupError } from "../../errors.js";
import type { SnapshotWriter } from "../../repo/snapshot-writer.js";
import type { BackupContext, BackupResult } from "../engine.js";
import { runBgsave } from "./bgsave.js";
import { connectRedis, redisError, resolveEndpoint } from "./connection.js";
import { numberField, parseKeyspace, readInfo } from "./info.js";
import { checkRdb, type RdbReport } from "./rdb-check.js";
import { followFile, RdbFollower } from "./rdb-follow.js";
import { lowerPriority } from "../../util/priority.js";
import { fetchRdb } from "./rdb-fetch.js";
import type { RedisTarget } from "./target.js";

/** The name of the RDB inside a redis snapshot. */
export const RDB_ENTRY_PATH = "/dump.rdb";
/** A file older than the save request by more than this is not the one Redis just wrote. */
const MTIME_SLACK_MS = 2000;
/** Nice levels added while Redis's save child runs. */
const SAVE_NICE = 10;

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
    let stored: StoredRdb | undefined;
    let origin = "data-directory";
    let bgsaveSeconds: number | undefined;
    let followed = false;
    if (local && (await isDirectory(path.dirname(local)))) {
      const saved = await saveAndStore(client, local, endpoint.label, target, ctx);
      bgsaveSeconds = saved.bgsaveSeconds;
      stored = saved.stored;
      followed = saved.followed;
    }
    if (!stored) {
      ctx.logger.info(`${target.name}: fetching the RDB from ${endpoint.label} with redis-cli --rdb`);
      const fetched = await fetchRdb({
        endpoint,
        ...(target.binDir ? { binDir: target.binDir } : {}),
        ...(ctx.tempDirectory ? { tempDirectory: ctx.tempDirectory } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      try {
        stored = await storeRdbFile(fetched.file, target, ctx);
        origin = "replication";
      } finally {
        await fetched.remove();
      }
    }
    const keyspace = parseKeyspace(await readInfo(client, "keyspace"));
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
        rdbSource: origin,
        /** Stored while Redis wrote it (not read after the save). */
        rdbFollowed: followed,
        rdbBytes: stored.size,
        ...(bgsaveSeconds !== undefined ? { bgsaveSeconds } : {}),
      },
    };
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

type StoredRdb = Awaited<ReturnType<SnapshotWriter["storeStream"]>> & { report: RdbReport };

/**
 * BGSAVE, storing the RDB while Redis writes it (see RdbFollower). When the file that was
 * followed is not the dump Redis ended up with, or none could be followed, the dump is read
 * after the save instead; when that is not the file Redis just wrote either (dataDirectory
 * wrong), nothing is stored and the caller fetches it over replication.
 */
async function saveAndStore(
  client: Redis,
  local: string,
  label: string,
  target: RedisTarget,
  ctx: BackupContext,
): Promise<{ stored?: StoredRdb; bgsaveSeconds: number; followed: boolean }> {
  const follower = new RdbFollower(path.dirname(local));
  // Redis's save child gets a core to itself: storing and checking what it writes follows
  // at a lower priority, so the save takes as long as it would alone.
  const restorePriority = lowerPriority(SAVE_NICE);
  try {
    return await followSave(client, local, label, target, ctx, follower);
  } finally {
    restorePriority();
  }
}

async function followSave(
  client: Redis,
  local: string,
  label: string,
  target: RedisTarget,
  ctx: BackupContext,
  follower: RdbFollower,
): Promise<{ stored?: StoredRdb; bgsaveSeconds: number; followed: boolean }> {
  const save = runBgsave({
    client,
    label,
    logger: ctx.logger,
    signal: ctx.signal,
    beforeRequest: () => follower.arm(),
  });
  save.catch(() => undefined);
  const handle = await follower.open(save, ctx.signal);
  let stored: StoredRdb | undefined;
  if (handle) {
    const isTheDump = async () => {
      const [mine, dump] = [await handle.stat(), await fs.stat(local).catch(() => undefined)];
      return dump !== undefined && dump.ino === mine.ino && dump.dev === mine.dev && dump.size === mine.size;
    };
    try {
      stored = await storeRdbHandle(handle, target, ctx, {
        source: followFile(handle, save, ctx.signal),
        isTheDump,
      });
    } catch (err) {
      // The save's own failure, or a followed file that is the dump, is the answer; a file
      // that turns out to be another save's (redis-check-rdb saw it end early) is not.
      await save;
      if (await isTheDump()) throw err;
    } finally {
      await handle.close();
    }
    if (!stored)
      ctx.logger.warn(`${target.name}: the RDB read while Redis wrote it is not ${local}; reading ${local}`);
  }
  const done = await save;
  const followed = stored !== undefined;
  if (!stored) {
    const st = await fs.stat(local).catch(() => undefined);
    if (st && st.mtimeMs >= done.requestedAt - MTIME_SLACK_MS) {
      stored = await storeRdbFile(local, target, ctx);
    } else {
      ctx.logger.warn(
        `${target.name}: ${local} is not the RDB Redis at ${label} just wrote (${st ? "older" : "missing"}); is dataDirectory right? Fetching it over replication instead`,
      );
    }
  }
  return { ...(stored ? { stored } : {}), bgsaveSeconds: done.seconds, followed };
}

/** Stores a finished RDB file. */
async function storeRdbFile(file: string, target: RedisTarget, ctx: BackupContext): Promise<StoredRdb> {
  const handle = await fs.open(file, "r");
  try {
    const source = handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
    return (await storeRdbHandle(handle, target, ctx, { source }))!;
  } finally {
    await handle.close();
  }
}

/**
 * Stores the RDB of an open file from `source` while redis-check-rdb validates the very
 * same bytes (fed through its stdin), then adds its entry — unless `isTheDump` says the file
 * is not the one to keep, in which case undefined is returned and nothing is added.
 */
async function storeRdbHandle(
  handle: fs.FileHandle,
  target: RedisTarget,
  ctx: BackupContext,
  options: { source: AsyncIterable<Buffer>; isTheDump?: () => Promise<boolean> },
): Promise<StoredRdb | undefined> {
  const previous = await previousRdbChunks(ctx);
  const check = new PassThrough({ highWaterMark: 4 << 20 });
  check.on("error", () => undefined); // a checker that exits early reports through its exit status
  const [stored, report] = await settleBoth(
    ctx.writer.storeStream(teeInto(options.source, check, ctx), { previous }),
    checkRdb(`/proc/${process.pid}/fd/${handle.fd}`, {
      label: `the RDB of target "${target.name}"`,
      input: check,
      ...(target.binDir ? { binDir: target.binDir } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    }),
  );
  if (options.isTheDump && !(await options.isTheDump())) return undefined;
  const st = await handle.stat({ bigint: true });
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
}

/** The chunks of the RDB in the parent snapshot (what changed chunks are stored against), if any. */
async function previousRdbChunks(ctx: BackupContext): Promise<string[] | undefined> {
  if (!ctx.parent) return undefined;
  try {
    return (await ctx.repo.snapshots.fileEntries(ctx.parent, [RDB_ENTRY_PATH])).get(RDB_ENTRY_PATH)?.chunks;
  } catch (err) {
    ctx.logger.warn(
      `the parent snapshot's entry list is unreadable (${(err as Error).message}); storing the RDB without it`,
    );
  }
  return undefined;
}

/** Passes buffers through, writing each to `sink` too (waiting while it is full), and counts progress. */
async function* teeInto(
  source: AsyncIterable<Buffer>,
  sink: PassThrough,
  ctx: BackupContext,
): AsyncGenerator<Buffer> {
  try {
    for await (const buf of source) {
      ctx.progress.add(buf.length);
      if (!sink.destroyed && !sink.write(buf)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            sink.off("drain", done).off("close", done);
            resolve();
          };
          sink.on("drain", done).on("close", done);
        });
      }
      yield buf;
    }
    sink.end();
  } catch (err) {
    sink.destroy();
    throw err;
  }
}

/** Awaits both; rethrows the first failure only once neither is still running. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "rejected") throw ra.reason;
  if (rb.status === "rejected") throw rb.reason;
  return [ra.value, rb.value];
}

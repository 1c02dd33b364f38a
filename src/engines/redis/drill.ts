import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { noProgress } from "../../util/progress.js";
import type { DrillResult, EngineContext } from "../engine.js";
import { connectRedis } from "./connection.js";
import { numberField, parseKeyspace, readInfo, totalKeys, type Keyspace } from "./info.js";
import { checkRdb } from "./rdb-check.js";
import { rdbEntry, writeRdb } from "./restore-file.js";
import { compareCounts } from "./restore-in-place.js";
import { ScratchRedis } from "./scratch-server.js";
import type { RedisTarget } from "./target.js";

/**
 * Restores the snapshot's RDB into a temp dir, checks it with redis-check-rdb, loads it into
 * a scratch redis-server on a free port and compares the keys per database with what the
 * manifest recorded (keys whose TTL ran out since the backup are dropped at load and counted
 * as such). Everything is stopped and deleted afterwards, also on failure.
 */
export async function drillRedis(
  target: RedisTarget,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<DrillResult> {
  const started = Date.now();
  const problems: string[] = [];
  const compared: Record<string, unknown> = {};
  const work = await fs.mkdtemp(path.join(ctx.tempDirectory ?? os.tmpdir(), "prs-backup-drill-"));
  let server: ScratchRedis | undefined;
  try {
    const file = path.join(work, "dump.rdb");
    await writeRdb(await rdbEntry(snapshot, ctx), file, { ...ctx, progress: noProgress });
    const binDir = target.binDir ? { binDir: target.binDir } : {};
    const report = await checkRdb(file, { ...binDir, label: `snapshot ${snapshot.id}'s RDB` });
    const expected = (snapshot.metadata.rdbKeyspace ?? {}) as Keyspace;
    if (report.keysRead !== totalKeys(expected)) {
      problems.push(
        `redis-check-rdb read ${report.keysRead} keys, the manifest records ${totalKeys(expected)}`,
      );
    }
    server = await ScratchRedis.start({
      rdb: file,
      ...binDir,
      ...(ctx.tempDirectory ? { tempDirectory: ctx.tempDirectory } : {}),
    });
    const client = await connectRedis(
      { host: "127.0.0.1", port: server.port, tls: false, label: `scratch 127.0.0.1:${server.port}` },
      target.name,
    );
    try {
      const loaded = parseKeyspace(await readInfo(client, "keyspace"));
      const expired = numberField(await readInfo(client, "persistence"), "rdb_last_load_keys_expired") ?? 0;
      const problem = compareCounts(expected, loaded, expired);
      if (problem) problems.push(`the scratch Redis loaded different key counts: ${problem}`);
      compared.keys = totalKeys(loaded);
      compared.expiredSinceBackup = expired;
      compared.databases = Object.keys(loaded).length;
      compared.rdbBytes = (await fs.stat(file)).size;
    } finally {
      client.disconnect();
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    await server?.close();
    await fs.rm(work, { recursive: true, force: true });
  }
  return { ok: problems.length === 0, seconds: (Date.now() - started) / 1000, compared, problems };
}

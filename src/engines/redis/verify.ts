import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { toPrsBackupError } from "../../errors.js";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { noProgress } from "../../util/progress.js";
import type { EngineContext } from "../engine.js";
import { totalKeys, type Keyspace } from "./info.js";
import { checkRdb } from "./rdb-check.js";
import { rdbEntry, writeRdb } from "./restore-file.js";
import type { RedisTarget } from "./target.js";

/**
 * The engine check of `verify` (no server started): the stored RDB, reassembled from its
 * verified chunks into a temp file, must pass `redis-check-rdb` and hold as many keys as
 * the manifest recorded at backup time.
 */
export async function verifyRedisSnapshot(
  target: RedisTarget,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<string[]> {
  const work = await fs.mkdtemp(path.join(ctx.tempDirectory ?? os.tmpdir(), "prs-backup-verify-"));
  try {
    const file = path.join(work, "dump.rdb");
    await writeRdb(await rdbEntry(snapshot, ctx), file, { ...ctx, progress: noProgress });
    const report = await checkRdb(file, {
      ...(target.binDir ? { binDir: target.binDir } : {}),
      label: `snapshot ${snapshot.id}'s RDB`,
    });
    const expected = totalKeys((snapshot.metadata.rdbKeyspace ?? {}) as Keyspace);
    return report.keysRead === expected
      ? []
      : [`redis-check-rdb read ${report.keysRead} keys, the manifest records ${expected}`];
  } catch (err) {
    return [toPrsBackupError(err).message];
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

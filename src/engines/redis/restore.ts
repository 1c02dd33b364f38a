import fs from "node:fs/promises";
import { UserError } from "../../errors.js";
import type { EngineContext, RestoreRequest, RestoreResult } from "../engine.js";
import { restoreInPlace } from "./restore-in-place.js";
import { planFileDestination, rdbEntry, resolveRestoreFile, writeRdb } from "./restore-file.js";
import type { RedisTarget } from "./target.js";

/**
 * Restores a redis snapshot. `--to FILE` writes the RDB there (an existing file only with
 * --force, moved aside first). Without --to, in place, only with --force: see restoreInPlace.
 */
export async function restoreRedis(
  target: RedisTarget,
  request: RestoreRequest,
  ctx: EngineContext,
): Promise<RestoreResult> {
  if (request.to === undefined) {
    if (!request.force) {
      throw new UserError(
        "E_RESTORE_REFUSED",
        `restoring ${target.name} in place replaces the data of the live Redis: add --force to do it (its files are moved aside, not deleted), or use --to FILE`,
      );
    }
    return restoreInPlace(target, request, ctx);
  }
  const dest = await resolveRestoreFile(request.to);
  const { moveAsideTo } = await planFileDestination(dest, request.force, new Date());
  const result: RestoreResult = {
    location: dest,
    steps: [
      ...(moveAsideTo ? [{ action: "move-aside", detail: `${dest} → ${moveAsideTo}` }] : []),
      { action: "write-rdb", detail: `${request.snapshot.id} → ${dest}` },
    ],
    entries: 1,
    bytes: request.snapshot.sourceBytes,
    movedAside: [],
    notes: [],
  };
  if (request.dryRun) return result;
  const entry = await rdbEntry(request.snapshot, ctx);
  if (moveAsideTo) {
    await fs.rename(dest, moveAsideTo);
    result.movedAside.push(moveAsideTo);
  }
  await writeRdb(entry, dest, ctx);
  result.bytes = entry.size;
  result.notes.push(
    `load it with: redis-server --dir ${dest.slice(0, dest.lastIndexOf("/")) || "/"} --dbfilename ${dest.slice(dest.lastIndexOf("/") + 1)} --appendonly no`,
  );
  return result;
}

import fs from "node:fs/promises";
import { OperationError } from "../../errors.js";
import type { Engine } from "../engine.js";
import { backupRedis } from "./backup.js";
import { resolveEndpoint } from "./connection.js";
import { drillRedis } from "./drill.js";
import { restoreRedis } from "./restore.js";
import type { RedisTarget } from "./target.js";
import { verifyRedisSnapshot } from "./verify.js";

/** A Redis server, backed up as its RDB snapshot (BGSAVE, or redis-cli --rdb). */
export const redisEngine: Engine<RedisTarget> = {
  type: "redis",

  async preflight(target, ctx) {
    // Resolves the password now, so a missing variable or file fails before anything runs.
    await resolveEndpoint(target, ctx.env);
    if (target.dataDirectory !== undefined && !(await isDir(target.dataDirectory))) {
      throw new OperationError(
        "E_SOURCE_MISSING",
        `targets.${target.name}.dataDirectory: ${target.dataDirectory} is not a directory`,
      );
    }
  },

  backup: (target, ctx) => backupRedis(target, ctx),
  restore: (target, request, ctx) => restoreRedis(target, request, ctx),
  verifySnapshot: (target, snapshot, ctx) => verifyRedisSnapshot(target, snapshot, ctx),
  drill: (target, snapshot, ctx) => drillRedis(target, snapshot, ctx),
};

async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() === true;
}

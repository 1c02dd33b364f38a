import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { OperationError } from "../../errors.js";
import type { Logger } from "../../util/logger.js";
import { numberField, readInfo, type InfoFields } from "./info.js";

const POLL_MS = 50;

export interface BgsaveOptions {
  client: Redis;
  /** `host:port`, for messages. */
  label: string;
  logger: Logger;
  signal?: AbortSignal;
  /** Called just before BGSAVE is sent (after any save already running has ended). */
  beforeRequest?: () => Promise<void>;
}

export interface BgsaveResult {
  /** When we asked for the save (ms since the epoch): the RDB holds the data as of a moment after it. */
  requestedAt: number;
  seconds: number;
}

/**
 * Makes Redis write a fresh RDB and waits until it is on disk. `LASTSAVE` alone cannot tell
 * a new save from an old one (one-second resolution, and unchanged when a save fails), so
 * completion is read from `INFO persistence`: `rdb_saves` (Redis 7+, counted when a save
 * starts) moves past its value before the request and `rdb_bgsave_in_progress` drops to 0;
 * then `rdb_last_bgsave_status` says whether it worked. A save already running when we ask
 * started before the request, so we let it finish and start our own. `BGSAVE SCHEDULE`
 * defers ours while an AOF rewrite runs instead of failing.
 */
export async function runBgsave(options: BgsaveOptions): Promise<BgsaveResult> {
  const { client, label, logger, signal } = options;
  let before = await readInfo(client, "persistence");
  if (before.rdb_last_bgsave_status === "err") {
    logger.warn(
      `Redis at ${label}: its last background save failed (while that lasts, Redis with save points refuses writes: MISCONF); trying a new one`,
    );
  }
  if (before.rdb_bgsave_in_progress === "1") {
    logger.info(`Redis at ${label}: a background save is already running; waiting for it, then saving anew`);
    before = await waitFor(client, signal, (info) => info.rdb_bgsave_in_progress === "0");
  }
  await options.beforeRequest?.();
  const requestedAt = Date.now();
  const reply = await requestSave(client, label, signal);
  logger.debug(`Redis at ${label}: BGSAVE: ${reply}`);
  const savesBefore = numberField(before, "rdb_saves");
  const lastSaveBefore = numberField(before, "rdb_last_save_time") ?? 0;
  let seenRunning = /started/i.test(reply);
  const after = await waitFor(client, signal, (info) => {
    if (info.rdb_bgsave_in_progress === "1") {
      seenRunning = true;
      return false;
    }
    const saves = numberField(info, "rdb_saves");
    if (savesBefore !== undefined && saves !== undefined) return saves > savesBefore;
    // Redis before 7: no save counter; a save we saw running has ended, or LASTSAVE moved.
    return seenRunning || (numberField(info, "rdb_last_save_time") ?? 0) > lastSaveBefore;
  });
  if (after.rdb_last_bgsave_status !== "ok") {
    throw new OperationError(
      "E_REDIS_BGSAVE_FAILED",
      `Redis at ${label} could not write its RDB snapshot (rdb_last_bgsave_status:${after.rdb_last_bgsave_status ?? "?"}): usually a full disk or a data directory Redis cannot write — see the Redis log; until a save succeeds, Redis refuses writes (MISCONF)`,
      { retryable: true },
    );
  }
  return { requestedAt, seconds: (Date.now() - requestedAt) / 1000 };
}

async function requestSave(client: Redis, label: string, signal: AbortSignal | undefined): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return String(await client.call("BGSAVE", "SCHEDULE"));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // Another client started a save between our check and our request: let it end, ask again.
      if (/already in progress/i.test(message) && attempt < 5) {
        await waitFor(client, signal, (info) => info.rdb_bgsave_in_progress === "0");
        continue;
      }
      throw new OperationError("E_REDIS_BGSAVE_FAILED", `Redis at ${label} refused BGSAVE: ${message}`, {
        cause: err,
      });
    }
  }
}

/** Polls `INFO persistence` until `done` holds; returns that reading. */
async function waitFor(
  client: Redis,
  signal: AbortSignal | undefined,
  done: (info: InfoFields) => boolean,
): Promise<InfoFields> {
  for (;;) {
    signal?.throwIfAborted();
    const info = await readInfo(client, "persistence");
    if (done(info)) return info;
    await sleep(POLL_MS, undefined, signal ? { signal } : undefined);
  }
}

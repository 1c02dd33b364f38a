import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { LockedError } from "../errors.js";
import type { Logger } from "../util/logger.js";
import type { Backend } from "./backend.js";

/**
 * Repository locks (see docs/repository-format.md, "Locks"). A lock is an object
 * `locks/<id>.json`. Shared locks (backup, restore, verify, wal push) coexist;
 * an exclusive lock (prune's delete phase) excludes every other lock. To acquire,
 * write your lock, then list: when a conflicting live lock exists, withdraw yours and
 * retry after a random backoff. A lock whose owner is gone is stale and removed, with
 * a warning in the log, so a crashed run never blocks later scheduled runs.
 */
export interface LockInfo {
  id: string;
  exclusive: boolean;
  operation: string;
  host: string;
  pid: number;
  /** Kernel start time of the owner process (jiffies since boot), so a reused pid is not mistaken for the owner. */
  processStart?: string;
  created: string;
  refreshed: string;
}

/** A lock not refreshed for this long is stale even when its host cannot be checked. */
export const LOCK_EXPIRY_MS = 30 * 60 * 1000;
const REFRESH_MS = 60 * 1000;

export interface LockOptions {
  exclusive: boolean;
  operation: string;
  /** How long to wait for conflicting locks before giving up (default 0: fail at once). */
  timeoutMs?: number;
  logger: Logger;
  now?: () => number;
}

/** Start time of a process from /proc, or undefined when it does not exist (or no /proc). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime); the command name in field 2 may contain spaces, so split after ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Why a lock is stale, or undefined when it may still be held. */
export function staleReason(lock: LockInfo, now: number, host = os.hostname()): string | undefined {
  if (lock.host === host) {
    const start = processStartTime(lock.pid);
    if (start === undefined) return `process ${lock.pid} on ${lock.host} no longer exists`;
    if (lock.processStart !== undefined && start !== lock.processStart) {
      return `process ${lock.pid} on ${lock.host} is a different process now`;
    }
    return undefined;
  }
  const age = now - Date.parse(lock.refreshed);
  if (age > LOCK_EXPIRY_MS) return `not refreshed for ${Math.round(age / 60000)} minutes`;
  return undefined;
}

function describe(lock: LockInfo): string {
  return `${lock.exclusive ? "exclusive" : "shared"} lock of "${lock.operation}" (pid ${lock.pid} on ${lock.host}, since ${lock.created})`;
}

const held = new Set<RepoLock>();

/** Releases every lock this process holds (on SIGINT/SIGTERM, before exiting). */
export async function releaseAllLocks(): Promise<void> {
  await Promise.all([...held].map((lock) => lock.release().catch(() => undefined)));
}

/** A held lock; call release() when done. Refreshes itself while held. */
export class RepoLock {
  readonly #backend: Backend;
  readonly info: LockInfo;
  #timer: NodeJS.Timeout | undefined;

  private constructor(backend: Backend, info: LockInfo) {
    this.#backend = backend;
    this.info = info;
  }

  /** Acquires a lock, waiting up to `timeoutMs` for conflicting ones to go away. */
  static async acquire(backend: Backend, options: LockOptions): Promise<RepoLock> {
    const now = options.now ?? Date.now;
    const deadline = now() + (options.timeoutMs ?? 0);
    let delay = 200;
    for (;;) {
      const stamp = new Date(now()).toISOString();
      const info: LockInfo = {
        id: randomBytes(8).toString("hex"),
        exclusive: options.exclusive,
        operation: options.operation,
        host: os.hostname(),
        pid: process.pid,
        processStart: processStartTime(process.pid),
        created: stamp,
        refreshed: stamp,
      };
      await backend.put(lockKey(info.id), JSON.stringify(info));
      await backend.flush();
      const conflict = await findConflict(backend, info, options.logger, now());
      if (!conflict) {
        const lock = new RepoLock(backend, info);
        lock.#startRefresh(now);
        held.add(lock);
        return lock;
      }
      await backend.delete(lockKey(info.id));
      if (now() >= deadline) {
        throw new LockedError(
          `repository ${backend.location} is locked by another ${describe(conflict)}; try again later`,
        );
      }
      options.logger.info(`waiting for ${describe(conflict)}`);
      await sleep(Math.min(delay * (0.5 + Math.random()), Math.max(0, deadline - now())));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  #startRefresh(now: () => number): void {
    this.#timer = setInterval(() => {
      const refreshed = { ...this.info, refreshed: new Date(now()).toISOString() };
      this.#backend.put(lockKey(this.info.id), JSON.stringify(refreshed)).catch(() => undefined);
    }, REFRESH_MS);
    this.#timer.unref();
  }

  async release(): Promise<void> {
    held.delete(this);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#backend.delete(lockKey(this.info.id));
  }
}

/** Reads every lock, removes stale ones (logging why), returns the first live lock that conflicts with `mine`. */
async function findConflict(
  backend: Backend,
  mine: LockInfo,
  logger: Logger,
  now: number,
): Promise<LockInfo | undefined> {
  for (const other of await readLocks(backend)) {
    if (other.id === mine.id) continue;
    const stale = staleReason(other, now);
    if (stale) {
      logger.warn(`removing stale ${describe(other)}: ${stale}`);
      await backend.delete(lockKey(other.id));
      continue;
    }
    if (mine.exclusive || other.exclusive) return other;
  }
  return undefined;
}

/** All lock objects in the repository; unreadable ones (a torn write by a crashed writer) are skipped. */
export async function readLocks(backend: Backend): Promise<LockInfo[]> {
  const locks: LockInfo[] = [];
  for await (const key of backend.listKeys("locks/")) {
    try {
      locks.push(JSON.parse((await backend.get(key)).toString("utf8")) as LockInfo);
    } catch {
      // Lock writes are atomic; a lock that vanished between list and get was released.
    }
  }
  return locks;
}

function lockKey(id: string): string {
  return `locks/${id}.json`;
}

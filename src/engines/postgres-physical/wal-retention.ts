import fs from "node:fs/promises";
import path from "node:path";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import type { BaseBackupMetadata } from "./target.js";
import { WalArchive } from "./wal-archive.js";
import { isHistoryName, parseSegmentName } from "./wal-names.js";

/** What WAL retention would delete, and the point-in-time-recovery window that remains. */
export interface WalRetentionPlan {
  target: string;
  /** WAL file names (in `wal/<target>/`) that no kept base backup needs. */
  deletable: string[];
  /** Earliest point in time that can be recovered (end of the oldest kept base backup), if any. */
  windowStart?: string;
  /** Stored bytes of the deletable files. */
  deletableBytes: number;
  /** The newest archived segment (the archive reaches up to its end). */
  newestWal?: string;
  /** When the newest segment was archived (ISO 8601): the archive covers about up to then. */
  newestWalTime?: string;
  archivedFiles: number;
}

/**
 * Plans WAL retention for one postgres-physical target: WAL older than the start of
 * every kept base backup is not needed by any of them and may go; `.history` files are
 * always kept (recovery to any timeline needs them). With no kept base backup, nothing
 * is deleted. Pure planning: `applyWalRetention` deletes.
 * @param repositoryPath - the repository directory (`repository.path`).
 * @param kept - the target's snapshots that retention keeps (complete or partial).
 */
export async function planWalRetention(
  repositoryPath: string,
  target: string,
  kept: readonly SnapshotManifest[],
): Promise<WalRetentionPlan> {
  const archive = new WalArchive(repositoryPath, target);
  const names = await archive.list();
  const metas = kept.map((s) => s.metadata as Partial<BaseBackupMetadata>).filter((m) => m.startWal);
  const starts = metas.map((m) => parseSegmentName(m.startWal!)!.segno);
  const segments = names.filter((n) => !isHistoryName(n)).sort();
  const newest = segments.filter((n) => /^[0-9A-F]{24}$/.test(n)).at(-1);
  const newestStat = newest
    ? await fs.stat(path.join(archive.dir, newest)).catch(() => undefined)
    : undefined;
  const tail = {
    ...(newest ? { newestWal: newest } : {}),
    ...(newestStat ? { newestWalTime: newestStat.mtime.toISOString() } : {}),
  };
  if (starts.length === 0)
    return { target, deletable: [], deletableBytes: 0, archivedFiles: names.length, ...tail };
  const oldest = starts.reduce((a, b) => (a < b ? a : b));
  const deletable = segments.filter((n) => parseSegmentName(n)!.segno < oldest);
  let deletableBytes = 0;
  for (const n of deletable)
    deletableBytes += (await fs.stat(path.join(archive.dir, n)).catch(() => undefined))?.size ?? 0;
  const windowStart = metas
    .map((m) => m.stopTime)
    .filter((t): t is string => t !== undefined)
    .sort()[0];
  return {
    target,
    deletable,
    deletableBytes,
    archivedFiles: names.length,
    ...(windowStart ? { windowStart } : {}),
    ...tail,
  };
}

/** Deletes what `planWalRetention` found deletable. Call under prune's exclusive lock. */
export async function applyWalRetention(repositoryPath: string, plan: WalRetentionPlan): Promise<number> {
  await new WalArchive(repositoryPath, plan.target).remove(plan.deletable);
  return plan.deletable.length;
}

import { RepoCorruptError, toPrsBackupError } from "../errors.js";
import { chunkKey } from "../repo/chunk-store.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { forEachLimit } from "../util/concurrency.js";
import { lockTimeoutMs, type OpContext } from "./context.js";
import { applyRetention } from "./retention.js";
import { applyPackPrune, planPackPrune } from "./prune-packs.js";
import type { WalRetentionPlan } from "../engines/postgres-physical/wal-retention.js";

export interface PruneOptions {
  dryRun: boolean;
}

/** One snapshot's fate, with the rules that decided it. */
export interface PrunePlanEntry {
  id: string;
  target: string;
  startTime: string;
  status: string;
  keep: boolean;
  reasons: string[];
}

/** `prune --json` (DESIGN.md): deleted and kept ids, reclaimed bytes; plus the plan and counts. */
export interface PruneReport {
  dryRun: boolean;
  deleted: string[];
  kept: string[];
  /** Bytes of chunks deleted (with --dry-run: that would be deleted). */
  reclaimedBytes: number;
  chunksDeleted: number;
  /** WAL files older than every kept base backup, deleted (postgres-physical targets). */
  walFilesDeleted: number;
  plan: PrunePlanEntry[];
}

/** Temp files older than this are leftovers of crashed writers. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Run records are kept this long. */
const HISTORY_DAYS = 400;

/**
 * Applies every target's retention, then deletes what no snapshot references any more.
 * Plan → delete manifests → delete unreferenced chunks, under an exclusive lock so no
 * backup can reuse a chunk while it is deleted. Everything still referenced is marked
 * before anything is deleted; a kill at any point leaves every kept snapshot whole, and
 * the next prune collects what was left behind.
 */
export async function runPrune(ctx: OpContext, options: PruneOptions): Promise<PruneReport> {
  const repo = await openRepository(ctx.config.repository);
  const lock = await repo.lock({
    exclusive: !options.dryRun,
    operation: options.dryRun ? "prune --dry-run" : "prune",
    timeoutMs: lockTimeoutMs(ctx.config),
    logger: ctx.logger,
  });
  const startTime = (ctx.now?.() ?? new Date()).toISOString();
  try {
    const report = await prune(ctx, repo, options);
    if (!options.dryRun) await recordPrune(ctx, repo, startTime, report);
    return report;
  } finally {
    await lock.release();
  }
}

async function prune(ctx: OpContext, repo: Repository, options: PruneOptions): Promise<PruneReport> {
  const damaged: string[] = [];
  const snapshots = await repo.snapshots.list(undefined, (id) => damaged.push(id));
  if (damaged.length > 0) {
    throw new RepoCorruptError(
      `cannot prune: the manifest of snapshot(s) ${damaged.join(", ")} is unreadable, so the data it needs is unknown; run \`prs-backup verify\``,
    );
  }
  const plan = await planRetention(ctx, repo, snapshots);
  const keptIds = new Set(plan.filter((p) => p.keep).map((p) => p.id));
  const kept = snapshots.filter((s) => keptIds.has(s.id));
  const doomed = snapshots.filter((s) => !keptIds.has(s.id));

  // Mark: every chunk a kept snapshot needs. Any doubt stops the prune before it deletes.
  const referenced = new Set<string>();
  for (const snapshot of kept) {
    try {
      for (const id of snapshot.entries.chunks) referenced.add(id);
      for await (const entry of repo.snapshots.entries(snapshot)) {
        if (entry.type === "file") for (const id of entry.chunks) referenced.add(id);
      }
    } catch (err) {
      throw new RepoCorruptError(
        `cannot prune: the entry list of snapshot ${snapshot.id} is unreadable (${toPrsBackupError(err).message}); run \`prs-backup verify\``,
        { cause: err },
      );
    }
  }
  const unreferenced: string[] = [];
  for await (const key of repo.backend.listKeys("data/")) {
    const id = key.slice(key.lastIndexOf("/") + 1);
    if (!referenced.has(id)) unreferenced.push(id);
  }
  let reclaimedBytes = 0;
  const sizes = new Map<string, number>();
  await forEachLimit(unreferenced, 16, async (id) => {
    const size = (await repo.backend.stat(chunkKey(id)))?.size ?? 0;
    sizes.set(id, size);
  });
  for (const size of sizes.values()) reclaimedBytes += size;
  const packCatalog = await repo.chunks.packsFromIndexes();
  if (packCatalog.unreadable.length > 0) {
    const first = packCatalog.unreadable[0]!;
    throw new RepoCorruptError(
      `cannot prune: ${first.message}${packCatalog.unreadable.length > 1 ? ` (and ${packCatalog.unreadable.length - 1} more)` : ""}; run \`prs-backup verify\``,
    );
  }
  for (const id of packCatalog.orphanPacks) {
    ctx.logger.warn(
      `pack ${id} has neither an index nor a readable trailer; kept — run \`prs-backup verify\``,
    );
  }
  // A chunk stored against another (a `zstd-ref` frame) needs that one too.
  for (const id of [...referenced]) {
    const ref = packCatalog.chunks.get(id)?.frame.ref;
    if (ref !== undefined) referenced.add(ref);
  }
  const packPlan = planPackPrune(packCatalog, referenced);
  reclaimedBytes += packPlan.reclaimableBytes;

  const walPlans = await planWal(ctx, kept);
  for (const w of walPlans) reclaimedBytes += w.deletableBytes;

  const report: PruneReport = {
    dryRun: options.dryRun,
    deleted: doomed.map((s) => s.id),
    kept: kept.map((s) => s.id),
    reclaimedBytes,
    chunksDeleted: unreferenced.length + packPlan.deadChunks,
    walFilesDeleted: walPlans.reduce((n, w) => n + w.deletable.length, 0),
    plan,
  };
  if (options.dryRun) return report;

  for (const s of doomed) {
    await repo.snapshots.remove(s.id);
    ctx.logger.info(`deleted snapshot ${s.id} of ${s.target} from ${s.startTime}`);
  }
  await forEachLimit(unreferenced, 16, (id) => repo.backend.delete(chunkKey(id)));
  await repo.backend.flush();
  const packsFreed = await applyPackPrune(repo, packPlan, referenced, ctx.logger);
  report.reclaimedBytes += packsFreed - packPlan.reclaimableBytes;
  await applyWal(ctx, walPlans);
  const temps = (await repo.backend.removeStaleTemps?.(STALE_TEMP_MS)) ?? 0;
  if (temps > 0) ctx.logger.info(`removed ${temps} temp file(s) left by interrupted runs`);
  await repo.history.removeOlderThan(new Date(Date.now() - HISTORY_DAYS * 86_400_000));
  return report;
}

/** Retention per configured target; snapshots of targets no longer configured are kept. */
async function planRetention(
  ctx: OpContext,
  repo: Repository,
  snapshots: SnapshotManifest[],
): Promise<PrunePlanEntry[]> {
  const byTarget = new Map<string, SnapshotManifest[]>();
  for (const s of snapshots) byTarget.set(s.target, [...(byTarget.get(s.target) ?? []), s]);
  const now = ctx.now?.() ?? new Date();
  const history = await repo.history.list({
    kind: "backup",
    since: new Date(now.getTime() - HISTORY_DAYS * 86_400_000),
  });
  const plan: PrunePlanEntry[] = [];
  for (const [target, snaps] of byTarget) {
    const config = ctx.config.targets[target];
    const info = (s: SnapshotManifest) => ({ id: s.id, target, startTime: s.startTime, status: s.status });
    if (!config) {
      for (const s of snaps)
        plan.push({ ...info(s), keep: true, reasons: ["target not in the configuration"] });
      continue;
    }
    const latest = history.filter((r) => r.target === target).at(-1);
    const decisions = applyRetention(snaps, config.retention, {
      now,
      latestBackupFailed: latest !== undefined && latest.outcome !== "success",
    });
    const byId = new Map(snaps.map((s) => [s.id, s]));
    for (const d of decisions) plan.push({ ...info(byId.get(d.id)!), keep: d.keep, reasons: d.reasons });
  }
  return plan;
}

async function recordPrune(
  ctx: OpContext,
  repo: Repository,
  startTime: string,
  report: PruneReport,
): Promise<void> {
  try {
    await repo.history.record({
      kind: "prune",
      startTime,
      endTime: new Date().toISOString(),
      outcome: "success",
      bytes: report.reclaimedBytes,
      details: {
        deleted: report.deleted.length,
        kept: report.kept.length,
        chunksDeleted: report.chunksDeleted,
      },
    });
  } catch (err) {
    ctx.logger.warn(`could not record the prune in the history: ${toPrsBackupError(err).message}`);
  }
}

/**
 * WAL that no kept base backup needs: older than the start of the oldest kept one, per
 * postgres-physical target (never `.history` files; nothing while no base backup is kept).
 */
async function planWal(ctx: OpContext, kept: SnapshotManifest[]): Promise<WalRetentionPlan[]> {
  const repoPath = ctx.config.repository.path;
  const physical = Object.values(ctx.config.targets).filter((t) => t.type === "postgres-physical");
  if (repoPath === undefined || physical.length === 0) return [];
  const { planWalRetention } = await import("../engines/postgres-physical/wal-retention.js");
  return Promise.all(
    physical.map((t) =>
      planWalRetention(
        repoPath,
        t.name,
        kept.filter((s) => s.target === t.name),
      ),
    ),
  );
}

async function applyWal(ctx: OpContext, plans: WalRetentionPlan[]): Promise<void> {
  const repoPath = ctx.config.repository.path;
  if (repoPath === undefined || plans.every((p) => p.deletable.length === 0)) return;
  const { applyWalRetention } = await import("../engines/postgres-physical/wal-retention.js");
  for (const plan of plans) {
    const n = await applyWalRetention(repoPath, plan);
    if (n > 0) ctx.logger.info(`${plan.target}: deleted ${n} WAL file(s) older than every kept base backup`);
  }
}

import type { Config } from "../config/index.js";
import type { DrillResult } from "../engines/engine.js";
import { engineFor } from "../engines/registry.js";
import { toPrsBackupError } from "../errors.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { forEachLimit } from "../util/concurrency.js";
import { noProgress } from "../util/progress.js";
import { findTarget, lockTimeoutMs, type OpContext } from "./context.js";

export interface VerifyOptions {
  target?: string;
  snapshot?: string;
  deep: boolean;
}

export interface VerifyProblem {
  snapshot: string;
  target: string;
  message: string;
}

export interface DrillReport {
  snapshot: string;
  target: string;
  ok: boolean;
  seconds: number;
  compared: Record<string, unknown>;
  problems: string[];
}

/** `verify --json` (DESIGN.md): ok, snapshots checked, problems, and drills with --deep. */
export interface VerifyReport {
  ok: boolean;
  checked: number;
  chunksChecked: number;
  problems: VerifyProblem[];
  drills?: DrillReport[];
}

const READ_CONCURRENCY = 4;

/**
 * Checks that every chunk the selected snapshots reference is present and matches its
 * hash (each chunk read once, however many snapshots share it). With `deep`, also
 * restores the newest complete snapshot of each target into a scratch place and
 * compares it with its manifest.
 */
export async function runVerify(ctx: OpContext, options: VerifyOptions): Promise<VerifyReport> {
  if (options.target !== undefined) findTarget(ctx.config, options.target);
  const repo = await openRepository(ctx.config.repository);
  const lock = await repo.lock({
    exclusive: false,
    operation: "verify",
    timeoutMs: lockTimeoutMs(ctx.config),
    logger: ctx.logger,
  });
  try {
    const report: VerifyReport = { ok: true, checked: 0, chunksChecked: 0, problems: [] };
    const damagedManifest = (id: string, err: unknown): void => {
      report.problems.push({
        snapshot: id,
        target: options.target ?? "unknown",
        message: toPrsBackupError(err).message,
      });
    };
    const snapshots = options.snapshot
      ? [await repo.snapshots.resolve(options.snapshot, options.target)]
      : await repo.snapshots.list(options.target, damagedManifest);
    const chunkState = new Map<string, string | null>(); // id → damage message, or null when good
    for (const snapshot of snapshots) {
      const problems = await checkSnapshot(repo, snapshot, chunkState);
      report.checked += 1;
      for (const message of problems)
        report.problems.push({ snapshot: snapshot.id, target: snapshot.target, message });
      ctx.logger.info(
        `${problems.length === 0 ? "✓" : "✗"} ${snapshot.target} ${snapshot.id}${problems.length ? `: ${problems[0]}` : ""}`,
      );
    }
    report.chunksChecked = chunkState.size;
    if (options.deep) report.drills = await runDrills(ctx, repo, snapshots, options.snapshot !== undefined);
    report.ok = report.problems.length === 0 && (report.drills ?? []).every((d) => d.ok);
    return report;
  } finally {
    await lock.release();
  }
}

/** Damage found in one snapshot; chunk results are shared through `chunkState`. */
async function checkSnapshot(
  repo: Repository,
  snapshot: SnapshotManifest,
  chunkState: Map<string, string | null>,
): Promise<string[]> {
  const problems: string[] = [];
  const users = new Map<string, string>(); // chunk id → first path using it
  try {
    for await (const entry of repo.snapshots.entries(snapshot)) {
      if (entry.type !== "file") continue;
      for (const id of entry.chunks) if (!users.has(id)) users.set(id, entry.path);
    }
  } catch (err) {
    return [`entry list unreadable: ${toPrsBackupError(err).message}`];
  }
  const unchecked = [...users.keys()].filter((id) => !chunkState.has(id));
  await forEachLimit(unchecked, READ_CONCURRENCY, async (id) => {
    try {
      await repo.chunks.get(id);
      chunkState.set(id, null);
    } catch (err) {
      chunkState.set(id, toPrsBackupError(err).message);
    }
  });
  for (const [id, path] of users) {
    const damage = chunkState.get(id);
    if (damage) problems.push(`${damage} (used by ${path})`);
  }
  return problems;
}

async function runDrills(
  ctx: OpContext,
  repo: Repository,
  snapshots: SnapshotManifest[],
  exactSnapshot: boolean,
): Promise<DrillReport[]> {
  const newest = new Map<string, SnapshotManifest>();
  for (const s of snapshots) {
    if (exactSnapshot || (s.status === "complete" && !newest.has(s.target))) newest.set(s.target, s);
  }
  const reports: DrillReport[] = [];
  for (const snapshot of newest.values()) {
    const target = targetFor(ctx.config, snapshot);
    let result: DrillResult;
    try {
      result = await engineFor(target).drill(target, snapshot, {
        repo,
        logger: ctx.logger,
        progress: noProgress,
        env: ctx.env,
        tempDirectory: ctx.config.repository.tempDirectory,
        services: ctx.config.services,
      });
    } catch (err) {
      result = { ok: false, seconds: 0, compared: {}, problems: [toPrsBackupError(err).message] };
    }
    ctx.logger.info(
      `${result.ok ? "✓" : "✗"} drill ${snapshot.target} ${snapshot.id} in ${result.seconds.toFixed(1)}s`,
    );
    reports.push({ snapshot: snapshot.id, target: snapshot.target, ...result });
  }
  return reports;
}

/** The configured target of a snapshot, or a minimal one when the target left the config. */
function targetFor(config: Config, snapshot: SnapshotManifest) {
  return config.targets[snapshot.target] ?? { name: snapshot.target, type: snapshot.type };
}

import type { TargetConfig } from "../config/index.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import type { RunRecord } from "../repo/run-history.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { formatDuration } from "../util/format.js";
import type { OpContext } from "./context.js";
import { schedulePeriodSeconds, staleMarginSeconds } from "./schedule-period.js";

/** The outcome of one run, as status shows it. */
export interface RunSummary {
  startTime: string;
  endTime: string;
  outcome: RunRecord["outcome"];
  seconds: number;
  error?: { code: string; message: string };
}

/** One target in `status --json` (the first seven fields are the DESIGN.md contract). */
export interface TargetStatus {
  name: string;
  type: string;
  /** End of the newest successful backup (ISO 8601 UTC), or null. */
  lastSuccess: string | null;
  /** Id of the newest snapshot (complete or partial), or null. */
  lastSnapshot: string | null;
  /** Seconds since lastSuccess, or null when there was none. */
  ageSeconds: number | null;
  /** No success within the schedule's period plus a margin (see staleMarginSeconds). */
  stale: boolean;
  /** What is wrong, one sentence each; empty when all is well. */
  problems: string[];
  enabled: boolean;
  schedule: string;
  periodSeconds: number;
  lastSnapshotStatus: string | null;
  /** Source bytes of the newest snapshot, or null. */
  lastSnapshotBytes: number | null;
  snapshots: number;
  /** End of the newest failed or partial backup (ISO 8601 UTC), or null. */
  lastFailure: string | null;
  lastRun: RunSummary | null;
  /** The newest failure, when it came after the newest success. */
  lastError: { time: string; code: string; message: string } | null;
  /** postgres-physical: restorable from the end of the oldest complete base backup to the last WAL push. */
  pitr?: { from: string | null; to: string | null; lastWalPush: string | null };
}

/** Repository-wide jobs (verify, drill, prune), as the page and healthz show them. */
export interface JobStatus {
  name: "verify" | "drill" | "prune";
  lastRun: RunSummary | null;
  lastSuccess: string | null;
  lastFailure: string | null;
}

export interface RepositoryStatus {
  bytes: number;
  /** Free bytes on the repository's file system, or null when the backend cannot tell. */
  freeBytes: number | null;
  /** Net bytes added per day over the last week of runs (backups minus prunes), or null. */
  growthBytesPerDay: number | null;
  /** freeBytes / growthBytesPerDay, or null when the repository is not growing. */
  daysUntilFull: number | null;
  snapshots: number;
}

/** `status --json`: `{targets, repository}` per DESIGN.md, plus time and jobs. */
export interface StatusReport {
  time: string;
  targets: TargetStatus[];
  repository: RepositoryStatus;
  jobs: JobStatus[];
}

/** The report plus the runs it was built from (the status page charts them). */
export interface StatusData {
  report: StatusReport;
  runs: RunRecord[];
}

const DAY_MS = 86_400_000;
const GROWTH_WINDOW_DAYS = 7;

/**
 * Builds the status of every configured target and of the repository from the run history
 * and the snapshots. Read-only; takes no lock. `status`, the daemon's /metrics, /healthz
 * and status page all use it, so they cannot disagree.
 */
export async function collectStatus(
  ctx: OpContext,
  options: { repo?: Repository } = {},
): Promise<StatusData> {
  const now = ctx.now?.() ?? new Date();
  const repo = options.repo ?? (await openRepository(ctx.config.repository));
  const damaged = (id: string): void =>
    ctx.logger.warn(`snapshot ${id}: manifest unreadable; run \`prs-backup verify\``);
  const [runs, snapshots, bytes, freeBytes] = await Promise.all([
    repo.history.list({ since: new Date(now.getTime() - 90 * DAY_MS) }),
    repo.snapshots.list(undefined, damaged),
    repositoryBytes(repo),
    repo.backend.freeBytes().catch(() => undefined),
  ]);
  const timeZone = ctx.config.daemon.timeZone;
  const targets: TargetStatus[] = [];
  for (const target of Object.values(ctx.config.targets)) {
    const status = targetStatus(target, runs, snapshots, now, timeZone);
    if (target.type === "postgres-physical") status.pitr = await pitrWindow(repo, target.name, snapshots);
    targets.push(status);
  }
  const growth = growthPerDay(runs, now);
  const free = freeBytes ?? null;
  const report: StatusReport = {
    time: now.toISOString(),
    targets,
    repository: {
      bytes,
      freeBytes: free,
      growthBytesPerDay: growth,
      daysUntilFull: free !== null && growth !== null && growth > 0 ? Math.floor(free / growth) : null,
      snapshots: snapshots.length,
    },
    jobs: (["verify", "drill", "prune"] as const).map((name) => jobStatus(name, runs)),
  };
  return { report, runs };
}

/** The job a run record belongs to: its target, or verify / drill / prune. */
export function jobOfRun(run: RunRecord): string {
  if (run.kind === "backup" && run.target !== undefined) return run.target;
  // Older records (before drills had their own kind) tell a drill by the drills it ran.
  if (run.kind === "verify" && Number(run.details?.["drills"] ?? 0) > 0) return "drill";
  return run.kind;
}

function summarizeRun(run: RunRecord): RunSummary {
  return {
    startTime: run.startTime,
    endTime: run.endTime,
    outcome: run.outcome,
    seconds: (Date.parse(run.endTime) - Date.parse(run.startTime)) / 1000,
    ...(run.error ? { error: run.error } : {}),
  };
}

function targetStatus(
  target: TargetConfig,
  runs: RunRecord[],
  allSnapshots: SnapshotManifest[],
  now: Date,
  timeZone: string | undefined,
): TargetStatus {
  const backups = runs.filter((r) => r.kind === "backup" && r.target === target.name);
  const snapshots = allSnapshots.filter((s) => s.target === target.name);
  const newestComplete = snapshots.find((s) => s.status === "complete");
  const lastRun = backups.at(-1);
  const successes = [
    ...backups.filter((r) => r.outcome === "success").map((r) => r.endTime),
    ...(newestComplete ? [newestComplete.endTime] : []),
  ].sort();
  const lastSuccess = successes.at(-1) ?? null;
  const lastFailure = backups.filter((r) => r.outcome !== "success").at(-1);
  const lastError =
    lastFailure && (lastSuccess === null || lastFailure.endTime > lastSuccess)
      ? {
          time: lastFailure.endTime,
          code: lastFailure.error?.code ?? "E_UNKNOWN",
          message: lastFailure.error?.message ?? `backup ended ${lastFailure.outcome}`,
        }
      : null;
  const periodSeconds = schedulePeriodSeconds(target.schedule, timeZone, now);
  const ageSeconds =
    lastSuccess === null ? null : Math.max(0, Math.round((now.getTime() - Date.parse(lastSuccess)) / 1000));
  const enabled = target.enabled !== false;
  const stale =
    enabled && (ageSeconds === null || ageSeconds > periodSeconds + staleMarginSeconds(periodSeconds));
  const problems: string[] = [];
  if (enabled && lastSuccess === null) problems.push("no successful backup yet");
  if (lastError) problems.push(`last backup failed at ${lastError.time}: ${lastError.message}`);
  if (stale && ageSeconds !== null) {
    problems.push(
      `stale: last success ${formatDuration(ageSeconds)} ago, the schedule (${target.schedule}) runs at least every ${formatDuration(periodSeconds)}`,
    );
  }
  return {
    name: target.name,
    type: target.type,
    lastSuccess,
    lastSnapshot: snapshots[0]?.id ?? null,
    ageSeconds,
    stale,
    problems,
    enabled,
    schedule: target.schedule,
    periodSeconds,
    lastSnapshotStatus: snapshots[0]?.status ?? null,
    lastSnapshotBytes: snapshots[0]?.sourceBytes ?? null,
    snapshots: snapshots.length,
    lastFailure: lastFailure?.endTime ?? null,
    lastRun: lastRun ? summarizeRun(lastRun) : null,
    lastError,
  };
}

function jobStatus(name: JobStatus["name"], runs: RunRecord[]): JobStatus {
  const mine = runs.filter((r) => jobOfRun(r) === name);
  const last = mine.at(-1);
  return {
    name,
    lastRun: last ? summarizeRun(last) : null,
    lastSuccess: mine.filter((r) => r.outcome === "success").at(-1)?.endTime ?? null,
    lastFailure: mine.filter((r) => r.outcome !== "success").at(-1)?.endTime ?? null,
  };
}

/** Every object's size: chunks, manifests, WAL, history. */
async function repositoryBytes(repo: Repository): Promise<number> {
  let total = 0;
  for await (const info of repo.backend.list("")) total += info.size;
  return total;
}

/** Net bytes per day over the last week: added by backups minus reclaimed by prunes. */
function growthPerDay(runs: RunRecord[], now: Date): number | null {
  const since = now.getTime() - GROWTH_WINDOW_DAYS * DAY_MS;
  const recent = runs.filter((r) => Date.parse(r.startTime) >= since);
  if (recent.length === 0) return null;
  let net = 0;
  for (const r of recent) {
    if (r.kind === "backup") net += r.storedBytes ?? 0;
    if (r.kind === "prune") net -= r.bytes ?? 0;
  }
  // A young repository's first hours are not a trend: count at least one day.
  const spanDays = Math.max(1, (now.getTime() - Date.parse(recent[0]!.startTime)) / DAY_MS);
  return Math.round(net / spanDays);
}

async function pitrWindow(
  repo: Repository,
  target: string,
  snapshots: SnapshotManifest[],
): Promise<NonNullable<TargetStatus["pitr"]>> {
  let newest = 0;
  for await (const info of repo.backend.list(`wal/${target}/`))
    newest = Math.max(newest, info.modifiedMs ?? 0);
  const lastWalPush = newest > 0 ? new Date(newest).toISOString() : null;
  const bases = snapshots.filter((s) => s.target === target && s.status === "complete");
  return { from: bases.at(-1)?.endTime ?? null, to: lastWalPush ?? bases[0]?.endTime ?? null, lastWalPush };
}

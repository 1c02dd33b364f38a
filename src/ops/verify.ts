import type { Config } from "../config/index.js";
import type { DrillResult, EngineContext } from "../engines/engine.js";
import { engineFor } from "../engines/registry.js";
import { toPrsBackupError } from "../errors.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { forEachLimit } from "../util/concurrency.js";
import { createProgress, noProgress } from "../util/progress.js";
import { ChunkChecker, type CheckMode } from "./chunk-checker.js";
import { findTarget, lockTimeoutMs, type OpContext } from "./context.js";

export interface VerifyOptions {
  target?: string;
  snapshot?: string;
  deep: boolean;
  /** Re-read every chunk, not only new or changed ones. */
  all?: boolean;
  /** Re-read a random sample of this percentage of chunks. */
  samplePercent?: number;
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
  /** Distinct chunks checked: read back, or present and verified earlier. */
  chunksChecked: number;
  chunksRead: number;
  mode: string;
  problems: VerifyProblem[];
  drills?: DrillReport[];
  /** The human report: one ✓/✗ line per target and check. */
  report: string[];
}

const READ_CONCURRENCY = 4;
/** An incremental run re-reads a chunk verified longer ago than this. */
const RESCAN_DAYS = 30;

function checkMode(options: VerifyOptions): CheckMode {
  if (options.all) return { kind: "all" };
  if (options.samplePercent !== undefined) return { kind: "sample", percent: options.samplePercent };
  return { kind: "incremental", rescanDays: RESCAN_DAYS };
}

/**
 * Checks the selected snapshots: manifests readable, every referenced chunk present,
 * chunks read back and hash-checked as the mode says (new and changed ones by default,
 * all with --all, a sample with --sample), plus the engines' own checks. With `deep`,
 * restores the newest complete snapshot of each target into a scratch place and compares
 * it with its manifest. Writes a ✓/✗ report to the log and the run history.
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
  const startTime = new Date().toISOString();
  try {
    const mode = checkMode(options);
    const report: VerifyReport = {
      ok: true,
      checked: 0,
      chunksChecked: 0,
      chunksRead: 0,
      mode: mode.kind,
      problems: [],
      report: [],
    };
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
    const progress = createProgress({ label: "verify", logger: ctx.logger, tty: ctx.tty });
    const checker = new ChunkChecker(repo, mode, { progress });
    await checker.prepare();
    const engineCtx = engineContext(ctx, repo);
    for (const snapshot of snapshots) {
      const problems = [
        ...(await checkSnapshot(repo, snapshot, checker)),
        ...(await engineChecks(ctx.config, snapshot, engineCtx)),
      ];
      report.checked += 1;
      for (const message of problems)
        report.problems.push({ snapshot: snapshot.id, target: snapshot.target, message });
    }
    progress.done();
    report.chunksChecked = checker.checked;
    report.chunksRead = checker.read;
    await checker
      .save()
      .catch((err: unknown) =>
        ctx.logger.warn(`could not save the verify memo: ${toPrsBackupError(err).message}`),
      );
    if (options.deep) report.drills = await runDrills(ctx, repo, snapshots, options.snapshot !== undefined);
    report.ok = report.problems.length === 0 && (report.drills ?? []).every((d) => d.ok);
    report.report = reportLines(snapshots, report);
    for (const line of report.report) {
      if (line.startsWith("✗")) ctx.logger.error(line);
      else ctx.logger.info(line);
    }
    await recordVerify(repo, startTime, report, ctx, options.deep);
    return report;
  } finally {
    await lock.release();
  }
}

/** Problems in one snapshot: its entry list, then every chunk its files use. */
async function checkSnapshot(
  repo: Repository,
  snapshot: SnapshotManifest,
  checker: ChunkChecker,
): Promise<string[]> {
  const users = new Map<string, string>(); // chunk id → first path using it
  try {
    for await (const entry of repo.snapshots.entries(snapshot)) {
      if (entry.type !== "file") continue;
      for (const id of entry.chunks) if (!users.has(id)) users.set(id, entry.path);
    }
  } catch (err) {
    return [`entry list unreadable: ${toPrsBackupError(err).message}`];
  }
  for (const id of snapshot.entries.chunks) await checker.check(id);
  const problems: string[] = [];
  await forEachLimit([...users], READ_CONCURRENCY, async ([id, path]) => {
    const damage = await checker.check(id);
    if (damage) problems.push(`${damage} (used by ${path})`);
  });
  return problems;
}

async function engineChecks(
  config: Config,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<string[]> {
  const target = targetFor(config, snapshot);
  try {
    const engine = await engineFor(target);
    return (await engine.verifySnapshot?.(target, snapshot, ctx)) ?? [];
  } catch (err) {
    return [toPrsBackupError(err).message];
  }
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
      result = await (await engineFor(target)).drill(target, snapshot, engineContext(ctx, repo));
    } catch (err) {
      result = { ok: false, seconds: 0, compared: {}, problems: [toPrsBackupError(err).message] };
    }
    reports.push({ snapshot: snapshot.id, target: snapshot.target, ...result });
  }
  return reports;
}

function engineContext(ctx: OpContext, repo: Repository): EngineContext {
  return {
    repo,
    logger: ctx.logger,
    progress: noProgress,
    env: ctx.env,
    tempDirectory: ctx.config.repository.tempDirectory,
    services: ctx.config.services,
  };
}

/** One ✓/✗ line per target (integrity) and per drill, with the reason. */
function reportLines(snapshots: SnapshotManifest[], report: VerifyReport): string[] {
  const lines: string[] = [];
  const targets = [
    ...new Set([...snapshots.map((s) => s.target), ...report.problems.map((p) => p.target)]),
  ].sort();
  for (const target of targets) {
    const count = snapshots.filter((s) => s.target === target).length;
    const problems = report.problems.filter((p) => p.target === target);
    if (problems.length === 0) lines.push(`✓ ${target}: ${count} snapshot(s) intact`);
    for (const p of problems) lines.push(`✗ ${target}: snapshot ${p.snapshot}: ${p.message}`);
  }
  lines.push(`  chunks: ${report.chunksChecked} checked, ${report.chunksRead} read back (${report.mode})`);
  for (const d of report.drills ?? []) {
    const what = Object.entries(d.compared)
      .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
      .join(", ");
    lines.push(
      d.ok
        ? `✓ ${d.target}: drill of ${d.snapshot} restored and matched in ${d.seconds.toFixed(1)}s (${what})`
        : `✗ ${d.target}: drill of ${d.snapshot} failed: ${d.problems.join("; ")}`,
    );
  }
  return lines;
}

async function recordVerify(
  repo: Repository,
  startTime: string,
  report: VerifyReport,
  ctx: OpContext,
  deep: boolean,
): Promise<void> {
  try {
    await repo.history.record({
      kind: deep ? "drill" : "verify",
      startTime,
      endTime: new Date().toISOString(),
      outcome: report.ok ? "success" : "failure",
      ...(report.ok
        ? {}
        : {
            error: {
              code: "E_VERIFY_PROBLEM",
              message: report.report.filter((l) => l.startsWith("✗")).join("\n"),
            },
          }),
      details: {
        report: report.report,
        checked: report.checked,
        chunksRead: report.chunksRead,
        drills: report.drills?.length ?? 0,
      },
    });
  } catch (err) {
    ctx.logger.warn(`could not record the verification in the history: ${toPrsBackupError(err).message}`);
  }
}

/** The configured target of a snapshot, or a minimal one when the target left the config. */
function targetFor(config: Config, snapshot: SnapshotManifest) {
  return config.targets[snapshot.target] ?? { name: snapshot.target, type: snapshot.type };
}

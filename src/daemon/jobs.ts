import type { Config } from "../config/index.js";
import { OperationError, toPrsBackupError, VerifyProblemError, type PrsBackupError } from "../errors.js";
import { runBackup } from "../ops/backup.js";
import type { OpContext } from "../ops/context.js";
import { runPrune } from "../ops/prune.js";
import { runVerify } from "../ops/verify.js";
import { openRepository } from "../repo/open.js";
import type { JobKind, JobRef } from "./events.js";

/** What a job run produced. Failures are values, so the runner never sees a half-thrown job. */
export type JobResult =
  { ok: true; bytes?: number; snapshot?: string } | { ok: false; error: PrsBackupError };

/** One scheduled job: a target's backup, or a repository-wide verify, drill or prune. */
export interface JobSpec extends JobRef {
  schedule: string;
  /** Counts against `daemon.heavyJobLimit`. */
  heavy: boolean;
  run(ctx: OpContext): Promise<JobResult>;
}

/** Every job the daemon runs: each enabled target's backup, then verify, drill and prune unless "off". */
export function buildJobs(config: Config): JobSpec[] {
  const jobs: JobSpec[] = Object.values(config.targets)
    .filter((t) => t.enabled !== false)
    .map((t) => ({
      name: t.name,
      kind: "backup" as const,
      target: t.name,
      schedule: t.schedule,
      heavy: true,
      run: (ctx: OpContext) => guarded(ctx, "backup", t.name, () => backupJob(ctx, t.name)),
    }));
  const repositoryJobs: [JobKind, string, boolean, (ctx: OpContext) => Promise<JobResult>][] = [
    ["verify", config.daemon.verifySchedule, false, (ctx) => verifyJob(ctx, false)],
    ["drill", config.daemon.drillSchedule, true, (ctx) => verifyJob(ctx, true)],
    ["prune", config.daemon.pruneSchedule, true, pruneJob],
  ];
  for (const [kind, schedule, heavy, run] of repositoryJobs) {
    if (schedule === "off") continue;
    jobs.push({
      name: kind,
      kind,
      schedule,
      heavy,
      run: (ctx) => guarded(ctx, kind, undefined, () => run(ctx)),
    });
  }
  return jobs;
}

async function backupJob(ctx: OpContext, target: string): Promise<JobResult> {
  // runBackup records the run in the history itself, failures included.
  const [outcome] = await runBackup(ctx, [target]);
  if (!outcome) throw new OperationError("E_INTERNAL", `target "${target}": backup produced no outcome`);
  if (outcome.error) return { ok: false, error: outcome.error };
  return { ok: true, bytes: outcome.snapshot?.sourceBytes, snapshot: outcome.snapshot?.id };
}

async function verifyJob(ctx: OpContext, deep: boolean): Promise<JobResult> {
  const report = await runVerify(ctx, { deep });
  if (report.ok) return { ok: true };
  const failed = report.report.filter((line) => line.startsWith("✗"));
  return { ok: false, error: new VerifyProblemError(failed.join("; ") || "verification found a problem") };
}

async function pruneJob(ctx: OpContext): Promise<JobResult> {
  const report = await runPrune(ctx, { dryRun: false });
  return { ok: true, bytes: report.reclaimedBytes };
}

/**
 * Runs a job; an exception (thrown before the operation could record its run, e.g. no
 * repository or a lock timeout) becomes a failed result and is recorded here, so every
 * run is in the history.
 */
async function guarded(
  ctx: OpContext,
  kind: JobKind,
  target: string | undefined,
  run: () => Promise<JobResult>,
): Promise<JobResult> {
  const startTime = new Date().toISOString();
  try {
    return await run();
  } catch (err) {
    const error = toPrsBackupError(err);
    try {
      const repo = await openRepository(ctx.config.repository);
      await repo.history.record({
        kind,
        ...(target !== undefined ? { target } : {}),
        startTime,
        endTime: new Date().toISOString(),
        outcome: "failure",
        error: { code: error.code, message: error.message },
      });
    } catch (recordErr) {
      ctx.logger.warn(`${kind}: could not record the failed run: ${toPrsBackupError(recordErr).message}`);
    }
    return { ok: false, error };
  }
}

import type { TargetConfig } from "../config/index.js";
import { engineFor } from "../engines/registry.js";
import { OperationError, toPrsBackupError, type PrsBackupError } from "../errors.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import { SnapshotWriter } from "../repo/snapshot-writer.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { createProgress } from "../util/progress.js";
import { formatBytes, formatDuration } from "../util/format.js";
import { lockTimeoutMs, selectTargets, type OpContext } from "./context.js";

export interface BackupOutcome {
  target: string;
  /** The snapshot made (also when partial). */
  snapshot?: SnapshotManifest;
  error?: PrsBackupError;
}

/**
 * Backs up the named targets (none: every enabled one), one after another. A failing
 * target does not stop the others; each outcome says what happened.
 */
export async function runBackup(ctx: OpContext, names?: readonly string[]): Promise<BackupOutcome[]> {
  const targets = selectTargets(ctx.config, names);
  const repo = await openRepository(ctx.config.repository);
  const outcomes: BackupOutcome[] = [];
  for (const target of targets) {
    const startTime = (ctx.now?.() ?? new Date()).toISOString();
    let outcome: BackupOutcome;
    try {
      outcome = await backupTarget(ctx, repo, target);
    } catch (err) {
      const error = toPrsBackupError(err);
      ctx.logger.error(`${target.name}: backup failed: ${error.message}`);
      outcome = { target: target.name, error };
    }
    outcomes.push(outcome);
    await recordRun(ctx, repo, startTime, outcome);
  }
  return outcomes;
}

/** Adds the run to the history; a failure to record is logged, never fatal to the backup. */
async function recordRun(
  ctx: OpContext,
  repo: Repository,
  startTime: string,
  outcome: BackupOutcome,
): Promise<void> {
  const s = outcome.snapshot;
  try {
    await repo.history.record({
      kind: "backup",
      target: outcome.target,
      startTime,
      endTime: (ctx.now?.() ?? new Date()).toISOString(),
      outcome: !outcome.error ? "success" : s ? "partial" : "failure",
      ...(s ? { snapshot: s.id, bytes: s.sourceBytes, storedBytes: s.storedBytes } : {}),
      ...(outcome.error ? { error: { code: outcome.error.code, message: outcome.error.message } } : {}),
    });
  } catch (err) {
    ctx.logger.warn(
      `${outcome.target}: could not record the run in the history: ${toPrsBackupError(err).message}`,
    );
  }
}

async function backupTarget(ctx: OpContext, repo: Repository, target: TargetConfig): Promise<BackupOutcome> {
  const engine = await engineFor(target);
  const base = {
    repo,
    logger: ctx.logger,
    env: ctx.env,
    tempDirectory: ctx.config.repository.tempDirectory,
    services: ctx.config.services,
  };
  await engine.preflight(target, {
    ...base,
    progress: createProgress({ label: target.name, logger: ctx.logger }),
  });
  const lock = await repo.lock({
    exclusive: false,
    operation: `backup ${target.name}`,
    timeoutMs: lockTimeoutMs(ctx.config),
    logger: ctx.logger,
  });
  try {
    const parent = (await repo.snapshots.list(target.name))[0];
    if (await repo.upgradeFormat()) {
      ctx.logger.info(`repository upgraded to format ${repo.header.version} (packs of small chunks)`);
    }
    // Read anew under this lock, while the engine starts (a BGSAVE, a pg_dump): every
    // dedup check awaits it.
    repo.chunks.forget();
    repo.chunks.loadIndex().catch(() => undefined);
    const writer = new SnapshotWriter(repo, {
      target: target.name,
      type: target.type,
      parent: parent?.id,
      chunker: "chunking" in target ? target.chunking : undefined,
      clock: ctx.now,
    });
    const progress = createProgress({ label: `backup ${target.name}`, logger: ctx.logger, tty: ctx.tty });
    ctx.logger.info(`${target.name}: backing up${parent ? ` (parent ${parent.id})` : ""}`);
    const signal = target.timeoutSeconds ? AbortSignal.timeout(target.timeoutSeconds * 1000) : undefined;
    let manifest: SnapshotManifest;
    try {
      const result = await engine
        .backup(target, { ...base, progress, writer, parent, signal })
        .catch((err: unknown) => {
          if (!signal?.aborted) throw err;
          throw new OperationError(
            "E_TIMEOUT",
            `target "${target.name}": backup ran longer than timeoutSeconds (${target.timeoutSeconds}s) and was stopped; no snapshot was written`,
            { retryable: true, cause: err },
          );
        });
      progress.done();
      manifest = await writer.commit({
        sourceBytes: result.sourceBytes,
        metadata: result.metadata,
        status: result.status,
      });
    } catch (err) {
      await writer.abandon().catch(() => undefined);
      throw err;
    }
    const seconds = (Date.parse(manifest.endTime) - Date.parse(manifest.startTime)) / 1000;
    ctx.logger.info(
      `${target.name}: snapshot ${manifest.id} ${manifest.status}: ${formatBytes(manifest.sourceBytes)} source, ${formatBytes(manifest.storedBytes)} added, ${formatDuration(seconds)}`,
    );
    if (manifest.status !== "complete") {
      const first = manifest.problems[0];
      const error = new OperationError(
        "E_SNAPSHOT_PARTIAL",
        `target "${target.name}": snapshot ${manifest.id} is partial: ${manifest.problems.length} path(s) could not be backed up${first ? ` (first: ${first.path ?? ""}: ${first.message})` : ""}`,
      );
      return { target: target.name, snapshot: manifest, error };
    }
    return { target: target.name, snapshot: manifest };
  } finally {
    await lock.release();
  }
}

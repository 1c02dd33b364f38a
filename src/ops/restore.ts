import type { TargetConfig } from "../config/index.js";
import type { RestoreResult } from "../engines/engine.js";
import { engineFor } from "../engines/registry.js";
import { openRepository } from "../repo/open.js";
import type { SnapshotManifest } from "../repo/snapshot.js";
import { createProgress } from "../util/progress.js";
import { findTarget, lockTimeoutMs, type OpContext } from "./context.js";

export interface RestoreOptions {
  target: string;
  /** Snapshot id, unique prefix or "latest" (default). */
  snapshot?: string;
  to?: string;
  time?: string;
  lsn?: string;
  xid?: string;
  /** A restore point created with pg_create_restore_point(). */
  name?: string;
  database?: string;
  force: boolean;
  dryRun: boolean;
}

export interface RestoreOutcome extends RestoreResult {
  snapshot: SnapshotManifest;
  dryRun: boolean;
  seconds: number;
}

/** Restores one target from a snapshot (the newest complete one unless named). */
export async function runRestore(ctx: OpContext, options: RestoreOptions): Promise<RestoreOutcome> {
  const target: TargetConfig = findTarget(ctx.config, options.target);
  const engine = await engineFor(target);
  const repo = await openRepository(ctx.config.repository);
  const started = Date.now();
  const lock = await repo.lock({
    exclusive: false,
    operation: `restore ${target.name}`,
    timeoutMs: lockTimeoutMs(ctx.config),
    logger: ctx.logger,
  });
  try {
    const snapshot = await repo.snapshots.resolve(options.snapshot ?? "latest", target.name);
    ctx.logger.info(`${target.name}: restoring snapshot ${snapshot.id} from ${snapshot.startTime}`);
    const progress = createProgress({ label: `restore ${target.name}`, logger: ctx.logger, tty: ctx.tty });
    const result = await engine.restore(
      target,
      {
        snapshot,
        to: options.to,
        force: options.force,
        dryRun: options.dryRun,
        database: options.database,
        time: options.time,
        lsn: options.lsn,
        xid: options.xid,
        name: options.name,
      },
      {
        repo,
        logger: ctx.logger,
        progress,
        env: ctx.env,
        tempDirectory: ctx.config.repository.tempDirectory,
        services: ctx.config.services,
      },
    );
    progress.done();
    return { ...result, snapshot, dryRun: options.dryRun, seconds: (Date.now() - started) / 1000 };
  } finally {
    await lock.release();
  }
}

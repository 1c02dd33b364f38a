import type { TargetConfig } from "../../config/index.js";
import { toPrsBackupError } from "../../errors.js";
import type { OpContext } from "../context.js";
import { collectStatus } from "../status.js";
import { fail, type Check } from "./check.js";
import { checkClock } from "./clock.js";
import { checkFilesTarget } from "./files.js";
import { checkBackupAges, checkFreeSpace, checkRepositoryFiles } from "./repository.js";

export type { Check } from "./check.js";

/** `doctor --json`: ok when no check failed. */
export interface DoctorReport {
  ok: boolean;
  checks: Check[];
}

/**
 * The runbook's troubleshooting section as checks: per target connectivity, credentials,
 * tools and settings; the repository (writable, private, free space); the clock; the age
 * of each target's last backup. Checks run independently: one failing does not hide others.
 */
export async function runDoctor(ctx: OpContext, options: { configFile: string }): Promise<DoctorReport> {
  const checks: Check[] = [];
  for (const target of Object.values(ctx.config.targets)) {
    if (target.enabled === false) continue;
    try {
      checks.push(...(await checkTarget(target, ctx.env, options.configFile)));
    } catch (err) {
      checks.push(
        fail(target.name, "check", `doctor could not check this target: ${toPrsBackupError(err).message}`, [
          "run with --debug and report it",
        ]),
      );
    }
  }
  checks.push(...(await checkRepositoryFiles(ctx.config)));
  try {
    const { report } = await collectStatus(ctx);
    checks.push(checkFreeSpace(report));
    checks.push(...(await checkClock(report, ctx.now?.() ?? new Date())));
    checks.push(...checkBackupAges(report));
  } catch (err) {
    checks.push(
      fail("repository", "open", toPrsBackupError(err).message, [
        "prs-backup init, or correct repository.path",
      ]),
    );
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/** The checks of one target's type; pg and ioredis load only when a target needs them. */
async function checkTarget(
  target: TargetConfig,
  env: NodeJS.ProcessEnv,
  configFile: string,
): Promise<Check[]> {
  switch (target.type) {
    case "files":
      return checkFilesTarget(target);
    case "postgres":
    case "postgres-physical":
      return (await import("./postgres.js")).checkPostgresTarget(target, env, configFile);
    case "redis":
      return (await import("./redis.js")).checkRedisTarget(target, env);
  }
}

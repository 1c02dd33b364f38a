import { toPrsBackupError } from "../../errors.js";
import type { OpContext } from "../context.js";
import { collectStatus } from "../status.js";
import { fail, type Check } from "./check.js";
import { checkClock } from "./clock.js";
import { checkFilesTarget } from "./files.js";
import { checkPostgresTarget } from "./postgres.js";
import { checkRedisTarget } from "./redis.js";
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
      switch (target.type) {
        case "files":
          checks.push(...(await checkFilesTarget(target)));
          break;
        case "postgres":
        case "postgres-physical":
          checks.push(...(await checkPostgresTarget(target, ctx.env, options.configFile)));
          break;
        case "redis":
          checks.push(...(await checkRedisTarget(target, ctx.env)));
          break;
      }
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

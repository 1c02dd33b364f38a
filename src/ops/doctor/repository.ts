import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Config } from "../../config/index.js";
import { formatBytes } from "../../util/format.js";
import type { StatusReport } from "../status.js";
import { fail, pass, type Check } from "./check.js";

/** Free space below this is a ✗ whatever the trend. */
const MIN_FREE_BYTES = 1024 ** 3;
/** …and so is less than this many days of growth. */
const MIN_FREE_DAYS = 14;

/** The repository directory is writable and private (0700 folders, 0600 files). */
export async function checkRepositoryFiles(config: Config): Promise<Check[]> {
  const root = config.repository.path;
  if (root === undefined) return [pass("repository", "location", "S3 repository: file checks skipped")];
  const probe = path.join(root, `.tmp-doctor-${randomBytes(4).toString("hex")}`);
  const checks: Check[] = [];
  try {
    await fs.writeFile(probe, "probe", { mode: 0o600 });
    await fs.rm(probe);
    checks.push(pass("repository", "writable", `${root} is writable`));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    checks.push(
      code === "ENOENT"
        ? fail("repository", "writable", `${root} does not exist`, [
            `prs-backup init`,
            `or correct repository.path`,
          ])
        : fail("repository", "writable", `cannot write in ${root} (${code ?? (err as Error).message})`, [
            `run prs-backup as the repository's owner, or: chown -R root: ${root}`,
          ]),
    );
    return checks;
  }
  checks.push(await checkPermissions(root));
  return checks;
}

async function checkPermissions(root: string): Promise<Check> {
  const loose: string[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    const st = await fs.stat(dir);
    if ((st.mode & 0o077) !== 0) loose.push(`${dir} (${(st.mode & 0o777).toString(8)})`);
    if (depth === 0) return;
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await visit(full, depth - 1);
      else if (entry.isFile()) {
        const mode = (await fs.stat(full)).mode;
        if ((mode & 0o077) !== 0) loose.push(`${full} (${(mode & 0o777).toString(8)})`);
      }
    }
  };
  // The top two levels hold the header, snapshots, locks and the data folders' names.
  await visit(root, 2);
  if (loose.length === 0) return pass("repository", "permissions", "folders 0700, files 0600");
  return fail(
    "repository",
    "permissions",
    `readable by group or others: ${loose.slice(0, 3).join(", ")}${loose.length > 3 ? ` and ${loose.length - 3} more` : ""}`,
    [`chmod -R u=rwX,go= ${root}`],
  );
}

/** Enough free space for the minimum and two weeks of the current growth. */
export function checkFreeSpace(report: StatusReport): Check {
  const { freeBytes, growthBytesPerDay, daysUntilFull } = report.repository;
  if (freeBytes === null) return pass("repository", "free space", "the backend does not report free space");
  const needed = Math.max(MIN_FREE_BYTES, (growthBytesPerDay ?? 0) * MIN_FREE_DAYS);
  const trend =
    daysUntilFull === null || daysUntilFull > 3650
      ? ""
      : `, full in about ${daysUntilFull} days at the current trend`;
  if (freeBytes < needed) {
    return fail("repository", "free space", `only ${formatBytes(freeBytes)} free${trend}`, [
      "free space or grow the file system, or shorten retention and run: prs-backup prune",
    ]);
  }
  return pass(
    "repository",
    "free space",
    `${formatBytes(freeBytes)} free, ${formatBytes(report.repository.bytes)} used${trend}`,
  );
}

/** Each enabled target backed up within its period (from the status). */
export function checkBackupAges(report: StatusReport): Check[] {
  return report.targets
    .filter((t) => t.enabled)
    .map((t) =>
      t.problems.length === 0
        ? pass(
            t.name,
            "last backup",
            `last success ${t.ageSeconds}s ago, within its schedule (${t.schedule})`,
          )
        : fail(t.name, "last backup", t.problems.join("; "), [
            `prs-backup backup ${t.name}`,
            "and check that the daemon (or cron) is running: systemctl status prs-backup",
          ]),
    );
}

import { constants } from "node:fs";
import fs from "node:fs/promises";
import type { FilesTargetConfig } from "../../config/index.js";
import { fail, pass, type Check } from "./check.js";

/** Every configured path exists and can be read (folders also listed). */
export async function checkFilesTarget(target: FilesTargetConfig): Promise<Check[]> {
  const checks: Check[] = [];
  for (const [i, p] of target.paths.entries()) {
    const field = `targets.${target.name}.paths[${i}]`;
    try {
      const st = await fs.stat(p);
      await fs.access(p, st.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
      checks.push(pass(target.name, "path", `${p} is readable`));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      checks.push(
        code === "ENOENT"
          ? fail(target.name, "path", `${p} does not exist`, [`create it, or correct ${field}`])
          : fail(target.name, "path", `${p} is not readable (${code ?? (err as Error).message})`, [
              `run prs-backup as a user that can read ${p} (usually root), or fix its permissions`,
            ]),
      );
    }
  }
  return checks;
}

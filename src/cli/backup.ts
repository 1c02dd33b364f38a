import type { Command } from "commander";
import { PrsBackupError } from "../errors.js";
import { summarize } from "../repo/snapshot.js";
import { formatBytes } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

/** `backup [TARGET...]`: back up the named targets (none: all); prints each snapshot id. */
export function registerBackup(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("backup")
    .description("back up the named targets (none: all enabled); prints each snapshot id")
    .argument("[targets...]", "target names from the config")
    .action(async (targets: string[]) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { runBackup } = await import("../ops/backup.js");
      const outcomes = await runBackup(rt.opContext(config), targets);
      const made = outcomes.flatMap((o) => (o.snapshot ? [o.snapshot] : []));
      if (rt.options.json) rt.printJson(made.map(summarize));
      else {
        for (const m of made) {
          rt.print(
            `${m.id}  ${m.target}  ${m.status}  ${formatBytes(m.sourceBytes)} source, ${formatBytes(m.storedBytes)} added`,
          );
        }
      }
      const failures = outcomes.filter((o) => o.error);
      if (failures.length === 1) throw failures[0]!.error!;
      if (failures.length > 1) {
        throw new PrsBackupError(
          "E_BACKUP_FAILED",
          failures.map((f) => `${f.target}: ${f.error!.message}`).join("\n"),
          1,
        );
      }
    });
}

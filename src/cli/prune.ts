import type { Command } from "commander";
import { formatBytes } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

/** `prune [--dry-run]`: apply retention, then delete unreferenced data. */
export function registerPrune(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("prune")
    .description("apply retention, then delete data no snapshot references")
    .option("--dry-run", "print the plan (with the rule deciding each snapshot), change nothing")
    .action(async (flags: { dryRun?: boolean }) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { runPrune } = await import("../ops/prune.js");
      const report = await runPrune(rt.opContext(config), { dryRun: flags.dryRun === true });
      if (rt.options.json) return rt.printJson(report);
      for (const p of report.plan) {
        rt.print(
          `${p.keep ? "keep  " : "delete"} ${p.id}  ${p.target.padEnd(14)} ${p.startTime.slice(0, 19).replace("T", " ")}  ${p.status.padEnd(8)}  ${p.reasons.join("; ")}`,
        );
      }
      const verb = report.dryRun ? "would delete" : "deleted";
      rt.print(
        `${verb} ${report.deleted.length} snapshot(s), kept ${report.kept.length}; ${report.dryRun ? "would reclaim" : "reclaimed"} ${formatBytes(report.reclaimedBytes)} in ${report.chunksDeleted} chunk(s)${report.walFilesDeleted ? ` and ${report.walFilesDeleted} WAL file(s)` : ""}`,
      );
    });
}

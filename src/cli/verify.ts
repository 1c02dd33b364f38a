import type { Command } from "commander";
import { VerifyProblemError } from "../errors.js";
import { runVerify } from "../ops/verify.js";
import type { CommandRuntime } from "./io.js";

/** `verify [TARGET] [--snapshot ID] [--deep]`: exit 3 when anything is damaged. */
export function registerVerify(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("verify")
    .description("check every referenced chunk; with --deep, restore-drill each target's newest snapshot")
    .argument("[target]", "only this target's snapshots")
    .option("--snapshot <id>", "only this snapshot")
    .option("--deep", "restore into a scratch place and compare with the manifest")
    .action(async (target: string | undefined, flags: { snapshot?: string; deep?: boolean }) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const report = await runVerify(rt.opContext(config), {
        target,
        snapshot: flags.snapshot,
        deep: flags.deep === true,
      });
      if (rt.options.json) rt.printJson(report);
      else {
        rt.print(`checked ${report.checked} snapshot(s), ${report.chunksChecked} chunk(s)`);
        for (const p of report.problems) rt.print(`✗ ${p.target} ${p.snapshot}: ${p.message}`);
        for (const d of report.drills ?? []) {
          rt.print(
            `${d.ok ? "✓" : "✗"} drill ${d.target} ${d.snapshot} (${d.seconds.toFixed(1)}s): ${JSON.stringify(d.compared)}${d.problems.length ? ` — ${d.problems.join("; ")}` : ""}`,
          );
        }
        if (report.ok) rt.print("ok");
      }
      if (!report.ok) {
        const damaged = [...new Set(report.problems.map((p) => p.snapshot))];
        const failedDrills = (report.drills ?? []).filter((d) => !d.ok).map((d) => d.snapshot);
        throw new VerifyProblemError(
          [
            damaged.length ? `damaged snapshot(s): ${damaged.join(", ")}` : "",
            failedDrills.length ? `failed drill(s): ${failedDrills.join(", ")}` : "",
          ]
            .filter(Boolean)
            .join("; "),
        );
      }
    });
}

import { type Command, InvalidArgumentError } from "commander";
import { VerifyProblemError } from "../errors.js";
import type { CommandRuntime } from "./io.js";

interface VerifyFlags {
  snapshot?: string;
  deep?: boolean;
  all?: boolean;
  sample?: number;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100)
    throw new InvalidArgumentError("must be a number in (0, 100]");
  return n;
}

/** `verify [TARGET] [--snapshot ID] [--deep] [--all] [--sample PERCENT]`: exit 3 when anything is wrong. */
export function registerVerify(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("verify")
    .description("check snapshots and their chunks; with --deep, restore-drill each target's newest snapshot")
    .argument("[target]", "only this target's snapshots")
    .option("--snapshot <id>", "only this snapshot")
    .option("--deep", "restore into a scratch place and compare with the manifest")
    .option("--all", "re-read every chunk (default: only chunks new, changed, or last read over 30 days ago)")
    .option("--sample <percent>", "re-read a random sample of chunks", percent)
    .action(async (target: string | undefined, flags: VerifyFlags) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { runVerify } = await import("../ops/verify.js");
      const report = await runVerify(rt.opContext(config), {
        target,
        snapshot: flags.snapshot,
        deep: flags.deep === true,
        all: flags.all === true,
        samplePercent: flags.sample,
      });
      if (rt.options.json) rt.printJson(report);
      else rt.print(report.report.join("\n"));
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

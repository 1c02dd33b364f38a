import type { Command } from "commander";
import { OperationError } from "../errors.js";
import type { CommandRuntime } from "./io.js";

/** `doctor`: preflight checks, one ✓/✗ line each with the fix; exit 1 when anything is ✗. */
export function registerDoctor(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("doctor")
    .description("preflight checks: connectivity, versions, settings, permissions, disk space, backup ages")
    .action(async () => {
      const rt = runtime();
      const { file, config } = await rt.loadConfig();
      const { runDoctor } = await import("../ops/doctor/index.js");
      const report = await runDoctor(rt.opContext(config), { configFile: file });
      if (rt.options.json) rt.printJson(report);
      else {
        for (const c of report.checks) {
          rt.print(`${c.ok ? "✓" : "✗"} ${c.scope}: ${c.name}: ${c.message}`);
          for (const line of c.fix ?? []) rt.print(`    fix: ${line}`);
        }
      }
      const failed = report.checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        throw new OperationError(
          "E_DOCTOR",
          `${failed.length} check(s) failed (first: ${failed[0]!.scope}: ${failed[0]!.message})`,
        );
      }
    });
}

import type { Command } from "commander";
import { findTarget } from "../ops/context.js";
import { summarize } from "../repo/snapshot.js";
import { formatBytes } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

/** `list [TARGET]`: snapshots, newest first. */
export function registerList(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("list")
    .description("list snapshots, newest first")
    .argument("[target]", "only this target's snapshots")
    .action(async (target?: string) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      if (target !== undefined) findTarget(config, target);
      const { openRepository } = await import("../repo/open.js");
      const repo = await openRepository(config.repository);
      const damaged = (id: string): void =>
        rt.logger.warn(`snapshot ${id}: manifest unreadable; run \`prs-backup verify\``);
      const snapshots = (await repo.snapshots.list(target, damaged)).map(summarize);
      if (rt.options.json) return rt.printJson(snapshots);
      if (snapshots.length === 0) return rt.print("no snapshots");
      rt.print(
        ["ID                TARGET          STATUS    STARTED (UTC)         SOURCE      ADDED"].join(""),
      );
      for (const s of snapshots) {
        rt.print(
          `${s.id}  ${s.target.padEnd(14)}  ${s.status.padEnd(8)}  ${s.startTime.slice(0, 19).replace("T", " ")}   ${formatBytes(s.sourceBytes).padStart(10)}  ${formatBytes(s.storedBytes).padStart(10)}`,
        );
      }
    });
}

import type { Command } from "commander";
import { summarize } from "../repo/snapshot.js";
import { formatBytes } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

/** `show SNAPSHOT`: one snapshot's manifest summary. */
export function registerShow(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("show")
    .description("one snapshot's manifest summary")
    .argument("<snapshot>", "snapshot id, unique prefix, or latest")
    .action(async (ref: string) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { openRepository } = await import("../repo/open.js");
      const repo = await openRepository(config.repository);
      const m = await repo.snapshots.resolve(ref);
      const view = {
        ...summarize(m),
        host: m.host,
        parent: m.parent ?? null,
        entries: m.entries.count,
        problems: m.problems,
        metadata: m.metadata,
        tool: m.tool,
      };
      if (rt.options.json) return rt.printJson(view);
      const lines = [
        `snapshot ${m.id}`,
        `  target:   ${m.target} (${m.type})`,
        `  status:   ${m.status}`,
        `  started:  ${m.startTime}`,
        `  ended:    ${m.endTime}`,
        `  host:     ${m.host}`,
        `  parent:   ${m.parent ?? "-"}`,
        `  source:   ${formatBytes(m.sourceBytes)} in ${m.entries.count} entries`,
        `  added:    ${formatBytes(m.storedBytes)}`,
        ...Object.entries(m.metadata).map(
          ([k, v]) => `  ${`${k}:`.padEnd(10)}${typeof v === "string" ? v : JSON.stringify(v)}`,
        ),
        ...m.problems.map((p) => `  problem:  ${p.path ? `${p.path}: ` : ""}${p.message}`),
      ];
      rt.print(lines.join("\n"));
    });
}

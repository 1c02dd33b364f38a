import type { Command } from "commander";
import type { StatusReport } from "../ops/status.js";
import { formatBytes, formatDuration } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

/** `status`: per target last success, age against the schedule, problems; repository size and trend. */
export function registerStatus(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("status")
    .description(
      "per target: last success, age against its schedule, problems; repository size and free space",
    )
    .action(async () => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { collectStatus } = await import("../ops/status.js");
      const { report } = await collectStatus(rt.opContext(config));
      if (rt.options.json) return rt.printJson(report);
      rt.print(renderStatus(report));
    });
}

/** The human-readable status: one line per target, its problems indented, then the repository. */
export function renderStatus(report: StatusReport): string {
  const lines: string[] = [];
  for (const t of report.targets) {
    const mark = !t.enabled ? "-" : t.problems.length === 0 ? "✓" : "✗";
    const age = t.ageSeconds === null ? "never" : `${formatDuration(t.ageSeconds)} ago`;
    lines.push(
      `${mark} ${t.name.padEnd(14)} ${t.type.padEnd(17)} last success ${age.padEnd(12)} every ${formatDuration(t.periodSeconds).padEnd(7)} ${t.lastSnapshot ?? "no snapshot"}${t.enabled ? "" : " (disabled)"}`,
    );
    if (t.pitr) lines.push(`    point-in-time window: ${t.pitr.from ?? "none"} → ${t.pitr.to ?? "none"}`);
    for (const p of t.problems) lines.push(`    ${p}`);
  }
  for (const j of report.jobs) {
    const last = j.lastRun;
    lines.push(
      `${last === null ? "-" : last.outcome === "success" ? "✓" : "✗"} ${j.name.padEnd(14)} ${last ? `last run ${last.outcome} at ${last.endTime}` : "never run"}`,
    );
    if (last?.error) lines.push(`    ${last.error.message.split("\n")[0]}`);
  }
  const r = report.repository;
  const trend =
    r.growthBytesPerDay === null
      ? "no growth data yet"
      : `growing ${formatBytes(r.growthBytesPerDay)}/day${r.daysUntilFull === null || r.daysUntilFull > 3650 ? "" : `, full in about ${r.daysUntilFull} days`}`;
  lines.push(
    `repository: ${formatBytes(r.bytes)} in ${r.snapshots} snapshot(s), ${r.freeBytes === null ? "free space unknown" : `${formatBytes(r.freeBytes)} free`}; ${trend}`,
  );
  return lines.join("\n");
}

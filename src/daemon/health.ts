import type { StatusReport } from "../ops/status.js";
import type { DaemonState } from "./events.js";

/** The body of /healthz. */
export interface Health {
  ok: boolean;
  state: DaemonState;
  time: string;
  problems: { target: string; problem: string }[];
}

/**
 * Healthy when the daemon is running and every enabled target is fresh and its last
 * backup succeeded; repository-wide jobs (verify, drill, prune) count too when their last
 * run failed.
 */
export function evaluateHealth(report: StatusReport, state: DaemonState): Health {
  const problems: Health["problems"] = [];
  if (state !== "running") problems.push({ target: "daemon", problem: `the daemon is ${state}` });
  for (const t of report.targets) {
    if (!t.enabled) continue;
    for (const problem of t.problems) problems.push({ target: t.name, problem });
  }
  for (const j of report.jobs) {
    if (j.lastRun && j.lastRun.outcome !== "success") {
      problems.push({
        target: j.name,
        problem: `last ${j.name} failed: ${j.lastRun.error?.message ?? j.lastRun.outcome}`,
      });
    }
  }
  return { ok: problems.length === 0, state, time: report.time, problems };
}

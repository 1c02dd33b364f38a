import { runCommand } from "../../util/subprocess.js";
import type { StatusReport } from "../status.js";
import { fail, pass, type Check } from "./check.js";

/** Snapshots or runs this far in the future mean the clock went back. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * The clock: not behind the newest recorded run (it went backwards, which breaks
 * retention by age and staleness), and synchronised by NTP where systemd can tell.
 */
export async function checkClock(report: StatusReport, now: Date): Promise<Check[]> {
  const checks: Check[] = [];
  const newest = [
    ...report.targets.map((t) => t.lastRun?.endTime),
    ...report.jobs.map((j) => j.lastRun?.endTime),
  ]
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
  if (newest !== undefined && Date.parse(newest) - now.getTime() > FUTURE_TOLERANCE_MS) {
    checks.push(
      fail(
        "system",
        "clock",
        `the clock (${now.toISOString()}) is behind the newest recorded run (${newest})`,
        ["set the time right: timedatectl set-ntp true (or chrony/ntpd)"],
      ),
    );
  } else {
    checks.push(pass("system", "clock", `${now.toISOString()}, not behind the run history`));
  }
  try {
    const r = await runCommand(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], {
      timeoutMs: 5000,
    });
    const value = r.stdout.trim();
    if (r.exitCode === 0 && value === "no") {
      checks.push(fail("system", "ntp", "the clock is not synchronised (NTP)", ["timedatectl set-ntp true"]));
    } else if (r.exitCode === 0 && value === "yes") {
      checks.push(pass("system", "ntp", "the clock is synchronised (NTP)"));
    }
  } catch {
    // No timedatectl (containers, non-systemd hosts): nothing to ask.
  }
  return checks;
}

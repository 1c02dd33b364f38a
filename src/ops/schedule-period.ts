import { Cron } from "croner";

/** How many upcoming runs are looked at to find a schedule's longest gap. */
const LOOKAHEAD_RUNS = 16;

/**
 * The longest gap in seconds between consecutive runs of a cron schedule over its next
 * runs: 86400 for "0 2 * * *", 21600 for "0 *\/6 * * *", 1 for "* * * * * *". The longest,
 * not the first, gap, so "0 6 * * 1-5" is not called stale over a weekend.
 */
export function schedulePeriodSeconds(pattern: string, timeZone?: string, from = new Date()): number {
  const job = new Cron(pattern, { paused: true, ...(timeZone ? { timezone: timeZone } : {}) });
  try {
    const runs = job.nextRuns(LOOKAHEAD_RUNS, from).map((d) => d.getTime());
    let longest = 0;
    for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i]! - runs[i - 1]!);
    return Math.max(1, Math.round(longest / 1000));
  } finally {
    job.stop();
  }
}

/**
 * How late a job may be before it counts as stale: a quarter of its period, at least five
 * minutes (a backup takes time, a scrape comes late) and at most six hours (a daily backup
 * missing for 30 hours is news).
 */
export function staleMarginSeconds(periodSeconds: number): number {
  return Math.min(Math.max(periodSeconds / 4, 300), 6 * 3600);
}

/** The next run of a schedule after `from`, or undefined when it never runs again. */
export function nextRun(pattern: string, timeZone?: string, from = new Date()): Date | undefined {
  const job = new Cron(pattern, { paused: true, ...(timeZone ? { timezone: timeZone } : {}) });
  try {
    return job.nextRun(from) ?? undefined;
  } finally {
    job.stop();
  }
}

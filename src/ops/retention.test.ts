import { describe, expect, it } from "vitest";
import { applyRetention, type RetentionCandidate, type RetentionPolicy } from "./retention.js";

const NOW = new Date("2026-11-24T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Snapshots every `step` ms going back from NOW, ids s0 (newest), s1, … */
function series(
  count: number,
  step: number,
  status: RetentionCandidate["status"] = "complete",
): RetentionCandidate[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `s${i}`,
    startTime: new Date(NOW.getTime() - i * step - 60_000).toISOString(),
    status,
  }));
}

function kept(snaps: RetentionCandidate[], policy: RetentionPolicy, latestBackupFailed = false): string[] {
  return applyRetention(snaps, policy, { now: NOW, latestBackupFailed })
    .filter((d) => d.keep)
    .map((d) => d.id);
}

describe("applyRetention", () => {
  it("keepLast 2 of 4 keeps the two newest and names the rule for each", () => {
    const decisions = applyRetention(series(4, DAY), { keepLast: 2 }, { now: NOW });
    expect(decisions.map((d) => [d.id, d.keep])).toEqual([
      ["s0", true],
      ["s1", true],
      ["s2", false],
      ["s3", false],
    ]);
    expect(decisions[0]!.reasons).toEqual(["newest good snapshot", "last 2"]);
    expect(decisions[2]!.reasons[0]).toMatch(/kept by no rule \(keepLast: 2\)/);
  });

  it("orders by start time, not by id or input order", () => {
    const snaps: RetentionCandidate[] = [
      { id: "zzz-old", startTime: "2026-11-01T00:00:00Z", status: "complete" },
      { id: "aaa-new", startTime: "2026-11-20T00:00:00Z", status: "complete" },
      { id: "mmm-mid", startTime: "2026-11-10T00:00:00Z", status: "complete" },
    ];
    expect(kept(snaps, { keepLast: 1 })).toEqual(["aaa-new"]);
    expect(kept(snaps, { keepLast: 2 })).toEqual(["aaa-new", "mmm-mid"]);
  });

  it("age limits keep what is younger than days/weeks", () => {
    const snaps = series(40, DAY);
    expect(kept(snaps, { days: 30 })).toHaveLength(30);
    expect(kept(snaps, { weeks: 2 })).toHaveLength(14);
    expect(kept(snaps, { days: 0 })).toEqual(["s0"]);
  });

  it("never deletes the only good snapshot, even when everything is older than the limit", () => {
    const snaps = series(3, 100 * DAY);
    expect(kept(snaps, { days: 30 })).toEqual(["s0"]);
    const old = [{ id: "only", startTime: "2020-01-01T00:00:00Z", status: "complete" as const }];
    expect(kept(old, { days: 1 })).toEqual(["only"]);
  });

  it("keeps everything while the latest backup is failing", () => {
    const snaps = series(10, 40 * DAY);
    expect(kept(snaps, { days: 30 }, true)).toHaveLength(10);
    const d = applyRetention(snaps, { days: 30 }, { now: NOW, latestBackupFailed: true });
    expect(d[9]!.reasons).toContain("held: the latest backup failed");
  });

  it("partial snapshots are not good: not counted, not the newest good, kept only when newer than it", () => {
    const snaps: RetentionCandidate[] = [
      { id: "p-newest", startTime: "2026-11-24T10:00:00Z", status: "partial" },
      { id: "good", startTime: "2026-11-23T10:00:00Z", status: "complete" },
      { id: "p-old", startTime: "2026-11-22T10:00:00Z", status: "partial" },
      { id: "good-old", startTime: "2026-11-21T10:00:00Z", status: "complete" },
    ];
    expect(kept(snaps, { keepLast: 1 })).toEqual(["p-newest", "good"]);
    expect(kept(snaps, { keepLast: 2 })).toEqual(["p-newest", "good", "good-old"]);
    const onlyPartial = series(3, DAY, "partial");
    expect(kept(onlyPartial, { keepLast: 1 })).toEqual(["s0", "s1", "s2"]);
  });

  it("keepDaily keeps the newest snapshot of each of the last N days that have one", () => {
    const snaps = series(72, HOUR); // three days of hourly snapshots
    const daily = kept(snaps, { keepDaily: 2 });
    expect(daily).toHaveLength(2);
    const decisions = applyRetention(snaps, { keepDaily: 2 }, { now: NOW });
    const days = decisions.filter((d) => d.keep).map((d) => d.startTime.slice(0, 10));
    expect(new Set(days).size).toBe(2);
    expect(daily[0]).toBe("s0");
  });

  it("keepHourly, keepWeekly, keepMonthly and keepYearly bucket by hour, ISO week, month and year", () => {
    expect(kept(series(10, 20 * 60_000), { keepHourly: 2 })).toHaveLength(2);
    expect(kept(series(60, DAY), { keepWeekly: 3 })).toHaveLength(3);
    expect(kept(series(400, DAY), { keepMonthly: 6 })).toHaveLength(6);
    expect(kept(series(1200, DAY), { keepYearly: 3 })).toHaveLength(3);
    expect(kept(series(5, 365 * DAY), { keepYearly: 10 })).toHaveLength(5);
  });

  it("keeps a snapshot when any rule keeps it (rules combine as a union)", () => {
    const snaps = series(50, DAY);
    const union = kept(snaps, { days: 7, keepLast: 10, keepWeekly: 4 });
    const separately = new Set([
      ...kept(snaps, { days: 7 }),
      ...kept(snaps, { keepLast: 10 }),
      ...kept(snaps, { keepWeekly: 4 }),
    ]);
    expect(new Set(union)).toEqual(separately);
  });

  it("handles no snapshots and empty policies", () => {
    expect(applyRetention([], { days: 1 }, { now: NOW })).toEqual([]);
    expect(kept(series(3, DAY), {})).toEqual(["s0"]);
  });

  it("is exhaustive over small cases: the newest good is always kept and keepLast never keeps more than N good ones", () => {
    for (let mask = 0; mask < 1 << 6; mask++) {
      const snaps = series(6, DAY).map((s, i) => ({
        ...s,
        status: mask & (1 << i) ? ("partial" as const) : ("complete" as const),
      }));
      for (const n of [1, 2, 3]) {
        const decisions = applyRetention(snaps, { keepLast: n }, { now: NOW });
        const newestGood = snaps.find((s) => s.status === "complete");
        if (newestGood) expect(decisions.find((d) => d.id === newestGood.id)!.keep).toBe(true);
        const keptGood = decisions.filter(
          (d) => d.keep && snaps.find((s) => s.id === d.id)!.status === "complete",
        );
        expect(keptGood.length).toBeLessThanOrEqual(Math.max(n, 1));
        expect(decisions.every((d) => d.reasons.length > 0)).toBe(true);
      }
    }
  });
});

import { describe, expect, it } from "vitest";
import { chooseTimeline, historyTimeline, parseHistory, type HistoryEntry } from "./timelines.js";
import { parseLsn } from "./wal-names.js";

const h = (...lines: [number, string][]): HistoryEntry[] =>
  lines.map(([parent, lsn]) => ({ parent, switchLsn: parseLsn(lsn) }));

describe("timeline history", () => {
  it("parses PostgreSQL's history files, comments and blank lines included", () => {
    const text =
      "1\t0/3000160\tbefore 2026-11-25 00:50:00+00\n\n# a comment\n2\t0/5000000\tno recovery target specified\n";
    expect(parseHistory(text)).toEqual(h([1, "0/3000160"], [2, "0/5000000"]));
    expect(() => parseHistory("garbage")).toThrow(/not a timeline history line/);
    expect(historyTimeline("0000000A.history")).toBe(10);
    expect(historyTimeline("000000010000000000000003")).toBeUndefined();
  });

  it("keeps `latest` when the newest timeline descends from the base backup after it ended", () => {
    const histories = new Map([
      [2, h([1, "0/9000000"])],
      [3, h([1, "0/9000000"], [2, "0/A000000"])],
    ]);
    expect(chooseTimeline({ timeline: 1, stopLsn: parseLsn("0/8000000") }, histories)).toEqual({
      setting: "latest",
    });
    expect(chooseTimeline({ timeline: 2, stopLsn: parseLsn("0/9800000") }, histories)).toEqual({
      setting: "latest",
    });
    expect(chooseTimeline({ timeline: 1, stopLsn: parseLsn("0/1000000") }, new Map())).toEqual({
      setting: "latest",
    });
  });

  it("names the base backup's own branch when the newest timeline forked off before the backup ended", () => {
    // Timelines 2 and 3 forked off timeline 1 at 0/5000000; timeline 1 went on, and was backed up later.
    const histories = new Map([
      [2, h([1, "0/5000000"])],
      [3, h([1, "0/5000000"], [2, "0/6000000"])],
    ]);
    const choice = chooseTimeline({ timeline: 1, stopLsn: parseLsn("0/7000000") }, histories);
    expect(choice.setting).toBe("1");
    expect(choice.note).toMatch(
      /timeline 3 in the archive forked off timeline 1 before this base backup ended/,
    );
    // A base backup on timeline 2 still reaches neither 3 (forked before it ended) nor 1: it stays on 2.
    expect(chooseTimeline({ timeline: 2, stopLsn: parseLsn("0/6800000") }, histories).setting).toBe("2");
  });
});

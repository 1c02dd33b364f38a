import { isHistoryName, parseLsn } from "./wal-names.js";

/** One line of a timeline history file: the timeline was left for the next at `switchLsn`. */
export interface HistoryEntry {
  parent: number;
  switchLsn: bigint;
}

/**
 * Parses a `.history` file: one line per ancestor timeline, `<timeline>\t<switch LSN>\t<reason>`,
 * oldest first; blank lines and `#` comments are ignored (as PostgreSQL does).
 */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [tli, lsn] = line.split(/\s+/);
    if (!tli || !lsn || !/^\d+$/.test(tli))
      throw new Error(`not a timeline history line: ${JSON.stringify(line)}`);
    out.push({ parent: Number(tli), switchLsn: parseLsn(lsn) });
  }
  return out;
}

/** What `recovery_target_timeline` to use, and why when it is not `latest`. */
export interface TimelineChoice {
  setting: string;
  note?: string;
}

/**
 * The timeline recovery should follow from a base backup on `timeline` that ends at `stopLsn`.
 * PostgreSQL's `latest` picks the newest timeline in the archive and refuses to start ("requested
 * timeline N is not a child of this server's history") when that timeline forked off the base
 * backup's timeline before the backup ended — say an abandoned PITR copy archived into the same
 * place while production went on. Then the newest timeline that the base backup does lead to is
 * named instead. `histories` maps timeline → its parsed history file.
 */
export function chooseTimeline(
  base: { timeline: number; stopLsn: bigint },
  histories: ReadonlyMap<number, readonly HistoryEntry[]>,
): TimelineChoice {
  const reachable = (tli: number): boolean => {
    if (tli === base.timeline) return true;
    const left = histories.get(tli)?.find((e) => e.parent === base.timeline);
    return left !== undefined && left.switchLsn >= base.stopLsn;
  };
  const newest = Math.max(base.timeline, ...histories.keys());
  if (reachable(newest)) return { setting: "latest" };
  const best = Math.max(...[base.timeline, ...histories.keys()].filter(reachable));
  return {
    setting: String(best),
    note: `timeline ${newest} in the archive forked off timeline ${base.timeline} before this base backup ended, so recovery follows timeline ${best} (recovery_target_timeline = '${best}')`,
  };
}

/** Timeline of a `.history` file name. */
export function historyTimeline(name: string): number | undefined {
  return isHistoryName(name) ? parseInt(name.slice(0, 8), 16) : undefined;
}

import type { SnapshotManifest } from "../../repo/snapshot.js";
import type { BaseBackupMetadata } from "./target.js";
import { isSegmentName, parseSegmentName, segmentName } from "./wal-names.js";

/**
 * Checks the archive for what a base backup needs: every segment from its start to its
 * stop on its timeline, and no gap between its start and the newest archived segment of
 * its timeline and of every later timeline. Returns problems naming the missing files.
 */
export function checkWalChain(snapshot: SnapshotManifest, archived: readonly string[]): string[] {
  const meta = snapshot.metadata as unknown as Partial<BaseBackupMetadata>;
  if (!meta.startWal || !meta.stopWal || meta.timeline === undefined)
    return [`snapshot ${snapshot.id}: no WAL range in its metadata`];
  const start = parseSegmentName(meta.startWal)!;
  const stop = parseSegmentName(meta.stopWal)!;
  const byTimeline = new Map<number, bigint[]>();
  for (const name of archived) {
    if (!isSegmentName(name)) continue;
    const pos = parseSegmentName(name)!;
    if (pos.timeline < meta.timeline || pos.segno < start.segno) continue;
    const list = byTimeline.get(pos.timeline) ?? [];
    list.push(pos.segno);
    byTimeline.set(pos.timeline, list);
  }
  const problems: string[] = [];
  const own = new Set(byTimeline.get(meta.timeline) ?? []);
  const missingOwn: string[] = [];
  for (let s = start.segno; s <= stop.segno; s++)
    if (!own.has(s)) missingOwn.push(segmentName({ timeline: meta.timeline, segno: s }));
  if (missingOwn.length > 0)
    problems.push(
      `snapshot ${snapshot.id}: WAL needed to make the base backup consistent is missing: ${summarize(missingOwn)}`,
    );
  for (const [timeline, segnos] of [...byTimeline].sort((a, b) => a[0] - b[0])) {
    const sorted = [...new Set(segnos)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const from = timeline === meta.timeline ? start.segno : sorted[0]!;
    const have = new Set(sorted);
    const gaps: string[] = [];
    for (let s = from; s <= sorted.at(-1)!; s++)
      if (!have.has(s)) gaps.push(segmentName({ timeline, segno: s }));
    if (gaps.length > 0 && timeline !== meta.timeline)
      problems.push(`WAL archive: gap on timeline ${timeline}: ${summarize(gaps)} missing`);
    else if (gaps.length > missingOwn.length)
      problems.push(
        `WAL archive: gap on timeline ${timeline} after snapshot ${snapshot.id}: ${summarize(gaps.filter((g) => !missingOwn.includes(g)))} missing`,
      );
  }
  return problems;
}

function summarize(names: string[]): string {
  return names.length <= 3 ? names.join(", ") : `${names[0]} … ${names.at(-1)} (${names.length} files)`;
}

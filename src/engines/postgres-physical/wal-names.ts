/**
 * WAL file names and positions (16 MiB segments, the default). A segment name is
 * `TTTTTTTTXXXXXXXXYYYYYYYY`: timeline, then the segment number split in "log" and
 * "seg" parts of 256 segments each (for 16 MiB segments).
 */

/** Segments per "log" id for the default 16 MiB segment size. */
const SEGMENTS_PER_LOG = 0x100n;
const SEGMENT_BYTES = 16n * 1024n * 1024n;

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
/** Every file name PostgreSQL archives: segments, partial segments, history and backup-history files. */
const ARCHIVABLE = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/** True for a name `wal push` and `wal fetch` accept (no paths, nothing else). */
export function isArchivableName(name: string): boolean {
  return ARCHIVABLE.test(name);
}

/** True for a complete WAL segment name (24 hex digits). */
export function isSegmentName(name: string): boolean {
  return SEGMENT.test(name);
}

export function isHistoryName(name: string): boolean {
  return /^[0-9A-F]{8}\.history$/.test(name);
}

/** A segment's timeline and absolute segment number. */
export interface SegmentPos {
  timeline: number;
  segno: bigint;
}

/** Parses the segment part of a name (also of `.partial` and `.backup` names); undefined for others. */
export function parseSegmentName(name: string): SegmentPos | undefined {
  const m = SEGMENT.exec(name.slice(0, 24));
  if (!m) return undefined;
  return {
    timeline: parseInt(m[1]!, 16),
    segno: BigInt(`0x${m[2]!}`) * SEGMENTS_PER_LOG + BigInt(`0x${m[3]!}`),
  };
}

/** The segment name of a position. */
export function segmentName(pos: SegmentPos): string {
  const hex = (n: bigint | number): string => n.toString(16).toUpperCase().padStart(8, "0");
  return `${hex(pos.timeline)}${hex(pos.segno / SEGMENTS_PER_LOG)}${hex(pos.segno % SEGMENTS_PER_LOG)}`;
}

/** Parses an LSN such as `0/2000028` into a byte position. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`invalid LSN "${lsn}"`);
  return (BigInt(`0x${m[1]!}`) << 32n) + BigInt(`0x${m[2]!}`);
}

/** The segment number holding byte position `lsn`. */
export function segnoOfLsn(lsn: bigint): bigint {
  return lsn / SEGMENT_BYTES;
}

/**
 * The segment holding the last byte before `lsn` — the last segment a backup that
 * ended at `lsn` needs (an end LSN at a segment boundary needs nothing of the next one).
 */
export function lastSegnoBefore(lsn: bigint): bigint {
  return lsn === 0n ? 0n : (lsn - 1n) / SEGMENT_BYTES;
}

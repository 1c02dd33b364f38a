/**
 * The snapshot manifest and the entries it lists. Documented for humans in
 * docs/repository-format.md; keep the two in step.
 */

/** Target types, as in the configuration. */
export type TargetType = "files" | "postgres" | "postgres-physical" | "redis";

/** complete: every source entry is in the snapshot. partial: some could not be read (see problems). */
export type SnapshotStatus = "complete" | "partial";

interface EntryBase {
  /** Absolute source path (files) or a name inside the snapshot (dumps). */
  path: string;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string. */
  mtimeNs: string;
}

export interface FileEntry extends EntryBase {
  type: "file";
  size: number;
  /** Chunk ids in order; the file is their concatenation. */
  chunks: string[];
  /**
   * SHA-256 of the whole file, hex. Absent for a database dump and a base backup's tar:
   * hashing a 100 GB stream a second time costs a tenth of the backup's CPU, and every
   * chunk is verified by its id anyway (see docs/repository-format.md).
   */
  sha256?: string;
  /** Change detection against the next snapshot's source (files engine only). */
  ino?: string;
  ctimeNs?: string;
}

export interface DirEntry extends EntryBase {
  type: "dir";
}

export interface SymlinkEntry extends EntryBase {
  type: "symlink";
  target: string;
}

export type Entry = FileEntry | DirEntry | SymlinkEntry;

export interface SnapshotProblem {
  path?: string;
  message: string;
}

export interface SnapshotManifest {
  formatVersion: 1;
  id: string;
  target: string;
  type: TargetType;
  status: SnapshotStatus;
  /** ISO 8601 UTC. */
  startTime: string;
  endTime: string;
  host: string;
  /** The snapshot this one reused unchanged files from. */
  parent?: string;
  /** Size of the source the snapshot holds (all file contents, dump size), unchanged parts included. */
  sourceBytes: number;
  /** Bytes this snapshot added to the repository (new compressed chunks, entries included). */
  storedBytes: number;
  /** Entries as newline-delimited JSON, stored as chunks like file data. */
  entries: { count: number; chunks: string[] };
  problems: SnapshotProblem[];
  /** Engine metadata: counts, versions, LSNs… */
  metadata: Record<string, unknown>;
  tool: { name: string; version: string };
}

/** The summary of a snapshot that `list --json` and `backup --json` print (DESIGN.md). */
export interface SnapshotSummary {
  id: string;
  target: string;
  type: TargetType;
  startTime: string;
  endTime: string;
  sourceBytes: number;
  storedBytes: number;
  status: SnapshotStatus;
}

export function summarize(m: SnapshotManifest): SnapshotSummary {
  return {
    id: m.id,
    target: m.target,
    type: m.type,
    startTime: m.startTime,
    endTime: m.endTime,
    sourceBytes: m.sourceBytes,
    storedBytes: m.storedBytes,
    status: m.status,
  };
}

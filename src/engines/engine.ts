import type { Repository } from "../repo/repository.js";
import type { SnapshotWriter } from "../repo/snapshot-writer.js";
import type { SnapshotManifest, SnapshotStatus, TargetType } from "../repo/snapshot.js";
import type { Logger } from "../util/logger.js";
import type { Progress } from "../util/progress.js";

/** What every engine is given about its target: the validated config entry. */
export interface TargetSpec {
  name: string;
  type: TargetType;
}

export interface EngineContext {
  repo: Repository;
  logger: Logger;
  progress: Progress;
  env: NodeJS.ProcessEnv;
  /** Where scratch files and drill instances go (default: the OS temp dir). */
  tempDirectory?: string;
  /** Commands (argv arrays) that stop and start the application around an in-place restore. */
  services?: { readonly stop?: readonly string[]; readonly start?: readonly string[] };
  signal?: AbortSignal;
}

export interface BackupContext extends EngineContext {
  writer: SnapshotWriter;
  /** The target's newest earlier snapshot, for change detection. */
  parent?: SnapshotManifest;
}

export interface BackupResult {
  status: SnapshotStatus;
  sourceBytes: number;
  metadata: Record<string, unknown>;
}

export interface RestoreRequest {
  snapshot: SnapshotManifest;
  to?: string;
  force: boolean;
  dryRun: boolean;
  database?: string;
  /** Point-in-time targets (postgres-physical): at most one of time, lsn, xid, name. */
  time?: string;
  lsn?: string;
  xid?: string;
  name?: string;
}

/** One step of a restore plan, printed by --dry-run and reported after a restore. */
export interface RestoreStep {
  action: string;
  detail: string;
}

export interface RestoreResult {
  /** Where the data went. */
  location: string;
  steps: RestoreStep[];
  entries: number;
  bytes: number;
  /** Live data moved aside instead of being replaced; never deleted. */
  movedAside: string[];
  notes: string[];
}

export interface DrillResult {
  ok: boolean;
  seconds: number;
  /** What was compared with the manifest (e.g. `{files: 120, bytes: 4096}`). */
  compared: Record<string, unknown>;
  problems: string[];
}

/** The code for one target type: live source → snapshot → live source, and a drill. */
export interface Engine<T extends TargetSpec = TargetSpec> {
  readonly type: TargetType;
  /** Checks that runs before any data is written, so bad input changes nothing. */
  preflight(target: T, ctx: EngineContext): Promise<void>;
  backup(target: T, ctx: BackupContext): Promise<BackupResult>;
  restore(target: T, request: RestoreRequest, ctx: EngineContext): Promise<RestoreResult>;
  /**
   * Engine-specific integrity checks of a stored snapshot beyond chunk hashes (WAL
   * continuity, pg_verifybackup, redis-check-rdb). Returns problems; empty when fine.
   */
  verifySnapshot?(target: T, snapshot: SnapshotManifest, ctx: EngineContext): Promise<string[]>;
  /** Restores into a scratch place and compares with what the manifest recorded. */
  drill(target: T, snapshot: SnapshotManifest, ctx: EngineContext): Promise<DrillResult>;
}

import type { PostgresPhysicalTargetConfig } from "../../config/index.js";

/** A postgres-physical target as the engine uses it (the validated config entry). */
export type PhysicalTarget = PostgresPhysicalTargetConfig;

/** What a base backup records in its manifest's metadata. */
export interface BaseBackupMetadata {
  systemIdentifier: string;
  pgVersion: string;
  pgVersionNum: number;
  dataChecksums: boolean;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** First and last WAL segment the backup needs (on `timeline`). */
  startWal: string;
  stopWal: string;
  /** When PostgreSQL started and we saw the backup end (ISO 8601 UTC). */
  startTime: string;
  stopTime: string;
  /** Owner of the data directory, restored onto the restored one. */
  owner: { uid: number; gid: number };
  backupLabel: string;
  tarBytes: number;
  members: number;
  walConfirmed: boolean;
  /** How the data directory was read: copied directly, or streamed by pg_basebackup. */
  method: "direct" | "pg_basebackup";
}

/** The snapshot's entry names. */
export const BASE_TAR = "/base.tar";
export const BACKUP_MANIFEST = "/backup_manifest";

import { createHash } from "node:crypto";

export interface ManifestFile {
  path: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/**
 * A backup_manifest in PostgreSQL's format (version 1), for a base backup taken without
 * pg_basebackup, so that pg_verifybackup checks a restored copy the same way: every file
 * present with its size, nothing extra. Files carry no checksum (pg_verifybackup then
 * checks sizes only): their content is checked by the repository, chunk by chunk, against
 * SHA-256 ids. The last line's checksum covers everything before it, as pg_verifybackup expects.
 */
export function backupManifest(
  files: readonly ManifestFile[],
  wal: { timeline: number; startLsn: string; endLsn: string },
): Buffer {
  const lines = files.map(
    (f) =>
      `{ "Path": ${JSON.stringify(f.path)}, "Size": ${f.size}, "Last-Modified": "${manifestTime(f.mtime)}" }`,
  );
  const body =
    `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${lines.join(",\n")}\n],\n` +
    `"WAL-Ranges": [\n{ "Timeline": ${wal.timeline}, "Start-LSN": "${wal.startLsn}", "End-LSN": "${wal.endLsn}" }\n],\n`;
  const checksum = createHash("sha256").update(body).digest("hex");
  return Buffer.from(`${body}"Manifest-Checksum": "${checksum}"}\n`, "utf8");
}

/** "2026-11-25 07:01:02 GMT", as PostgreSQL writes Last-Modified. */
function manifestTime(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")} GMT`;
}

import fs from "node:fs/promises";
import path from "node:path";
import type { PhysicalTarget } from "./target.js";

type Query = <R extends Record<string, unknown>>(sql: string) => Promise<R[]>;

/**
 * Why a base backup cannot copy the data directory directly (undefined when it can): the
 * server must be a primary whose data directory is `dataDirectory` on this machine —
 * checked by its setting and by the system identifier in global/pg_control, so a
 * standby's or a copy's directory is never taken for the server's — and the role must be
 * allowed to run pg_backup_start. Used by backups (method auto/direct) and by doctor.
 */
export async function whyNotDirect(target: PhysicalTarget, query: Query): Promise<string | undefined> {
  if (target.method === "pg_basebackup") return "method: pg_basebackup";
  const [row] = await query<{
    standby: boolean;
    dir: string | null;
    sysid: string;
    allowed: boolean;
  }>(
    `SELECT pg_is_in_recovery() AS standby,
            (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS dir,
            (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            CASE WHEN current_setting('server_version_num')::int >= 150000
                 THEN has_function_privilege('pg_backup_start(text, boolean)', 'EXECUTE')
                 ELSE has_function_privilege('pg_start_backup(text, boolean, boolean)', 'EXECUTE') END AS allowed`,
  );
  if (!row) return "the server returned nothing";
  if (row.standby) return "the server is a standby";
  if (!row.allowed) return `${target.connection.user} may not run pg_backup_start`;
  if (!row.dir) return `${target.connection.user} cannot read the data_directory setting`;
  const [ours, theirs] = await Promise.all([
    fs.realpath(target.dataDirectory).catch(() => undefined),
    fs.realpath(row.dir).catch(() => undefined),
  ]);
  if (ours === undefined) return `${target.dataDirectory} cannot be read here`;
  if (ours !== theirs) return `the server's data directory is ${row.dir}, not ${target.dataDirectory}`;
  const control = await fs.readFile(path.join(ours, "global", "pg_control")).catch(() => undefined);
  if (!control || control.length < 8) return `${ours}/global/pg_control cannot be read here`;
  if (control.readBigUInt64LE(0).toString() !== row.sysid) {
    return `${ours} holds another database system than the server's ${row.sysid}`;
  }
  return undefined;
}

/** What lets a role copy the data directory directly (for doctor's fix lines). */
export function directGrants(user: string): string[] {
  return [
    `GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO "${user}";`,
    `GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO "${user}";`,
    `GRANT pg_read_all_settings TO "${user}";`,
    "and run prs-backup as root or as the server's OS user, on the server's machine",
  ];
}

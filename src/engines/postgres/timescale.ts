import type pg from "pg";
import { UserError } from "../../errors.js";

/** The TimescaleDB version a snapshot was taken with, or undefined when it does not use TimescaleDB. */
export function timescaleVersionOf(metadata: Record<string, unknown>): string | undefined {
  const extensions = (metadata.extensions as { name: string; version: string }[] | undefined) ?? [];
  return extensions.find((e) => e.name === "timescaledb")?.version;
}

/**
 * TimescaleDB's documented logical-restore procedure, as SQL run around pg_restore:
 * the same extension version is created in the new database first, then
 * `timescaledb_pre_restore()` stops its background workers and puts it in restore mode;
 * after pg_restore, `timescaledb_post_restore()` turns that off again.
 */
export function timescaleSteps(version: string): { before: string[]; after: string[] } {
  const literal = `'${version.replace(/'/g, "''")}'`;
  return {
    before: [
      `CREATE EXTENSION IF NOT EXISTS timescaledb VERSION ${literal}`,
      "SELECT timescaledb_pre_restore()",
    ],
    after: ["SELECT timescaledb_post_restore()"],
  };
}

/** Fails with a clear line unless the server can install exactly this TimescaleDB version. */
export async function checkTimescaleAvailable(
  client: pg.Client,
  version: string,
  where: string,
): Promise<void> {
  const r = await client.query<{ version: string }>(
    "SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb' ORDER BY version",
  );
  const available = r.rows.map((row) => row.version);
  if (available.includes(version)) return;
  throw new UserError(
    "E_PG_TIMESCALEDB_MISSING",
    `the snapshot uses TimescaleDB ${version}, but ${where} ${
      available.length > 0 ? `offers only ${available.join(", ")}` : "does not have TimescaleDB installed"
    }: install timescaledb ${version} there (and add it to shared_preload_libraries) before restoring`,
  );
}

/** pg_restore notices that TimescaleDB's documentation says to expect; they are not errors. */
export function isExpectedTimescaleNotice(line: string): boolean {
  return (
    /circular foreign-key constraints|hypertable|_timescaledb_catalog/i.test(line) && !/^.*error:/i.test(line)
  );
}

import type pg from "pg";
import { quoteIdent } from "./connection.js";

/** What a backup records about the database, read inside the dump's snapshot. */
export interface DatabaseInventory {
  serverVersion: string;
  serverVersionNum: number;
  database: string;
  databaseBytes: number;
  encoding: string;
  collate: string;
  ctype: string;
  /** The database's owner role. */
  owner: string;
  superuser: boolean;
  extensions: { name: string; version: string }[];
}

/** Reads versions, size, encoding and extensions (the caller's transaction, if any, applies). */
export async function readInventory(client: pg.Client): Promise<DatabaseInventory> {
  const info = await client.query<{
    server_version: string;
    server_version_num: string;
    database: string;
    bytes: string;
    encoding: string;
    collate: string;
    ctype: string;
    owner: string;
    superuser: boolean;
  }>(
    `SELECT current_setting('server_version') AS server_version,
            current_setting('server_version_num') AS server_version_num,
            d.datname AS database, pg_database_size(d.oid) AS bytes,
            pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
            pg_get_userbyid(d.datdba) AS owner,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const row = info.rows[0]!;
  const extensions = await client.query<{ name: string; version: string }>(
    "SELECT extname AS name, extversion AS version FROM pg_extension ORDER BY extname",
  );
  return {
    serverVersion: row.server_version,
    serverVersionNum: Number(row.server_version_num),
    database: row.database,
    databaseBytes: Number(row.bytes),
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
    owner: row.owner,
    superuser: row.superuser,
    extensions: extensions.rows,
  };
}

/**
 * The ordinary tables whose rows pg_dump dumps: user schemas, not members of an extension.
 * Partitions and inheritance children are listed on their own (each holds its own rows).
 */
export async function listTables(client: pg.Client): Promise<{ schema: string; name: string }[]> {
  const result = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        AND n.nspname NOT LIKE 'pg_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  return result.rows;
}

/**
 * Exact row counts per table (`schema.table` → rows), each counted with `FROM ONLY` so
 * parents and partitions do not count each other's rows — the same rows pg_dump copies.
 */
export async function countRows(client: pg.Client): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of await listTables(client)) counts[tableKey(t.schema, t.name)] = await countTable(client, t);
  return counts;
}

/** Exact rows of one table, its partitions and inheritance children left out. */
export async function countTable(client: pg.Client, t: { schema: string; name: string }): Promise<number> {
  const r = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
  );
  return Number(r.rows[0]!.n);
}

/** The name a table has in the manifest's `tables` map. */
export function tableKey(schema: string, name: string): string {
  return `${schema}.${name}`;
}

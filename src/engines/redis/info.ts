import type { Redis } from "ioredis";

/** One `INFO` section as `field → value` (strings as Redis prints them). */
export type InfoFields = Record<string, string>;

/** Runs `INFO <section>` and parses its `field:value` lines. */
export async function readInfo(client: Redis, section: string): Promise<InfoFields> {
  const text = await client.info(section);
  const fields: InfoFields = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Keys and keys with a TTL, per logical database (`db0`, `db3` …). */
export type Keyspace = Record<string, { keys: number; expires: number }>;

/** Parses `INFO keyspace` (`db0:keys=2,expires=1,avg_ttl=99694`). */
export function parseKeyspace(fields: InfoFields): Keyspace {
  const out: Keyspace = {};
  for (const [db, value] of Object.entries(fields)) {
    if (!/^db\d+$/.test(db)) continue;
    const parts = Object.fromEntries(value.split(",").map((kv) => kv.split("=") as [string, string]));
    out[db] = { keys: Number(parts.keys ?? 0), expires: Number(parts.expires ?? 0) };
  }
  return out;
}

/** Total keys over every database. */
export function totalKeys(keyspace: Keyspace): number {
  return Object.values(keyspace).reduce((sum, db) => sum + db.keys, 0);
}

/** An INFO field as a number; undefined when the server does not report it (older versions). */
export function numberField(fields: InfoFields, name: string): number | undefined {
  const value = fields[name];
  return value === undefined || value === "" ? undefined : Number(value);
}

/**
 * The PostgreSQL part of the demo: a throwaway cluster with a small PRS-like database is
 * backed up through the real CLI, changed, restored into a new database, and the restored
 * tables are compared with the source as it was at backup time (ordered per-table digests).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { parse, stringify } from "yaml";
import { ScratchCluster } from "../src/engines/postgres/scratch-cluster.js";

const PASSWORD_ENV = "PRS_DEMO_DB_PASSWORD";
const DATABASE = "prs_production";
const RESTORED = "prs_production_restored";

const SCHEMA = `
CREATE ROLE prs_app LOGIN PASSWORD 'demo-app';
CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, name text);
CREATE TABLE requisitions (id serial PRIMARY KEY, user_id bigint REFERENCES users(id), status text NOT NULL,
  amount numeric(12,2), details jsonb, attachment bytea, created_at timestamptz);
CREATE INDEX ON requisitions (status);
CREATE VIEW open_requisitions AS SELECT id, amount FROM requisitions WHERE status = 'open';
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO prs_app;
INSERT INTO users (email, name) SELECT 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 1000) g;
INSERT INTO requisitions (user_id, status, amount, details, attachment, created_at)
  SELECT 1 + g % 1000, (ARRAY['open','approved','rejected'])[1 + g % 3], (g * 37 % 100000) / 100.0,
         jsonb_build_object('items', g % 9, 'note', repeat('office supplies ', 1 + g % 12)),
         decode(md5(g::text), 'hex'), '2026-01-01'::timestamptz + g * interval '10 minutes'
    FROM generate_series(1, 50000) g;`;

const CHANGES = `
UPDATE requisitions SET status = 'approved' WHERE status = 'open' AND id % 5 = 0;
DELETE FROM requisitions WHERE id > 49900;
INSERT INTO users (email, name) VALUES ('late@example.com', 'Added after the backup');`;

/** `table → rows:md5 of all rows in order`, for every table of the public schema. */
async function digests(cluster: ScratchCluster, database: string): Promise<Map<string, string>> {
  const rows = await cluster.query<{ t: string; d: string }>(
    `SELECT 'users' AS t, count(*) || ':' || md5(string_agg(u::text, ',' ORDER BY u.id)) AS d FROM users u
     UNION ALL
     SELECT 'requisitions', count(*) || ':' || md5(string_agg(r::text, ',' ORDER BY r.id)) FROM requisitions r`,
    [],
    database,
  );
  return new Map(rows.map((r) => [r.t, r.d]));
}

function same(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Adds (or replaces) the `database` target in the demo's config file. */
async function addTarget(config: string, port: number): Promise<void> {
  const doc = parse(await fs.readFile(config, "utf8")) as { targets?: Record<string, unknown> };
  doc.targets = {
    ...doc.targets,
    database: {
      type: "postgres",
      connection: {
        host: "127.0.0.1",
        port,
        user: "postgres",
        database: DATABASE,
        passwordEnv: PASSWORD_ENV,
      },
      binDir: "/usr/lib/postgresql/15/bin",
    },
  };
  await fs.writeFile(config, stringify(doc));
}

/**
 * Runs the PostgreSQL demo in `dir` (which holds the demo's `prs-backup.yaml`), calling the CLI
 * through `cli`; returns summary lines. The scratch cluster is removed before it returns.
 */
export async function demoPostgres(opts: {
  dir: string;
  cli: (args: string[]) => { out: string; seconds: number };
}): Promise<string[]> {
  const password = "demo-secret";
  process.env[PASSWORD_ENV] = password;
  const cluster = await ScratchCluster.start({
    tempDirectory: opts.dir,
    password,
    settings: { fsync: "off" },
  });
  try {
    await cluster.query(`CREATE DATABASE ${DATABASE}`);
    await cluster.query(SCHEMA, [], DATABASE);
    await addTarget(path.join(opts.dir, "prs-backup.yaml"), cluster.port);
    const atBackup = await digests(cluster, DATABASE);

    const backup = opts.cli(["backup", "database", "--json"]);
    const [snap] = JSON.parse(backup.out) as { id: string; sourceBytes: number; storedBytes: number }[];
    const again = opts.cli(["backup", "database", "--json"]);
    const [snap2] = JSON.parse(again.out) as { storedBytes: number; sourceBytes: number }[];
    await cluster.query(CHANGES, [], DATABASE);
    const changed = await digests(cluster, DATABASE);

    const restore = opts.cli(["restore", "database", "--snapshot", snap!.id, "--database", RESTORED]);
    const restored = await digests(cluster, RESTORED);
    const refused = (() => {
      try {
        opts.cli(["restore", "database", "--snapshot", snap!.id, "--database", RESTORED]);
        return false;
      } catch {
        return true;
      }
    })();
    const ok = same(restored, atBackup) && !same(restored, changed) && refused;
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    return [
      `postgres: backup of ${DATABASE} (1,000 users, 50,000 requisitions): snapshot ${snap!.id}, ${mb(snap!.sourceBytes)} dump, ${mb(snap!.storedBytes)} stored, ${backup.seconds.toFixed(2)}s`,
      `postgres: second backup, unchanged: ${mb(snap2!.storedBytes)} stored (${((100 * snap2!.storedBytes) / snap2!.sourceBytes).toFixed(1)}% of the dump), ${again.seconds.toFixed(2)}s`,
      `postgres: changed the source (updates, deletes, an insert), restored the first snapshot into ${RESTORED} in ${restore.seconds.toFixed(2)}s`,
      ...[...atBackup.keys()].map(
        (t) =>
          `postgres:   ${t.padEnd(13)} at backup ${atBackup.get(t)!.split(":")[0]!.padStart(6)} rows, restored ${restored.get(t)?.split(":")[0]?.padStart(6) ?? "missing"} rows, digest ${restored.get(t) === atBackup.get(t) ? "identical" : "DIFFERENT"}; source now ${changed.get(t)!.split(":")[0]} rows`,
      ),
      `postgres: restoring over the existing ${RESTORED} without --force was ${refused ? "refused" : "NOT refused"}`,
      `postgres: ${ok ? "restored database identical to the source at backup time" : "POSTGRES DEMO FAILED"}`,
    ];
  } finally {
    await cluster.close();
  }
}

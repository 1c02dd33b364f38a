import pg from "pg";
import { ScratchCluster } from "../../src/engines/postgres/scratch-cluster.js";

/** Where the PostgreSQL 15 programs live on these machines. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A throwaway source server with password authentication over TCP. */
export async function startSource(password: string): Promise<ScratchCluster> {
  return ScratchCluster.start({ password, settings: { fsync: "off", synchronous_commit: "off" } });
}

/**
 * A small PRS-like schema: tables with indexes, a view, a function, sequences, jsonb,
 * bytea, numeric, timestamps, NULLs, a partitioned table and grants to two roles.
 */
export const SAMPLE_SCHEMA = `
CREATE ROLE prs_reader LOGIN PASSWORD 'reader-pw';
CREATE ROLE prs_app LOGIN PASSWORD 'app-pw';
GRANT prs_reader TO prs_app;
CREATE SCHEMA app;
CREATE TABLE app.users (
  id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, name text, created_at timestamptz NOT NULL DEFAULT '2026-01-01');
CREATE TABLE app.requisitions (
  id serial PRIMARY KEY, user_id bigint REFERENCES app.users(id), status text NOT NULL,
  amount numeric(12,2), details jsonb, attachment bytea, created_at timestamptz);
CREATE INDEX requisitions_status ON app.requisitions (status);
CREATE INDEX requisitions_details ON app.requisitions USING gin (details);
CREATE SEQUENCE app.invoice_no START 1000;
CREATE TABLE app.audit_log (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, message text) PARTITION BY RANGE (at);
CREATE TABLE app.audit_log_2026_01 PARTITION OF app.audit_log FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE app.audit_log_2026_02 PARTITION OF app.audit_log FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
CREATE VIEW app.open_requisitions AS SELECT r.id, u.email, r.amount FROM app.requisitions r JOIN app.users u ON u.id = r.user_id WHERE r.status = 'open';
CREATE FUNCTION app.total_open() RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(amount), 0) FROM app.requisitions WHERE status = 'open' $$;
GRANT USAGE ON SCHEMA app TO prs_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO prs_reader;
GRANT INSERT, UPDATE ON app.requisitions TO prs_app;
INSERT INTO app.users (email, name) SELECT 'user' || g || '@example.com', CASE WHEN g % 7 = 0 THEN NULL ELSE 'User ' || g END FROM generate_series(1, 500) g;
INSERT INTO app.requisitions (user_id, status, amount, details, attachment, created_at)
  SELECT 1 + g % 500, (ARRAY['open','approved','rejected'])[1 + g % 3], (g * 37 % 100000) / 100.0,
         jsonb_build_object('items', g % 9, 'note', repeat('lorem ipsum ', g % 20), 'tags', jsonb_build_array('a', g)),
         decode(md5(g::text), 'hex'), '2026-01-01'::timestamptz + g * interval '1 hour'
    FROM generate_series(1, 20000) g;
INSERT INTO app.audit_log (at, message) SELECT '2026-01-01'::date + (g % 59), 'event ' || g FROM generate_series(1, 3000) g;
SELECT setval('app.invoice_no', 1234);
`;

/** Per-table digests of every user table (rows in a fixed order) plus sequence values and definitions. */
export async function digestDatabase(config: pg.ClientConfig): Promise<Record<string, string>> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    const out: Record<string, string> = {};
    const tables = await client.query<{ s: string; t: string }>(
      `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2`,
    );
    for (const { s, t } of tables.rows) {
      const q = `"${s}"."${t}"`;
      const r = await client.query<{ n: string; d: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(x::text, E'\\n' ORDER BY x::text)) AS d FROM ONLY ${q} x`,
      );
      out[`table ${s}.${t}`] = `${r.rows[0]!.n}:${r.rows[0]!.d ?? ""}`;
    }
    const seqs = await client.query<{ name: string; v: string | null }>(
      "SELECT schemaname || '.' || sequencename AS name, last_value::text AS v FROM pg_sequences ORDER BY 1",
    );
    for (const s of seqs.rows) out[`sequence ${s.name}`] = s.v ?? "null";
    const defs = await client.query<{ k: string; d: string }>(
      `SELECT 'view ' || viewname AS k, definition AS d FROM pg_views WHERE schemaname = 'app'
       UNION ALL SELECT 'function ' || proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'
       UNION ALL SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = 'app'
       UNION ALL SELECT 'grants ' || table_name, string_agg(grantee || ':' || privilege_type, ',' ORDER BY grantee, privilege_type)
                   FROM information_schema.role_table_grants WHERE table_schema = 'app' GROUP BY table_name`,
    );
    for (const d of defs.rows) out[d.k] = d.d;
    return out;
  } finally {
    await client.end();
  }
}

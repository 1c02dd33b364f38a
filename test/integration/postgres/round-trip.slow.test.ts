import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countRows } from "../../../src/engines/postgres/inventory.js";
import type { ScratchCluster } from "../../../src/engines/postgres/scratch-cluster.js";
import { expectOneErrorLine, type SnapshotJson, type VerifyJson } from "../../helpers/cli.js";
import { digestDatabase, PG_BIN, SAMPLE_SCHEMA, startSource } from "../../helpers/postgres.js";
import { PASSWORD_ENV, pgWorkspace, type PgWorkspace } from "./support.js";

const PASSWORD = "s3cret pw'with\"quotes";
const env = { [PASSWORD_ENV]: PASSWORD };

let source: ScratchCluster;
let ws: PgWorkspace;
let first: SnapshotJson;
let atBackup: Record<string, string>;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  source = await startSource(PASSWORD);
  cleanups.push(() => source.close());
  await source.query("CREATE DATABASE prs_test");
  await source.query(SAMPLE_SCHEMA, [], "prs_test");
  ws = await pgWorkspace({ port: source.port, database: "prs_test" }, env);
  cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
  expect((await ws.run(["init"])).exitCode).toBe(0);
  atBackup = await digestDatabase(source.connection("prs_test"));
  const backup = await ws.run(["backup", "database", "--json"]);
  expect(backup.exitCode, backup.stderr).toBe(0);
  first = backup.json<SnapshotJson[]>()[0]!;
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("postgres target: backup → change → restore --database into a new database", () => {
  it("records versions, extensions and exact row counts per table in the manifest", async () => {
    expect(first).toMatchObject({ target: "database", type: "postgres", status: "complete" });
    const shown = (await ws.run(["show", first.id, "--json"])).json<{ metadata: Record<string, unknown> }>();
    expect(shown.metadata).toMatchObject({
      format: "custom",
      database: "prs_test",
      serverVersion: expect.stringMatching(/^15\./) as unknown,
      pgDumpVersion: expect.stringMatching(/^15\./) as unknown,
      extensions: [{ name: "plpgsql", version: "1.0" }],
      tables: {
        "app.users": 500,
        "app.requisitions": 20000,
        "app.audit_log_2026_01": 1580,
        "app.audit_log_2026_02": 1420,
      },
      totalRows: 23500,
      rowCountSource: "dump",
    });
    expect(shown.metadata.roles).toEqual(expect.arrayContaining(["postgres", "prs_app", "prs_reader"]));
    expect(JSON.stringify(shown)).not.toContain(PASSWORD);
  });

  it("restores content identical to the backup although the source changed, and brings back a dropped role", async () => {
    await source.query(
      `UPDATE app.requisitions SET status = 'closed' WHERE id % 10 = 0;
       DELETE FROM app.users WHERE id > 490 AND NOT EXISTS (SELECT 1 FROM app.requisitions r WHERE r.user_id = app.users.id);
       INSERT INTO app.audit_log (at, message) VALUES ('2026-02-03', 'after backup');
       SELECT nextval('app.invoice_no');
       DROP OWNED BY prs_app, prs_reader; DROP ROLE prs_app; DROP ROLE prs_reader;`,
      [],
      "prs_test",
    );
    expect(await digestDatabase(source.connection("prs_test"))).not.toEqual(atBackup);

    const restore = await ws.run(["restore", "database", "--database", "prs_restored"]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    // The data went through two pg_restore sessions, both with a share of it.
    const [, a, b] =
      /pg_restore in 2 sessions: .*data [\d.]+s \((\d+)% \+ (\d+)%\)/.exec(restore.stderr) ?? [];
    expect(Math.min(Number(a), Number(b))).toBeGreaterThan(10);
    expect(restore.stdout).toMatch(/created roles: .*prs_app/);
    expect(restore.stdout).toMatch(/left unchanged: postgres/);
    const restored = await digestDatabase(source.connection("prs_restored"));
    expect(restored).toEqual(atBackup);
    const [role] = await source.query<{ login: boolean; member: boolean }>(
      "SELECT rolcanlogin AS login, pg_has_role('prs_app', 'prs_reader', 'MEMBER') AS member FROM pg_roles WHERE rolname = 'prs_app'",
    );
    expect(role).toEqual({ login: true, member: true });
    const [fn] = await source.query<{ total: string }>(
      "SELECT app.total_open()::text AS total",
      [],
      "prs_restored",
    );
    expect(Number(fn!.total)).toBeGreaterThan(0);
  });

  it("refuses to restore over an existing database without --force, and changes nothing", async () => {
    const before = await digestDatabase(source.connection("prs_restored"));
    const again = await ws.run(["restore", "database", "--database", "prs_restored"]);
    expect(again.exitCode).toBe(1);
    expect(expectOneErrorLine(again.stderr)).toMatch(/database prs_restored already exists.*--force/);
    const inPlace = await ws.run(["restore", "database"]);
    expect(inPlace.exitCode).toBe(1);
    expect(expectOneErrorLine(inPlace.stderr)).toMatch(/in place replaces database prs_test: add --force/);
    expect(await digestDatabase(source.connection("prs_restored"))).toEqual(before);
    const dbs = await source.query<{ datname: string }>("SELECT datname FROM pg_database ORDER BY 1");
    expect(dbs.map((d) => d.datname)).toEqual([
      "postgres",
      "prs_restored",
      "prs_test",
      "template0",
      "template1",
    ]);
  });

  it("stores under 20% of the source for a second backup of unchanged data", async () => {
    const second = (await ws.run(["backup", "database", "--json"])).json<SnapshotJson[]>()[0]!;
    const third = (await ws.run(["backup", "database", "--json"])).json<SnapshotJson[]>()[0]!;
    expect(third.sourceBytes).toBe(second.sourceBytes);
    expect(third.storedBytes / third.sourceBytes).toBeLessThan(0.2);
  });

  it("verify --deep restores into a scratch cluster and compares row counts with the manifest", async () => {
    const r = await ws.run(["verify", "database", "--snapshot", first.id, "--deep", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = r.json<VerifyJson>();
    expect(report.ok).toBe(true);
    const drill = report.drills?.find((d) => d.snapshot === first.id);
    expect(drill).toMatchObject({ target: "database", ok: true, compared: { tables: 4, rows: 23500 } });
  });

  it("in place with --force: stops services, keeps the old database renamed, restores (pg_restore -j2 from a spool), starts services", async () => {
    const marks = path.join(ws.dir, "services.log");
    const inPlace = await pgWorkspace(
      {
        port: source.port,
        database: "prs_test",
        jobs: 2,
        services: {
          stop: ["sh", "-c", `echo stop >> ${marks}`],
          start: ["sh", "-c", `echo start >> ${marks}`],
        },
      },
      env,
    );
    cleanups.push(() => fs.rm(inPlace.dir, { recursive: true, force: true }));
    // Same repository: point the new config at the first workspace's repository.
    const text = await fs.readFile(inPlace.config, "utf8");
    await fs.writeFile(inPlace.config, text.replace(/path: .*\/repo/, `path: ${path.join(ws.dir, "repo")}`));
    const changed = await digestDatabase(source.connection("prs_test"));
    const dry = await inPlace.run(["restore", "database", "--snapshot", first.id, "--force", "--dry-run"]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/plan: keep-database rename prs_test → prs_test_before_\d{8}_\d{6}/);
    const r = await inPlace.run(["restore", "database", "--snapshot", first.id, "--force"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await fs.readFile(marks, "utf8")).toBe("stop\nstart\n");
    expect(await digestDatabase(source.connection("prs_test"))).toEqual(atBackup);
    const kept = /DROP DATABASE "(prs_test_before_\d{8}_\d{6})"/.exec(r.stdout)?.[1];
    expect(kept, r.stdout).toBeDefined();
    expect(await digestDatabase(source.connection(kept))).toEqual(changed);
    expect(r.stderr).toMatch(/spooled the \d+-byte dump for pg_restore -j/);
    expect((await fs.readdir(inPlace.dir)).filter((f) => f.startsWith("prs-backup-pg-"))).toEqual([]);
  });
});

describe("postgres target: failures give one line, exit 1 and no snapshot", () => {
  async function snapshotCount(): Promise<number> {
    return (await ws.run(["list", "--json"])).json<unknown[]>().length;
  }

  it("wrong password", async () => {
    const before = await snapshotCount();
    const r = await ws.run(["backup", "database"], { [PASSWORD_ENV]: "wrong" });
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/authentication failed.*targets\.database\.connection/);
    expect(r.stderr).not.toContain(PASSWORD);
    expect(await snapshotCount()).toBe(before);
  });

  it("unreachable server", async () => {
    const closed = await pgWorkspace({ port: 1, database: "prs_test" }, env);
    cleanups.push(() => fs.rm(closed.dir, { recursive: true, force: true }));
    await closed.run(["init"]);
    const r = await closed.run(["backup", "database"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(
      /cannot connect to PostgreSQL at 127\.0\.0\.1:1 .*targets\.database\.connection/,
    );
    expect((await closed.run(["list", "--json"])).json<unknown[]>()).toEqual([]);
  });

  it("missing database", async () => {
    const missing = await pgWorkspace({ port: source.port, database: "no_such_db" }, env);
    cleanups.push(() => fs.rm(missing.dir, { recursive: true, force: true }));
    await missing.run(["init"]);
    const r = await missing.run(["backup", "database"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/database "no_such_db" does not exist/);
  });
});

describe("postgres target: tools", () => {
  /** A binDir whose programs wrap the real ones; `dump` is the pg_dump script's body after `--version`. */
  async function fakeBin(dir: string, versionLine: string | undefined, dump: string): Promise<string> {
    const bin = path.join(dir, "bin");
    await fs.mkdir(bin);
    const version = versionLine ? `echo "${versionLine}"` : `exec ${PG_BIN}/pg_dump --version`;
    const script = `#!/bin/sh\nif [ "$1" = "--version" ]; then ${version}; exit 0; fi\n${dump}\n`;
    await fs.writeFile(path.join(bin, "pg_dump"), script, { mode: 0o755 });
    for (const tool of ["pg_dumpall", "pg_restore", "psql"]) {
      await fs.writeFile(path.join(bin, tool), `#!/bin/sh\nexec ${PG_BIN}/${tool} "$@"\n`, { mode: 0o755 });
    }
    return bin;
  }

  async function workspaceWith(options: Partial<Parameters<typeof pgWorkspace>[0]>): Promise<PgWorkspace> {
    const w = await pgWorkspace({ port: source.port, database: "prs_test", ...options }, env);
    cleanups.push(() => fs.rm(w.dir, { recursive: true, force: true }));
    expect((await w.run(["init"])).exitCode).toBe(0);
    return w;
  }

  it("a pg_dump killed halfway leaves no snapshot and one clear line", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-fake-"));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const bin = await fakeBin(dir, undefined, `${PG_BIN}/pg_dump "$@" | head -c 200000\nkill -9 $$`);
    const w = await workspaceWith({ binDir: bin });
    const r = await w.run(["backup", "database"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/pg_dump .*failed \(killed by SIGKILL\).*no snapshot/);
    expect((await w.run(["list", "--json"])).json<unknown[]>()).toEqual([]);
  });

  it("a dump whose rows cannot be counted as it streams is counted with count(*) in the dump's snapshot", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-fake-"));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    // A compressed archive: the counter cannot see its rows.
    const bin = await fakeBin(dir, undefined, `exec ${PG_BIN}/pg_dump "$@" --compress=1`);
    const w = await workspaceWith({ binDir: bin });
    const r = await w.run(["backup", "database", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/database: rows counted with count\(\*\): the archive is compressed/);
    const client = new pg.Client(source.connection("prs_test"));
    await client.connect();
    const now = await countRows(client).finally(() => client.end());
    const id = r.json<SnapshotJson[]>()[0]!.id;
    const shown = (await w.run(["show", id, "--json"])).json<{ metadata: Record<string, unknown> }>();
    expect(shown.metadata).toMatchObject({ rowCountSource: "count", tables: now });
    expect(Object.keys(now)).toHaveLength(4);
    // Nor can its rows be shared among sessions: one pg_restore reads it whole.
    const restore = await w.run(["restore", "database", "--database", "prs_compressed"]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(restore.stderr).not.toMatch(/pg_restore in \d+ sessions/);
    expect(await digestDatabase(source.connection("prs_compressed"))).toEqual(
      await digestDatabase(source.connection("prs_test")),
    );
    await source.query("DROP DATABASE prs_compressed");
  });

  it("a pg_dump older than the server is refused, naming both versions", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-fake-"));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const bin = await fakeBin(dir, "pg_dump (PostgreSQL) 13.9", "exit 1");
    const w = await workspaceWith({ binDir: bin });
    const r = await w.run(["backup", "database"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(
      /pg_dump 13\.9 is older than the server \(PostgreSQL 15\.\d+.*\): install the PostgreSQL 15 client tools/,
    );
  });

  it("runs the tools through an exec prefix with the password only in the environment; restores stream without a spool", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-exec-"));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const log = path.join(dir, "argv.log");
    const wrapper = path.join(dir, "wrap.sh");
    await fs.writeFile(wrapper, `#!/bin/sh\necho "$* pw=\${PGPASSWORD:+set}" >> ${log}\nexec "$@"\n`, {
      mode: 0o755,
    });
    const w = await workspaceWith({ exec: [wrapper] });
    const backup = await w.run(["backup", "database", "--json"]);
    expect(backup.exitCode, backup.stderr).toBe(0);
    const restore = await w.run(["restore", "database", "--database", "prs_via_exec"]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const argvs = await fs.readFile(log, "utf8");
    expect(argvs).toMatch(/bin\/pg_dump -h 127\.0\.0\.1 .*--snapshot=\S+ .* pw=set/);
    // Definitions, then the data in two sessions, then indexes: every pg_restore behind the prefix.
    for (const section of ["pre-data", "data", "data", "post-data"]) {
      expect(argvs).toMatch(
        new RegExp(`bin/pg_restore -h 127\\.0\\.0\\.1 .* -d prs_via_exec --section=${section} pw=set`),
      );
    }
    expect(argvs.match(/--section=data/g)).toHaveLength(2);
    expect(argvs).not.toContain(PASSWORD);
    const [{ n } = { n: "" }] = await source.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM app.users",
      [],
      "prs_via_exec",
    );
    expect(Number(n)).toBeGreaterThan(0);
    expect((await fs.readdir(w.dir)).filter((f) => f.startsWith("prs-backup-pg-"))).toEqual([]);
  });

  it("one pg_restore session failing stops the other: one line naming its error, exit 1", async () => {
    // Data well beyond what the sessions' inputs hold, so that the failure comes while feeding.
    await source.query("CREATE DATABASE prs_big");
    cleanups.push(() => source.query("DROP DATABASE IF EXISTS prs_big"));
    await source.query(
      "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS v FROM generate_series(1, 400000) g",
      [],
      "prs_big",
    );
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-fake-"));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const bin = await fakeBin(dir, undefined, `exec ${PG_BIN}/pg_dump "$@"`);
    // The second data session to start fails at once; the first is then stopped, and the error
    // reported is the failing one's, not the stopped one's. The rest is the real pg_restore.
    await fs.writeFile(
      path.join(bin, "pg_restore"),
      `#!/bin/sh\ncase "$*" in *--section=data*) if mkdir ${dir}/first 2>/dev/null; then :; elif mkdir ${dir}/failed 2>/dev/null; then echo "pg_restore: error: simulated failure of one session" >&2; exit 1; fi;; esac\nexec ${PG_BIN}/pg_restore "$@"\n`,
      { mode: 0o755 },
    );
    const w = await workspaceWith({ binDir: bin, database: "prs_big" });
    expect((await w.run(["backup", "database"])).exitCode).toBe(0);
    const r = await w.run(["restore", "database", "--database", "prs_one_failed"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(
      /pg_restore into prs_one_failed failed: error: simulated failure of one session \(the partly restored database prs_one_failed is left for inspection\)/,
    );
    const [row] = await source.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM big",
      [],
      "prs_one_failed",
    );
    expect(Number(row?.n)).toBeLessThan(400000);
    await source.query("DROP DATABASE prs_one_failed");
  });

  it("damaged data stops an in-place restore before services stop or the database is renamed", async () => {
    const marks = path.join(os.tmpdir(), `prs-pg-services-${process.pid}.log`);
    cleanups.push(() => fs.rm(marks, { force: true }));
    const w = await workspaceWith({
      services: {
        stop: ["sh", "-c", `echo stop >> ${marks}`],
        start: ["sh", "-c", `echo start >> ${marks}`],
      },
    });
    expect((await w.run(["backup", "database"])).exitCode).toBe(0);
    const before = await digestDatabase(source.connection("prs_test"));
    await damageLargestChunk(w);
    const r = await w.run(["restore", "database", "--force"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/chunk [0-9a-f]+ is damaged/);
    await expect(fs.readFile(marks, "utf8")).rejects.toThrow();
    expect(await digestDatabase(source.connection("prs_test"))).toEqual(before);
    const dbs = await source.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'prs_test_before_%'",
    );
    expect(dbs.length).toBe(1); // the one the earlier in-place test kept, no new one
  });

  it.each([1, 2])(
    "damaged data in a streamed restore into a new database: one line, exit 1, no corrupt bytes loaded as good (%i pg_restore sessions)",
    async (restoreSessions) => {
      const w = await workspaceWith({ restoreSessions });
      expect((await w.run(["backup", "database"])).exitCode).toBe(0);
      await damageLargestChunk(w);
      const r = await w.run(["restore", "database", "--database", `prs_damaged_${restoreSessions}`]);
      expect(r.exitCode).toBe(1);
      expect(expectOneErrorLine(r.stderr)).toMatch(/chunk [0-9a-f]+ is damaged.*prs_damaged_\d/);
      // pg_restore saw the stream end early: the partial database holds at most the rows before the damage.
      const [table] = await source.query<{ t: string | null }>(
        "SELECT to_regclass('app.requisitions')::text AS t",
        [],
        `prs_damaged_${restoreSessions}`,
      );
      if (table?.t) {
        const [row] = await source.query<{ n: string }>(
          "SELECT count(*)::text AS n FROM app.requisitions",
          [],
          `prs_damaged_${restoreSessions}`,
        );
        expect(Number(row?.n)).toBeLessThan(20000);
      }
      await source.query(`DROP DATABASE prs_damaged_${restoreSessions}`);
    },
  );

  it("a full repository disk leaves no snapshot and one clear line", async (ctx) => {
    const w = await pgWorkspace({ port: source.port, database: "prs_test" }, env);
    cleanups.push(() => fs.rm(w.dir, { recursive: true, force: true }));
    const repo = path.join(w.dir, "repo");
    await fs.mkdir(repo);
    // A 400 KB file system: room for the repository's skeleton, not for the dump.
    const mounted = await execa("mount", ["-t", "tmpfs", "-o", "size=400k,mode=0700", "tmpfs", repo], {
      reject: false,
    });
    if (mounted.exitCode !== 0) ctx.skip("cannot mount a small tmpfs here (needs root)");
    cleanups.push(() => execa("umount", [repo], { reject: false }));
    expect((await w.run(["init"])).exitCode).toBe(0);
    const r = await w.run(["backup", "database"]);
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/no space left on device/);
    expect((await w.run(["list", "--json"])).json<unknown[]>()).toEqual([]);
  });

  it("a non-superuser backup role works; roles are saved without password hashes, with a warning", async () => {
    await source.query(
      `CREATE ROLE prs_backup LOGIN PASSWORD '${PASSWORD.replace(/'/g, "''")}' IN ROLE pg_read_all_data`,
    );
    cleanups.push(() => source.query("DROP ROLE IF EXISTS prs_backup"));
    const w = await workspaceWith({ user: "prs_backup" });
    const r = await w.run(["backup", "database", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/prs_backup is not a superuser: roles are saved without their passwords/);
    const [snap] = r.json<SnapshotJson[]>();
    const shown = (await w.run(["show", snap!.id, "--json"])).json<{ metadata: Record<string, unknown> }>();
    expect(shown.metadata).toMatchObject({ rolePasswords: false, totalRows: expect.any(Number) as unknown });
  });

  it("a restore needing TimescaleDB on a server without it fails before creating anything", async () => {
    const { checkTimescaleAvailable } = await import("../../../src/engines/postgres/timescale.js");
    const client = new pg.Client(source.connection());
    await client.connect();
    try {
      await expect(checkTimescaleAvailable(client, "2.14.2", "the scratch server")).rejects.toThrow(
        /uses TimescaleDB 2\.14\.2, but the scratch server does not have TimescaleDB installed: install timescaledb 2\.14\.2/,
      );
    } finally {
      await client.end();
    }
  });
});

/** Flips 64 bytes in the middle of the repository's largest stored chunk file (dump data). */
async function damageLargestChunk(w: PgWorkspace): Promise<void> {
  const data = path.join(w.dir, "repo", "data");
  const files = (await fs.readdir(data, { recursive: true })).map((f) => path.join(data, f));
  const sizes = await Promise.all(files.map(async (f) => ({ f, st: await fs.stat(f) })));
  const largest = sizes.filter((x) => x.st.isFile()).sort((a, b) => b.st.size - a.st.size)[0]!.f;
  const body = await fs.readFile(largest);
  body.fill(0x55, Math.floor(body.length / 2), Math.floor(body.length / 2) + 64);
  await fs.chmod(largest, 0o600);
  await fs.writeFile(largest, body);
}

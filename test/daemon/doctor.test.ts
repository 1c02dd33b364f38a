import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScratchCluster } from "../../src/engines/postgres/scratch-cluster.js";
import { expectOneErrorLine, runCli, runOk } from "../helpers/cli.js";
import { managedRedis, type ManagedRedis } from "../helpers/redis.js";
import { freePort, scratch } from "./harness.js";

interface DoctorJson {
  ok: boolean;
  checks: { scope: string; name: string; ok: boolean; message: string; fix?: string[] }[];
}

async function writeConfig(dir: string, targets: Record<string, unknown>): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const config = path.join(dir, "prs-backup.yaml");
  await fs.writeFile(
    config,
    JSON.stringify({ repository: { path: path.join(dir, "repo") }, targets }, null, 2),
  );
  await runOk(["--config", config, "init"]);
  return config;
}

describe("doctor", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await scratch();
    await fs.mkdir(path.join(dir, "uploads"));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("exits 1 and names the fix when PostgreSQL and Redis are unreachable", async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const config = await writeConfig(path.join(dir, "unreachable"), {
      uploads: { type: "files", paths: [path.join(dir, "uploads")] },
      database: {
        type: "postgres",
        connection: { host: "127.0.0.1", port: pgPort, user: "prs_admin", database: "prs_production" },
      },
      cache: { type: "redis", url: `redis://127.0.0.1:${redisPort}` },
    });
    const r = await runCli(["--config", config, "doctor"]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`✓ uploads: path: ${path.join(dir, "uploads")} is readable`);
    expect(r.stdout).toMatch(
      new RegExp(
        `^✗ database: connect: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${pgPort} as prs_admin: ECONNREFUSED$`,
        "m",
      ),
    );
    expect(r.stdout).toContain(
      `    fix: start PostgreSQL, or correct targets.database.connection.host/port; check with: pg_isready -h 127.0.0.1 -p ${pgPort}`,
    );
    expect(r.stdout).toMatch(/^✗ cache: connect: .*127\.0\.0\.1:\d+/m);
    expect(r.stdout).toContain("✓ repository: writable");
    expect(r.stdout).toContain("✓ repository: permissions: folders 0700, files 0600");
    expect(r.stdout).toMatch(/^✓ repository: free space: /m);
    for (const line of r.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("    fix: ")))
      expect(line).toMatch(/^[✓✗] /);
    expect(expectOneErrorLine(r.stderr)).toMatch(/^error: \d+ check\(s\) failed/);

    const json = (await runCli(["--config", config, "--json", "doctor"])).json<DoctorJson>();
    expect(json.ok).toBe(false);
    expect(json.checks.find((c) => c.scope === "database")).toMatchObject({ name: "connect", ok: false });
  });

  it("flags a repository readable by others, with the chmod that fixes it", async () => {
    const config = await writeConfig(path.join(dir, "loose"), {
      uploads: { type: "files", paths: [path.join(dir, "uploads")] },
    });
    await fs.chmod(path.join(dir, "loose", "repo"), 0o755);
    const r = await runCli(["--config", config, "doctor"]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^✗ repository: permissions: readable by group or others: .*repo \(755\)/m);
    expect(r.stdout).toContain(`    fix: chmod -R u=rwX,go= ${path.join(dir, "loose", "repo")}`);
  });

  describe("against real servers", () => {
    let cluster: ScratchCluster;
    let redis: ManagedRedis;
    beforeAll(async () => {
      cluster = await ScratchCluster.start({ password: "doctor-pw", settings: { fsync: "off" } });
      redis = await managedRedis(await fs.mkdtemp(path.join(dir, "redis-")), { aof: false });
    });
    afterAll(async () => {
      await cluster?.close();
      await redis?.stop();
    });

    it("prints the exact ALTER SYSTEM lines for archiving settings, and Redis persistence fixes", async () => {
      const config = await writeConfig(path.join(dir, "real"), {
        "database-pitr": {
          type: "postgres-physical",
          connection: {
            host: "127.0.0.1",
            port: cluster.port,
            user: "postgres",
            passwordEnv: "DOCTOR_PG_PW",
          },
          dataDirectory: cluster.dataDirectory,
          binDir: "/usr/lib/postgresql/15/bin",
        },
        redis: { type: "redis", url: `redis://127.0.0.1:${redis.port}` },
      });
      const r = await runCli(["--config", config, "doctor"], { env: { DOCTOR_PG_PW: "doctor-pw" } });
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toMatch(
        /^✓ database-pitr: connect: connected to 127\.0\.0\.1:\d+\/postgres as postgres \(PostgreSQL 15\./m,
      );
      expect(r.stdout).toMatch(/^✓ database-pitr: pg_basebackup: pg_basebackup 15\.\d+ \(server major 15\)/m);
      expect(r.stdout).toContain("✓ database-pitr: wal_level: wal_level = replica");
      expect(r.stdout).toContain(
        "✗ database-pitr: archive_mode: archive_mode = off; WAL is not archived\n    fix: ALTER SYSTEM SET archive_mode = 'on';\n    fix: then restart PostgreSQL",
      );
      expect(r.stdout).toContain(
        `    fix: ALTER SYSTEM SET archive_command = 'prs-backup --config ${config} wal push --target database-pitr %p';\n    fix: SELECT pg_reload_conf();`,
      );
      expect(r.stdout).toContain("    fix: ALTER SYSTEM SET archive_timeout = '60s';");
      expect(r.stdout).toContain("✓ database-pitr: replication: postgres may replicate");
      expect(r.stdout).toContain(
        `✓ database-pitr: base backups: copied directly from ${cluster.dataDirectory} (method: auto)`,
      );

      // A role that may not run pg_backup_start: doctor says so, with the grants that fix it.
      await cluster.query("CREATE ROLE doctor_limited LOGIN PASSWORD 'doctor-pw' REPLICATION");
      const limited = await writeConfig(path.join(dir, "limited"), {
        "database-pitr": {
          type: "postgres-physical",
          connection: {
            host: "127.0.0.1",
            port: cluster.port,
            user: "doctor_limited",
            passwordEnv: "DOCTOR_PG_PW",
          },
          dataDirectory: cluster.dataDirectory,
          binDir: "/usr/lib/postgresql/15/bin",
          method: "direct",
        },
      });
      const l = await runCli(["--config", limited, "doctor"], { env: { DOCTOR_PG_PW: "doctor-pw" } });
      expect(l.stdout).toContain(
        '✗ database-pitr: base backups: method direct cannot copy the data directory: doctor_limited may not run pg_backup_start\n    fix: GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO "doctor_limited";',
      );
      expect(r.stdout).toMatch(/^✓ redis: connect: connected to 127\.0\.0\.1:\d+ \(Redis /m);
      expect(r.stdout).toContain(
        '✗ redis: save: RDB snapshots are off (save ""): a crash loses everything since the last backup\n    fix: redis-cli CONFIG SET save "3600 1 300 100 60 10000"',
      );
      expect(r.stdout).toMatch(/^✓ redis: redis-cli: redis-cli \d+/m);

      const wrong = await runCli(["--config", config, "doctor"], { env: { DOCTOR_PG_PW: "nope" } });
      expect(wrong.stdout).toContain(
        `✗ database-pitr: credentials: PostgreSQL at 127.0.0.1:${cluster.port} refused the password of postgres`,
      );
      expect(wrong.stdout).toContain("    fix: check the password in $DOCTOR_PG_PW");
    });
  });
});

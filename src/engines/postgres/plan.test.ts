import { describe, expect, it } from "vitest";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { commandArgv, toolArgv, type PgEndpoint } from "./connection.js";
import { compareCounts } from "./drill.js";
import { keptName, planPostgresRestore } from "./restore.js";
import type { PostgresTarget } from "./target.js";
import { timescaleSteps, timescaleVersionOf } from "./timescale.js";
import { parseToolMajor, serverMajor } from "./tools.js";

const target: PostgresTarget = {
  name: "database",
  type: "postgres",
  connection: { host: "localhost", port: 5432, user: "prs_admin", database: "prs_production" },
  jobs: 2,
  restoreSessions: 2,
  threads: 2,
};
const now = new Date("2026-11-24T21:05:09Z");

function snapshot(metadata: Record<string, unknown>): SnapshotManifest {
  return { id: "s1", metadata } as unknown as SnapshotManifest;
}

const plain = snapshot({ database: "prs_production", extensions: [{ name: "plpgsql", version: "1.0" }] });
const timescale = snapshot({
  database: "prs_production",
  extensions: [
    { name: "plpgsql", version: "1.0" },
    { name: "timescaledb", version: "2.14.2" },
  ],
});
const request = { force: false, dryRun: false };

describe("planPostgresRestore", () => {
  it("restores into a new database without touching services", () => {
    const plan = planPostgresRestore(target, { ...request, snapshot: plain, database: "copy" }, false, now, {
      stop: ["stop"],
      start: ["start"],
    });
    expect(plan).toMatchObject({ database: "copy", inPlace: false });
    expect(plan.steps.map((s) => s.action)).toEqual(["create-roles", "create-database", "pg_restore"]);
  });

  it("says how pg_restore will load the dump: spooled for -j, or streamed through sessions", () => {
    const detail = (t: PostgresTarget): string | undefined =>
      planPostgresRestore(
        t,
        { ...request, snapshot: plain, database: "copy" },
        false,
        now,
        undefined,
      ).steps.find((s) => s.action === "pg_restore")?.detail;
    expect(detail(target)).toBe("prs_production → copy, pg_restore -j 2 from a spooled copy");
    expect(detail({ ...target, jobs: 1 })).toBe(
      "prs_production → copy, streamed, the table data through 2 sessions",
    );
    expect(detail({ ...target, exec: ["docker", "exec", "-i", "db"] })).toMatch(/through 2 sessions$/);
    expect(detail({ ...target, jobs: 1, restoreSessions: 1 })).toBe(
      "prs_production → copy, streamed into one pg_restore",
    );
  });

  it("refuses an existing database and an in-place restore without --force", () => {
    expect(() =>
      planPostgresRestore(target, { ...request, snapshot: plain, database: "copy" }, true, now, {}),
    ).toThrow(/database copy already exists.*--force/);
    expect(() => planPostgresRestore(target, { ...request, snapshot: plain }, true, now, {})).toThrow(
      /in place replaces database prs_production: add --force/,
    );
    expect(() =>
      planPostgresRestore(target, { ...request, snapshot: plain, to: "/x" }, false, now, {}),
    ).toThrow(/--database NAME, not --to/);
  });

  it("in place with --force: services around it, the old database kept under a dated name", () => {
    const plan = planPostgresRestore(target, { ...request, snapshot: plain, force: true }, true, now, {
      stop: ["docker", "compose", "stop"],
      start: ["docker", "compose", "start"],
    });
    expect(plan.keepAs).toBe("prs_production_before_20261124_210509");
    expect(plan.steps.map((s) => s.action)).toEqual([
      "stop-services",
      "keep-database",
      "create-roles",
      "create-database",
      "pg_restore",
      "start-services",
    ]);
  });

  it("wraps pg_restore in TimescaleDB's pre/post restore when the dump has the extension", () => {
    const plan = planPostgresRestore(
      target,
      { ...request, snapshot: timescale, database: "copy" },
      false,
      now,
      {},
    );
    expect(plan.steps.map((s) => s.action)).toEqual([
      "create-roles",
      "create-database",
      "timescaledb-pre-restore",
      "pg_restore",
      "timescaledb-post-restore",
    ]);
    expect(timescaleVersionOf(timescale.metadata)).toBe("2.14.2");
    expect(timescaleVersionOf(plain.metadata)).toBeUndefined();
    expect(timescaleSteps("2.14.2")).toEqual({
      before: [
        "CREATE EXTENSION IF NOT EXISTS timescaledb VERSION '2.14.2'",
        "SELECT timescaledb_pre_restore()",
      ],
      after: ["SELECT timescaledb_post_restore()"],
    });
  });
});

describe("keptName", () => {
  it("stays within PostgreSQL's 63-byte identifier limit", () => {
    const name = keptName("x".repeat(80), now);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name.endsWith("_before_20261124_210509")).toBe(true);
  });
});

describe("tool argv", () => {
  const endpoint: PgEndpoint = {
    host: "localhost",
    port: 5432,
    user: "prs_admin",
    database: "prs_production",
    password: "hunter2",
    field: "targets.database.connection",
  };

  it("never puts the password in argv; docker exec gets the variable's name only", () => {
    const argv = toolArgv(
      { ...endpoint, exec: ["docker", "exec", "-i", "prs-onprem-postgres-timescale"] },
      "pg_dump",
      ["-d", "prs_production"],
    );
    expect(argv).toEqual([
      "docker",
      "exec",
      "-e",
      "PGCONNECT_TIMEOUT",
      "-e",
      "PGPASSWORD",
      "-i",
      "prs-onprem-postgres-timescale",
      "pg_dump",
      "-h",
      "localhost",
      "-p",
      "5432",
      "-U",
      "prs_admin",
      "-d",
      "prs_production",
    ]);
    expect(argv.join(" ")).not.toContain("hunter2");
  });

  it("uses binDir, and other prefixes unchanged", () => {
    expect(
      commandArgv(
        { ...endpoint, binDir: "/usr/lib/postgresql/16/bin", exec: ["runuser", "-u", "postgres", "--"] },
        "pg_dump",
        ["--version"],
      ),
    ).toEqual(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/16/bin/pg_dump", "--version"]);
  });
});

describe("versions", () => {
  it("parses tool versions and server majors", () => {
    expect(parseToolMajor("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n")).toEqual({
      major: 15,
      version: "15.20",
    });
    expect(parseToolMajor("pg_dump (PostgreSQL) 17beta1")).toEqual({ major: 17, version: "17" });
    expect(parseToolMajor("nonsense")).toBeUndefined();
    expect(serverMajor(150020)).toBe(15);
    expect(serverMajor(90624)).toBe(9);
  });
});

describe("compareCounts", () => {
  it("names missing, extra and differing tables", () => {
    expect(compareCounts({ "a.x": 1, "a.y": 2, "a.z": 3 }, { "a.x": 1, "a.y": 5, "a.w": 0 })).toEqual([
      "table a.y: 5 rows restored, 2 at backup time",
      "table a.z is missing after restore",
      "table a.w was restored but is not in the manifest",
    ]);
  });
});

import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PgServer } from "../../../src/engines/postgres-physical/pg-server.js";
import { walMainPath } from "../../../src/engines/postgres-physical/restore.js";
import { damageChunk, storedChunks } from "../../helpers/repo.js";
import {
  archiveCurrentWal,
  batches,
  createWorld,
  insertBatch,
  prs,
  sleep,
  startRestored,
  TARGET,
  type PitrWorld,
} from "./harness.js";

interface Summary {
  id: string;
  status: string;
}

describe("postgres-physical: base backup, WAL archive, point-in-time recovery (real PostgreSQL 15)", () => {
  let world: PitrWorld;
  let timeT: string;
  let lsnT: string;
  let expectedA: Record<string, string>;
  let expectedAll: Record<string, string>;
  const restored: PgServer[] = [];

  beforeAll(async () => {
    world = await createWorld();
    expect((await prs(world, "init")).exitCode).toBe(0);
  });

  afterAll(async () => {
    for (const s of restored) await s.destroy().catch(() => undefined);
    await world?.cleanup();
  });

  it("takes a base backup that is complete only with its WAL in the archive", async () => {
    const r = await prs(world, "backup", TARGET, "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const [snap] = JSON.parse(r.stdout) as Summary[];
    expect(snap?.status).toBe("complete");
    const show = JSON.parse((await prs(world, "show", snap!.id, "--json")).stdout) as {
      metadata: Record<string, unknown>;
    };
    expect(show.metadata).toMatchObject({
      // The tests run as root, so the data directory is readable: copied directly.
      method: "direct",
      timeline: 1,
      walConfirmed: true,
      dataChecksums: false,
      pgVersionNum: expect.any(Number) as number,
    });
    expect(String(show.metadata["backupLabel"])).toContain("START WAL LOCATION");
    await world.source.query("CREATE TABLE pitr_rows (id int PRIMARY KEY, batch text, payload text)");
    // The WAL folder belongs to the server's user, the rest of the repository stays root's.
    const st = await fs.stat(path.join(world.repo, "wal", TARGET));
    const data = await fs.stat(world.source.dataDirectory);
    expect([st.uid, st.mode & 0o777]).toEqual([data.uid, 0o700]);
    expect((await fs.stat(world.repo)).mode & 0o777).toBe(0o711);
    expect((await fs.stat(path.join(world.repo, "snapshots"))).mode & 0o777).toBe(0o700);
  });

  it("restores to a time T exactly (batch A, not batch B) and to the end of the archive", async () => {
    await insertBatch(world.source, "A", 1, 1000);
    expectedA = await batches(world.source);
    await sleep(1100);
    timeT = new Date().toISOString();
    const [lsn] = await world.source.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l");
    lsnT = lsn!.l;
    await world.source.query("SELECT pg_create_restore_point('before-B')");
    await sleep(1100);
    await insertBatch(world.source, "B", 1001, 500);
    expectedAll = await batches(world.source);
    await archiveCurrentWal(world.source);

    const toT = path.join(world.dir, "at-T", "data");
    const r = await prs(world, "restore", TARGET, "--time", timeT, "--to", toT);
    expect(r.exitCode, r.stderr).toBe(0);
    const conf = await fs.readFile(path.join(toT, "postgresql.auto.conf"), "utf8");
    expect(conf).toMatch(/recovery_target_action = 'promote'/);
    expect(conf).toMatch(/archive_mode = 'off'/);
    await expect(fs.stat(path.join(toT, "recovery.signal"))).resolves.toBeDefined();
    await expect(fs.stat(path.join(toT, "recovery.conf"))).rejects.toThrow();
    const atT = await startRestored(toT);
    restored.push(atT);
    expect(await batches(atT)).toEqual(expectedA);
    expect(Object.keys(expectedA)).toEqual(["A"]);

    const toEnd = path.join(world.dir, "at-end", "data");
    expect((await prs(world, "restore", TARGET, "--to", toEnd)).exitCode).toBe(0);
    const atEnd = await startRestored(toEnd);
    restored.push(atEnd);
    expect(await batches(atEnd)).toEqual(expectedAll);
    await atEnd.destroy();
  });

  it("restores to an LSN (--lsn) and to a named restore point (--name)", async () => {
    for (const [label, flag, value] of [
      ["lsn", "--lsn", lsnT],
      ["name", "--name", "before-B"],
    ] as const) {
      const to = path.join(world.dir, `at-${label}`, "data");
      const r = await prs(world, "restore", TARGET, flag, value, "--to", to);
      expect(r.exitCode, r.stderr).toBe(0);
      const conf = await fs.readFile(path.join(to, "postgresql.auto.conf"), "utf8");
      expect(conf).toContain(
        label === "lsn" ? `recovery_target_lsn = '${lsnT}'` : "recovery_target_name = 'before-B'",
      );
      const server = await startRestored(to);
      try {
        expect(await batches(server), label).toEqual(expectedA);
      } finally {
        await server.destroy();
      }
    }
  });

  it("a second PITR follows the timeline of the first (recovery_target_timeline latest)", async () => {
    // The cluster restored to T becomes production: archiving on, into the same archive.
    const promoted = restored[0]!;
    await promoted.stop();
    await promoted.appendSettings({
      archive_mode: "on",
      archive_command: `${process.execPath} ${walMainPath()} push --repository ${world.repo} --target ${TARGET} %p`,
    });
    await promoted.start();
    // archive_mode was off at promotion, so its history file is pushed by hand (docs/pitr.md).
    const push = await execa(
      "su",
      [
        "postgres",
        "-s",
        "/bin/sh",
        "-c",
        `${process.execPath} ${walMainPath()} push --repository ${world.repo} --target ${TARGET} ${promoted.dataDir}/pg_wal/00000002.history`,
      ],
      { reject: false },
    );
    expect(push.exitCode, push.stderr).toBe(0);
    await insertBatch(promoted, "C", 2001, 300);
    const expectedAC = await batches(promoted);
    await archiveCurrentWal(promoted);
    await sleep(1100);
    const timeT2 = new Date().toISOString();
    await sleep(1100);
    await insertBatch(promoted, "D", 3001, 10);
    await archiveCurrentWal(promoted);

    const toT2 = path.join(world.dir, "at-T2", "data");
    expect((await prs(world, "restore", TARGET, "--time", timeT2, "--to", toT2)).exitCode).toBe(0);
    const atT2 = await startRestored(toT2);
    restored.push(atT2);
    expect(await batches(atT2)).toEqual(expectedAC);
    const [tl] = await atT2.query<{ tl: number }>("SELECT timeline_id AS tl FROM pg_control_checkpoint()");
    expect(tl?.tl).toBe(3);
  });

  it("verify checks the WAL chain; --deep drills the base backup", async () => {
    const r = await prs(world, "verify", TARGET, "--deep", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      drills?: { ok: boolean; seconds: number; compared: Record<string, unknown> }[];
    };
    expect(report.ok).toBe(true);
    expect(report.drills?.[0]?.ok).toBe(true);
    expect(report.drills?.[0]?.compared).toMatchObject({ pgVerifybackup: "ok", promoted: true });
  });

  it("never failed to archive; refuses different content; fetch of a missing segment exits 1", async () => {
    const [st] = await world.source.query<{ failed: string; archived: string }>(
      "SELECT failed_count::text AS failed, archived_count::text AS archived FROM pg_stat_archiver",
    );
    expect(st?.failed).toBe("0");
    expect(Number(st?.archived)).toBeGreaterThan(3);

    const [{ name } = { name: "" }] = await world.source.query<{ name: string }>(
      "SELECT last_archived_wal AS name FROM pg_stat_archiver",
    );
    const fake = path.join(world.dir, name);
    await fs.writeFile(fake, Buffer.alloc(16 * 1024 * 1024, 1));
    const refused = await prs(world, "wal", "push", fake);
    expect(refused.exitCode, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/^error: wal push: REFUSED: .*different content/m);

    const dest = path.join(world.dir, "RECOVERYXLOG");
    const missing = await prs(world, "wal", "fetch", "0000000100000000000000FF", dest);
    expect(missing.exitCode).toBe(1);
    await expect(fs.stat(dest)).rejects.toThrow();
    const fetched = await prs(world, "wal", "fetch", name, dest);
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect((await fs.stat(dest)).size).toBe(16 * 1024 * 1024);
  });

  it("verify names a gap in the WAL chain", async () => {
    const walDir = path.join(world.repo, "wal", TARGET);
    const segments = (await fs.readdir(walDir)).filter((n) => /^00000001[0-9A-F]{16}$/.test(n)).sort();
    const victim = segments.at(-2)!;
    await fs.rename(path.join(walDir, victim), path.join(world.dir, victim));
    try {
      const r = await prs(world, "verify", TARGET, "--json");
      expect(r.exitCode).toBe(3);
      expect(r.stdout).toContain(victim);
    } finally {
      await fs.rename(path.join(world.dir, victim), path.join(walDir, victim));
    }
  });

  it("a damaged chunk stops the restore with an error naming it, and no recovery.signal is written", async () => {
    // The largest stored region: a whole chunk object, or a packed frame of relation data.
    const victim = (await storedChunks(world.repo)).sort((a, b) => b.region.length - a.region.length)[0]!;
    const inRegion = (await storedChunks(world.repo))
      .filter((c) => c.file === victim.file && c.region.offset === victim.region.offset)
      .map((c) => c.id);
    const original = await fs.readFile(victim.file);
    await damageChunk(victim);
    try {
      const to = path.join(world.dir, "damaged", "data");
      const r = await prs(world, "restore", TARGET, "--to", to);
      expect(r.exitCode).toBe(1);
      expect(
        inRegion.some((id) => r.stderr.includes(`chunk ${id}`)),
        r.stderr,
      ).toBe(true);
      await expect(fs.stat(path.join(to, "recovery.signal"))).rejects.toThrow();
    } finally {
      await fs.writeFile(victim.file, original);
    }
  });
  it("after a branch was archived, a newer base backup of the old timeline restores along that timeline", async () => {
    // Timeline 2 (the PITR above that became "production") forked off timeline 1, which the source went on writing.
    const backup = await prs(world, "backup", TARGET, "--json");
    expect(backup.exitCode, backup.stderr).toBe(0);
    await insertBatch(world.source, "E", 5001, 100);
    const expected = await batches(world.source);
    await archiveCurrentWal(world.source);
    const to = path.join(world.dir, "after-branch", "data");
    const r = await prs(world, "restore", TARGET, "--to", to);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /timeline [23] in the archive forked off timeline 1 before this base backup ended/,
    );
    await expect(fs.readFile(path.join(to, "postgresql.auto.conf"), "utf8")).resolves.toMatch(
      /recovery_target_timeline = '1'/,
    );
    const server = await startRestored(to);
    restored.push(server);
    expect(await batches(server)).toEqual(expected);
  });
});

describe("wal push killed with SIGKILL mid-write", () => {
  let world: PitrWorld;
  afterAll(() => world?.cleanup());

  it("loses nothing: every archived file is whole, and PostgreSQL's retry succeeds", async () => {
    // The first attempt for each file is killed -9 while it writes; PostgreSQL retries.
    world = await createWorld({
      archiveCommand: (repo) => {
        const push = `${process.execPath} ${walMainPath()} push --repository ${repo} --target ${TARGET}`;
        return `if [ ! -e "${repo}/../kill-%f" ]; then touch "${repo}/../kill-%f"; ${push} %p & pid=$!; sleep 0.07; kill -9 $pid; exit 1; else ${push} %p; fi`;
      },
    });
    await fs.chmod(world.dir, 0o777);
    expect((await prs(world, "init")).exitCode).toBe(0);
    expect((await prs(world, "backup", TARGET)).exitCode).toBe(0);
    await world.source.query("CREATE TABLE pitr_rows (id int PRIMARY KEY, batch text, payload text)");
    for (let i = 0; i < 3; i++) {
      await insertBatch(world.source, `K${i}`, i * 20_000 + 1, 20_000);
      await archiveCurrentWal(world.source);
    }
    const expected = await batches(world.source);
    const [st] = await world.source.query<{ failed: string }>(
      "SELECT failed_count::text AS failed FROM pg_stat_archiver",
    );
    expect(Number(st?.failed)).toBeGreaterThan(0);
    // Every archived object decodes and matches its hash; a restore to the end has every row.
    const names = (await fs.readdir(path.join(world.repo, "wal", TARGET))).filter((n) =>
      /^[0-9A-F]{24}$/.test(n),
    );
    for (const n of names) {
      const r = await prs(world, "wal", "fetch", n, path.join(world.dir, "check"));
      expect(r.exitCode, `${n}: ${r.stderr}`).toBe(0);
    }
    const to = path.join(world.dir, "restored", "data");
    expect((await prs(world, "restore", TARGET, "--to", to)).exitCode).toBe(0);
    const server = await startRestored(to);
    try {
      expect(await batches(server)).toEqual(expected);
    } finally {
      await server.destroy();
    }
  });

  it("a killed push leaves no object under the real name, and a re-push completes it", async () => {
    const big = path.join(world.dir, "000000010000000000000077");
    const seg = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < seg.length; i += 4) seg.writeUInt32LE((i * 2654435761) >>> 0, i);
    seg.writeUInt16LE(0xd110, 0);
    seg.writeUInt16LE(0x0002, 2);
    const sysid = (
      await fs.readFile(path.join(world.repo, "wal", TARGET, "system-identifier"), "utf8")
    ).trim();
    seg.writeBigUInt64LE(BigInt(sysid), 24);
    await fs.writeFile(big, seg);
    const file = path.join(world.repo, "wal", TARGET, "000000010000000000000077");
    for (const delay of [5, 20, 40, 60, 80, 120]) {
      const child = spawn(process.execPath, [
        walMainPath(),
        "push",
        "--repository",
        world.repo,
        "--target",
        TARGET,
        big,
      ]);
      // Listen before sleeping: a push that finishes within the delay must not be waited for forever.
      const exited = new Promise((r) => child.once("exit", r));
      await sleep(delay);
      child.kill("SIGKILL");
      await exited;
      const exists = await fs.stat(file).then(
        () => true,
        () => false,
      );
      if (exists) {
        const out = path.join(world.dir, "fetched");
        const r = await prs(world, "wal", "fetch", "000000010000000000000077", out);
        expect(r.exitCode, r.stderr).toBe(0);
        expect((await fs.readFile(out)).equals(seg)).toBe(true);
      }
    }
    const again = await execa(
      process.execPath,
      [walMainPath(), "push", "--repository", world.repo, "--target", TARGET, big],
      { reject: false },
    );
    expect(again.exitCode, again.stderr).toBe(0);
  });

  it("in place: refused without --force and while PostgreSQL runs; with --force the old directory is moved aside", async () => {
    const expected = await batches(world.source);
    const refused = await prs(world, "restore", TARGET);
    expect(refused.exitCode, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/--force/);
    const running = await prs(world, "restore", TARGET, "--force");
    expect(running.exitCode).toBe(1);
    expect(running.stderr).toMatch(/is running/);
    await world.source.query("CHECKPOINT");
    await execa("su", [
      "postgres",
      "-s",
      "/bin/sh",
      "-c",
      `${world.source.binDir}/pg_ctl -D ${world.source.dataDirectory} -m fast -w stop`,
    ]);
    const r = await prs(world, "restore", TARGET, "--force");
    expect(r.exitCode, r.stderr).toBe(0);
    const aside = (await fs.readdir(path.dirname(world.source.dataDirectory))).filter((n) =>
      n.startsWith("data.before-restore-"),
    );
    expect(aside).toHaveLength(1);
    await expect(fs.stat(path.join(world.dir, "services-stopped"))).resolves.toBeDefined();
    await expect(fs.stat(path.join(world.dir, "services-started"))).resolves.toBeDefined();
    const server = await startRestored(world.source.dataDirectory);
    try {
      expect(await batches(server)).toEqual(expected);
    } finally {
      await server.stop();
    }
  });
});

describe("deltas between base backups", () => {
  let world: PitrWorld;
  afterAll(() => world?.cleanup());
  beforeAll(async () => {
    world = await createWorld();
    expect((await prs(world, "init")).exitCode).toBe(0);
  });

  it("a second base backup stores changed relation chunks as deltas against the first, and restores from them", async () => {
    await world.source.query(
      `CREATE TABLE delta_rows (id int PRIMARY KEY, v int, pad text);
       INSERT INTO delta_rows SELECT g, 0, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 150000) g;
       CREATE UNLOGGED TABLE scratch_rows AS SELECT g AS id FROM generate_series(1, 1000) g;`,
    );
    const digest = async (c: { query: PgServer["query"] }): Promise<string | undefined> =>
      (
        await c.query<{ d: string }>(
          "SELECT count(*) || ':' || sum(v) || ':' || md5(string_agg(id || '/' || v || pad, ',' ORDER BY id)) AS d FROM delta_rows",
        )
      )[0]?.d;
    const first = await prs(world, "backup", TARGET, "--json");
    expect(first.exitCode, first.stderr).toBe(0);
    const [a] = JSON.parse(first.stdout) as (Summary & { storedBytes: number; sourceBytes: number })[];
    // 1% of the rows, spread over every page of the table: each page changes by a few bytes.
    await world.source.query("UPDATE delta_rows SET v = 1 WHERE id % 100 = 0");
    const expected = await digest(world.source);
    const second = await prs(world, "backup", TARGET, "--json");
    expect(second.exitCode, second.stderr).toBe(0);
    const [b] = JSON.parse(second.stdout) as (Summary & { storedBytes: number; sourceBytes: number })[];
    const shown = JSON.parse((await prs(world, "show", b!.id, "--json")).stdout) as {
      metadata: { deltaChunks: number };
    };
    expect(shown.metadata.deltaChunks).toBeGreaterThan(0);
    expect(b!.storedBytes).toBeLessThan(a!.storedBytes * 0.25);
    await archiveCurrentWal(world.source);

    // Only the delta backup is kept: prune must keep the first backup's chunks it is stored against.
    await fs.appendFile(world.config, "    retention: {keepLast: 1}\n");
    const pruned = await prs(world, "prune", "--json");
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { deleted: string[] }).deleted).toContain(a!.id);
    const verify = await prs(world, "verify", "--all");
    expect(verify.exitCode, verify.stderr + verify.stdout).toBe(0);

    const to = path.join(world.dir, "from-deltas", "data");
    const r = await prs(world, "restore", TARGET, "--snapshot", b!.id, "--to", to);
    expect(r.exitCode, r.stderr).toBe(0);
    const server = await startRestored(to);
    try {
      expect(await digest(server)).toBe(expected);
      // Only its init fork was copied: an unlogged table comes back empty, as after a crash.
      expect(await server.query("SELECT count(*)::text AS n FROM scratch_rows")).toEqual([{ n: "0" }]);
    } finally {
      await server.destroy();
    }
  });

  it("a direct base backup taken while rows are written, updated and a table is dropped restores consistent", async () => {
    await world.source.query(
      `CREATE TABLE busy (id int PRIMARY KEY, v int, pad text);
       INSERT INTO busy SELECT g, 0, repeat('x', 200) FROM generate_series(1, 200000) g;
       CREATE TABLE doomed AS SELECT g FROM generate_series(1, 100000) g;`,
    );
    let writing = true;
    let rounds = 0;
    const load = (async () => {
      // Updates spread over every page, new rows at the end, and a table dropped mid-way:
      // files change, grow and vanish while the backup copies them.
      while (writing) {
        rounds += 1;
        await world.source.query("UPDATE busy SET v = v + 1 WHERE id % 50 = $1", [rounds % 50]);
        await world.source.query(
          "INSERT INTO busy SELECT g, 0, 'new' FROM generate_series($1::int, $1::int + 999) g",
          [200000 + rounds * 1000],
        );
        if (rounds === 3) await world.source.query("DROP TABLE doomed");
      }
    })();
    const r = await prs(world, "backup", TARGET, "--json");
    writing = false;
    await load;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(rounds).toBeGreaterThan(1);
    const digest =
      "SELECT count(*) || ':' || sum(v) || ':' || md5(string_agg(id || '/' || v || pad, ',' ORDER BY id)) AS d FROM busy";
    const expected = await world.source.query<{ d: string }>(digest);
    await archiveCurrentWal(world.source);
    const [snap] = JSON.parse(r.stdout) as Summary[];
    const to = path.join(world.dir, "under-load", "data");
    const restore = await prs(world, "restore", TARGET, "--snapshot", snap!.id, "--to", to);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const server = await startRestored(to);
    try {
      expect(await server.query<{ d: string }>(digest)).toEqual(expected);
      expect(await server.query("SELECT to_regclass('doomed') IS NULL AS gone")).toEqual([{ gone: true }]);
    } finally {
      await server.destroy();
    }
  });

  it("method direct names why it cannot copy a data directory; auto then uses pg_basebackup", async () => {
    const text = await fs.readFile(world.config, "utf8");
    const elsewhere = path.join(world.dir, "not-the-data-directory");
    await fs.mkdir(elsewhere);
    const other = path.join(world.dir, "elsewhere.yaml");
    await fs.writeFile(other, `${text.replace(world.source.dataDirectory, elsewhere)}    method: direct\n`);
    const refused = await prs({ ...world, config: other }, "backup", TARGET);
    expect(refused.exitCode, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(
      `method direct: the server's data directory is ${world.source.dataDirectory}`,
    );

    await fs.writeFile(other, (await fs.readFile(other, "utf8")).replace("method: direct", "method: auto"));
    const fellBack = await prs({ ...world, config: other }, "backup", TARGET, "--json");
    expect(fellBack.exitCode, fellBack.stderr).toBe(0);
    expect(fellBack.stderr).toContain("base backup with pg_basebackup (the server's data directory is");
    const [snap] = JSON.parse(fellBack.stdout) as Summary[];
    const shown = JSON.parse((await prs(world, "show", snap!.id, "--json")).stdout) as {
      metadata: { method: string; walConfirmed: boolean };
    };
    expect(shown.metadata).toMatchObject({ method: "pg_basebackup", walConfirmed: true });
  });

  it("a role that may not run pg_backup_start: auto falls back to pg_basebackup, direct says why", async () => {
    await world.source.query("CREATE ROLE limited LOGIN REPLICATION; GRANT pg_read_all_settings TO limited");
    const other = path.join(world.dir, "limited.yaml");
    await fs.writeFile(
      other,
      (await fs.readFile(world.config, "utf8")).replace("user: postgres}", "user: limited}"),
    );
    const fellBack = await prs({ ...world, config: other }, "backup", TARGET, "--json");
    expect(fellBack.exitCode, fellBack.stderr).toBe(0);
    expect(fellBack.stderr).toContain("base backup with pg_basebackup (limited may not run pg_backup_start)");
    const [snap] = JSON.parse(fellBack.stdout) as Summary[];
    const shown = JSON.parse((await prs(world, "show", snap!.id, "--json")).stdout) as {
      metadata: { method: string };
    };
    expect(shown.metadata.method).toBe("pg_basebackup");

    await fs.appendFile(other, "    method: direct\n");
    const refused = await prs({ ...world, config: other }, "backup", TARGET);
    expect(refused.exitCode, refused.stderr).toBe(1);
    expect(refused.stderr).toContain("method direct: limited may not run pg_backup_start");
  });

  it("a base backup by pg_basebackup (method: pg_basebackup) restores like a direct one", async () => {
    await fs.appendFile(world.config, "    method: pg_basebackup\n");
    const before = await world.source.query<{ n: string }>("SELECT count(*)::text AS n FROM delta_rows");
    const r = await prs(world, "backup", TARGET, "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const [snap] = JSON.parse(r.stdout) as Summary[];
    const shown = JSON.parse((await prs(world, "show", snap!.id, "--json")).stdout) as {
      metadata: { method: string };
    };
    expect(shown.metadata.method).toBe("pg_basebackup");
    await archiveCurrentWal(world.source);
    const to = path.join(world.dir, "from-pg-basebackup", "data");
    const restore = await prs(world, "restore", TARGET, "--snapshot", snap!.id, "--to", to);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const server = await startRestored(to);
    try {
      expect(await server.query("SELECT count(*)::text AS n FROM delta_rows")).toEqual(before);
    } finally {
      await server.destroy();
    }
  });
});

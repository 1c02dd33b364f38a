import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { client, dumpAll, fillSample, managedRedis } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, type SnapshotSummary } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe.each([
  { aof: false, name: "AOF off" },
  { aof: true, name: "AOF on" },
])("redis restore in place with --force ($name)", ({ aof }) => {
  it("moves the old files aside, loads the snapshot, keeps AOF as it was, and survives a restart", async () => {
    const password = "in-place-secret";
    const env = { TEST_REDIS_PW: password };
    const ws = await redisWorkspace([]);
    cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
    const redis = await managedRedis(ws.dir, { aof, password });
    cleanups.push(redis.stop);
    await fs.appendFile(
      ws.config,
      [
        `    url: redis://127.0.0.1:${redis.port}`,
        "    passwordEnv: TEST_REDIS_PW",
        `    dataDirectory: ${redis.dataDir}`,
        `    startCommand: [${redis.start.join(", ")}]`,
        "",
      ].join("\n"),
    );
    expect((await prs(ws, ["init"])).exitCode).toBe(0);
    await fillSample(redis.port, password, 50);
    const expected = await dumpAll(redis.port, password);
    const [snap] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"], env);
    expect(snap!.status).toBe("complete");

    const c = client(redis.port, { password });
    await c.set("str:0", "changed");
    await c.del("list:3");
    await c.set("new-key", "added after the backup");
    c.disconnect();

    const refused = await prs(ws, ["restore", "redis"], env);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*add --force/m);

    const dry = await prs(ws, ["restore", "redis", "--force", "--dry-run"], env);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("plan: stop-redis SHUTDOWN NOSAVE");
    expect(await dumpAll(redis.port, password)).not.toEqual(expected);

    const done = await prsJson<{ movedAside: string[]; notes: string[] }>(
      ws,
      ["restore", "redis", "--force"],
      env,
    );
    expect(
      done.movedAside.some(
        (p) => p.includes("dump.rdb.before-restore-") || p.includes("appendonlydir.before-restore-"),
      ),
    ).toBe(true);
    expect(await dumpAll(redis.port, password)).toEqual(expected);
    const c1 = client(redis.port, { password });
    expect(await c1.info("persistence")).toContain(`aof_enabled:${aof ? 1 : 0}`);
    c1.disconnect();
    for (const p of done.movedAside) await fs.access(p);

    // A write after the restore, then a restart: both the restored data and the write are kept
    // (with AOF on this proves the AOF holds the restored data, not an empty dataset).
    const c2 = client(redis.port, { password });
    await c2.set("after-restore", "kept");
    if (!aof) await c2.save();
    await c2.call("SHUTDOWN").catch(() => undefined);
    c2.disconnect();
    await new Promise((r) => setTimeout(r, 300));
    execFileSync(redis.start[0]!, redis.start.slice(1));
    await new Promise((r) => setTimeout(r, 500));
    const after = await dumpAll(redis.port, password);
    expect(after.size).toBe(expected.size + 1);
    for (const [k, v] of expected) expect(after.get(k)).toBe(v);
  });
});

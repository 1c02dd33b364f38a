import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { client, dumpAll, fillSample } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, type SnapshotSummary, type Workspace } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function source(appendonly: boolean, password?: string): Promise<ScratchRedis> {
  const server = await ScratchRedis.start({ appendonly, ...(password ? { password } : {}) });
  cleanups.push(() => server.close());
  await fillSample(server.port, password);
  return server;
}

async function workspace(lines: string[]): Promise<Workspace> {
  const ws = await redisWorkspace(lines);
  cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
  expect((await prs(ws, ["init"])).exitCode).toBe(0);
  return ws;
}

describe.each([
  { aof: false, name: "AOF off" },
  { aof: true, name: "AOF on" },
])("redis backup → restore --to FILE → fresh Redis ($name)", ({ aof }) => {
  it("restores every key, type, value and TTL as they were at backup time", async () => {
    const password = "pa ss:w@rd/1";
    const src = await source(aof, password);
    const ws = await workspace([
      `url: ${src.url}`,
      "passwordEnv: TEST_REDIS_PW",
      `dataDirectory: ${src.dir}`,
    ]);
    const env = { TEST_REDIS_PW: password };
    const expected = await dumpAll(src.port, password);
    const [snap] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"], env);
    expect(snap!.status).toBe("complete");

    // Changes after the backup must not show up in the restore.
    const c = client(src.port, { password });
    await c.set("str:0", "changed after backup");
    await c.del("hash:1");
    c.disconnect();

    const shown = await prsJson<{ metadata: Record<string, unknown> }>(ws, ["show", snap!.id]);
    expect(shown.metadata).toMatchObject({
      redisVersion: expect.stringMatching(/^\d+\.\d+/) as unknown,
      rdbVersion: expect.any(Number) as unknown,
      aofEnabled: aof,
      rdbSource: "data-directory",
      rdbKeyspace: { db0: { keys: expect.any(Number) as unknown }, db2: { keys: 2, expires: 0 } },
      keyspace: { db2: { keys: 2, expires: 0 } },
    });
    expect(shown.metadata.rdbKeys).toBe(expected.size);

    const file = path.join(ws.dir, "restored.rdb");
    const restore = await prs(ws, ["restore", "redis", "--to", file], env);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const fresh = await ScratchRedis.start({ rdb: file });
    cleanups.push(() => fresh.close());
    const actual = await dumpAll(fresh.port);
    expect(actual.size).toBe(expected.size);
    expect(actual).toEqual(expected);

    // The existing file is not replaced without --force, and moved aside with it.
    const again = await prs(ws, ["restore", "redis", "--to", file], env);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/^error: .*already exists.*--force/m);
    const forced = await prs(ws, ["restore", "redis", "--to", file, "--force"], env);
    expect(forced.exitCode, forced.stderr).toBe(0);
    const names = await fs.readdir(ws.dir);
    expect(names.some((n) => n.startsWith("restored.rdb.before-restore-"))).toBe(true);

    // verify --deep loads the snapshot into a scratch Redis and compares key counts.
    const verify = await prsJson<{
      ok: boolean;
      drills: { ok: boolean; compared: Record<string, number> }[];
    }>(ws, ["verify", "--deep"], env);
    expect(verify.ok).toBe(true);
    expect(verify.drills[0]).toMatchObject({ ok: true, compared: { keys: expected.size } });
  });
});

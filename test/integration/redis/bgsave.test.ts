import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBgsave } from "../../../src/engines/redis/bgsave.js";
import { connectRedis } from "../../../src/engines/redis/connection.js";
import { readInfo } from "../../../src/engines/redis/info.js";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { silentLogger, type Logger } from "../../../src/util/logger.js";
import { client, fillSample } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, sampleRedisWorkspace, type SnapshotSummary } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function slowServer(): Promise<ScratchRedis> {
  // rdb-key-save-delay (µs per key) makes a save of the sample take about a second.
  const s = await ScratchRedis.start({ config: ["rdb-key-save-delay 500"] });
  cleanups.push(() => s.close());
  await fillSample(s.port, undefined, 200);
  return s;
}

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { ...silentLogger, lines, info: (m) => lines.push(m), warn: (m) => lines.push(m) };
}

describe("BGSAVE completion", () => {
  it("waits out a save that was already running, then makes its own", async () => {
    const s = await slowServer();
    const other = client(s.port);
    expect(await other.bgsave()).toMatch(/started/);
    const c = await connectRedis({ host: "127.0.0.1", port: s.port, tls: false, label: "test" }, "redis");
    const before = Number((await readInfo(c, "persistence")).rdb_saves);
    const logger = recorder();
    const result = await runBgsave({ client: c, label: "test", logger });
    const after = await readInfo(c, "persistence");
    expect(Number(after.rdb_saves)).toBe(before + 1);
    expect(after.rdb_bgsave_in_progress).toBe("0");
    expect(after.rdb_last_bgsave_status).toBe("ok");
    expect(logger.lines.join("\n")).toMatch(/already running/);
    const st = await fs.stat(path.join(s.dir, "dump.rdb"));
    expect(st.mtimeMs).toBeGreaterThanOrEqual(result.requestedAt - 1000);
    c.disconnect();
    other.disconnect();
  });

  it("is scheduled behind a running AOF rewrite instead of failing", async () => {
    const s = await slowServer();
    const other = client(s.port);
    await other.config("SET", "appendonly", "yes"); // starts a rewrite (slowed by the same delay)
    await other.bgrewriteaof().catch(() => undefined);
    const c = await connectRedis({ host: "127.0.0.1", port: s.port, tls: false, label: "test" }, "redis");
    const running = await readInfo(c, "persistence");
    expect(running.aof_rewrite_in_progress).toBe("1");
    const before = Number(running.rdb_saves);
    await runBgsave({ client: c, label: "test", logger: silentLogger });
    expect(Number((await readInfo(c, "persistence")).rdb_saves)).toBeGreaterThan(before);
    c.disconnect();
    other.disconnect();
  });

  it("a stale RDB at dataDirectory is not taken for the fresh one: it is fetched over replication", async () => {
    const s = await ScratchRedis.start();
    cleanups.push(() => s.close());
    await fillSample(s.port, undefined, 20);
    const ws = await redisWorkspace([]);
    cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
    const elsewhere = path.join(ws.dir, "not-the-redis-dir");
    await fs.mkdir(elsewhere);
    await fs.writeFile(path.join(elsewhere, "dump.rdb"), "old");
    await fs.utimes(path.join(elsewhere, "dump.rdb"), 1_000_000, 1_000_000);
    await fs.appendFile(ws.config, `    url: ${s.url}\n    dataDirectory: ${elsewhere}\n`);
    expect((await prs(ws, ["init"])).exitCode).toBe(0);
    const r = await prs(ws, ["backup", "redis", "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/is not the RDB Redis at .* just wrote \(older\)/);
    const [snap] = JSON.parse(r.stdout) as SnapshotSummary[];
    const shown = await prsJson<{ metadata: { rdbSource: string } }>(ws, ["show", snap!.id]);
    expect(shown.metadata.rdbSource).toBe("replication");
  });

  it("stores the RDB while Redis writes it, byte-identical to the dump Redis ends up with", async () => {
    const s = await slowServer(); // ~1 s save: the temp file is followed as it grows
    const ws = await redisWorkspace([`url: ${s.url}`, `dataDirectory: ${s.dir}`]);
    cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
    expect((await prs(ws, ["init"])).exitCode).toBe(0);
    const [snap] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"]);
    const shown = await prsJson<{ metadata: { rdbFollowed: boolean; rdbSource: string; rdbKeys: number } }>(
      ws,
      ["show", snap!.id],
    );
    expect(shown.metadata).toMatchObject({ rdbFollowed: true, rdbSource: "data-directory", rdbKeys: 1604 });
    const out = path.join(ws.dir, "out.rdb");
    expect((await prs(ws, ["restore", "redis", "--to", out])).exitCode).toBe(0);
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(s.dir, "dump.rdb")))).toBe(true);
  });

  it("a fast save that ends before its file is seen is read after it, as before", async () => {
    const { server: s, ws } = await sampleRedisWorkspace(cleanups, 5);
    const [snap] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"]);
    const out = path.join(ws.dir, "out.rdb");
    expect((await prs(ws, ["restore", "redis", "--snapshot", snap!.id, "--to", out])).exitCode).toBe(0);
    expect((await fs.readFile(out)).equals(await fs.readFile(path.join(s.dir, "dump.rdb")))).toBe(true);
  });
});

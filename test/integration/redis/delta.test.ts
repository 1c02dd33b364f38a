import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { client } from "../../helpers/redis.js";
import { damageChunk, storedChunks } from "../../helpers/repo.js";
import { prs, prsJson, sampleRedisWorkspace, type SnapshotSummary } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

interface IndexJson {
  frames: { encoding: string; ref?: string; chunks: [string, number][] }[];
}

/** Frames of every pack index in the repository. */
async function frames(repo: string): Promise<IndexJson["frames"]> {
  const { decompress } = await import("zstd-napi");
  const dir = path.join(repo, "index");
  const out: IndexJson["frames"] = [];
  for (const name of await fs.readdir(dir)) {
    const index = JSON.parse(
      decompress(await fs.readFile(path.join(dir, name))).toString("utf8"),
    ) as IndexJson;
    out.push(...index.frames);
  }
  return out;
}

/** Changes every 100th string key (1%), in place. */
async function changeOnePercent(port: number): Promise<void> {
  const c = client(port);
  const p = c.pipeline();
  for (let i = 0; i < 3000; i += 100) p.set(`str:${i}`, `changed ${i} ${"y".repeat(i % 50)}`);
  await p.exec();
  c.disconnect();
}

describe("a second redis backup stores changed chunks against their previous version", () => {
  it("as zstd-ref frames; it restores byte-exact, also after prune keeps only it, and damage to a ref is caught", async () => {
    const { server, ws } = await sampleRedisWorkspace(cleanups, 3000, ["retention: {keepLast: 1}"]);
    const [first] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"]);
    expect((await frames(ws.repo)).some((f) => f.encoding === "zstd-ref")).toBe(false);

    await changeOnePercent(server.port);
    const [second] = await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"]);
    const dump = await fs.readFile(path.join(server.dir, "dump.rdb"));
    const refs = (await frames(ws.repo)).filter((f) => f.encoding === "zstd-ref");
    expect(refs.length).toBeGreaterThan(0);
    expect(second!.storedBytes).toBeLessThan(first!.storedBytes / 5);

    const out = path.join(ws.dir, "second.rdb");
    expect((await prs(ws, ["restore", "redis", "--snapshot", second!.id, "--to", out])).exitCode).toBe(0);
    expect((await fs.readFile(out)).equals(dump)).toBe(true);

    // The first snapshot goes; the chunks the second is stored against must stay.
    const pruned = await prsJson<{ deleted: string[] }>(ws, ["prune"]);
    expect(pruned.deleted).toEqual([first!.id]);
    const after = path.join(ws.dir, "after-prune.rdb");
    expect((await prs(ws, ["restore", "redis", "--to", after])).exitCode).toBe(0);
    expect((await fs.readFile(after)).equals(dump)).toBe(true);
    expect((await prs(ws, ["verify", "--all"])).exitCode).toBe(0);

    // A damaged ref chunk makes the chunks stored against it unreadable, and verify says so.
    const refId = refs[0]!.ref!;
    const refChunk = (await storedChunks(ws.repo)).find((c) => c.id === refId)!;
    await damageChunk(refChunk, 0xff);
    const verify = await prs(ws, ["verify", "--all", "--json"]);
    expect(verify.exitCode).toBe(3);
    // Its frame is damaged: the first chunk found unreadable in it is named.
    expect(verify.stdout).toMatch(/chunk [0-9a-f]{64} is damaged/);
    const bad = path.join(ws.dir, "bad.rdb");
    const refused = await prs(ws, ["restore", "redis", "--to", bad]);
    expect(refused.exitCode).toBe(1);
    // Named either directly or as the dictionary of a chunk stored against it.
    expect(refused.stderr).toMatch(
      /chunk [0-9a-f]{64} (is damaged|cannot be decoded: chunk [0-9a-f]{64} is damaged)/,
    );
    await expect(fs.stat(bad)).rejects.toThrow();
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { damageChunk, storedChunks } from "../../helpers/repo.js";
import { prs, prsJson, sampleRedisWorkspace, type SnapshotSummary } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("a damaged redis snapshot", () => {
  it("fails the drill and the restore, and never leaves a partial RDB behind", async () => {
    const { ws } = await sampleRedisWorkspace(cleanups, 100);
    await prsJson<SnapshotSummary[]>(ws, ["backup", "redis"]);

    // Damage the biggest chunk (RDB data, not the entry list).
    const biggest = (await storedChunks(ws.repo)).sort((a, b) => b.size - a.size)[0]!;
    await damageChunk(biggest, 0xff);

    const verify = await prs(ws, ["verify", "--deep", "--all", "--json"]);
    expect(verify.exitCode).toBe(3);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      drills: { ok: boolean; problems: string[] }[];
    };
    expect(report.ok).toBe(false);
    expect(report.drills[0]!.ok).toBe(false);
    expect(report.drills[0]!.problems.join(" ")).toMatch(/damaged/);

    const out = path.join(ws.dir, "out.rdb");
    const restore = await prs(ws, ["restore", "redis", "--to", out]);
    expect(restore.exitCode).toBe(1);
    expect(restore.stderr).toMatch(/^error: .*chunk [0-9a-f]{64} is damaged/m);
    expect(await fs.readdir(ws.dir)).not.toContain("out.rdb");
    expect((await fs.readdir(ws.dir)).filter((n) => n.includes("out.rdb"))).toEqual([]);
  });
});

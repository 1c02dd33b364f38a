import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cli, cliJson, workspace } from "../support/cli.js";
import { damageChunk, removeChunk, storedChunks, type StoredChunk } from "../helpers/repo.js";

interface VerifyJson {
  ok: boolean;
  checked: number;
  chunksChecked: number;
  chunksRead: number;
  mode: string;
  problems: { snapshot: string; target: string; message: string }[];
  drills?: {
    snapshot: string;
    target: string;
    ok: boolean;
    seconds: number;
    compared: Record<string, number>;
  }[];
  report: string[];
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function setup(): Promise<{ dir: string; src: string; config: string; snapshot: string }> {
  const ws = await workspace("{days: 30}");
  dirs.push(ws.dir);
  await cliJson(ws.config, "init");
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(ws.src, `f${i}.bin`), randomBytes(20_000));
  const [made] = await cliJson<{ id: string }[]>(ws.config, "backup");
  return { ...ws, snapshot: made!.id };
}

async function firstChunk(dir: string): Promise<StoredChunk> {
  const chunks = await storedChunks(path.join(dir, "repo"));
  return chunks.sort((a, b) => a.id.localeCompare(b.id))[0]!;
}

describe("verify", () => {
  it("reads new chunks once, then only what changed; --all re-reads everything", async () => {
    const { config } = await setup();
    const first = await cliJson<VerifyJson>(config, "verify");
    expect(first).toMatchObject({ ok: true, checked: 1, mode: "incremental" });
    expect(first.chunksRead).toBe(first.chunksChecked);
    const second = await cliJson<VerifyJson>(config, "verify");
    expect(second.chunksRead).toBe(0);
    expect(second.chunksChecked).toBe(first.chunksChecked);
    const all = await cliJson<VerifyJson>(config, "verify", "--all");
    expect(all.chunksRead).toBe(first.chunksChecked);
    expect(all.report[0]).toBe("✓ uploads: 1 snapshot(s) intact");
  });

  it("an incremental run still catches a chunk damaged after it was verified", async () => {
    const { dir, config, snapshot } = await setup();
    expect((await cli(config, "verify")).exitCode).toBe(0);
    const victim = await firstChunk(dir);
    await damageChunk(victim, 0x01);
    const r = await cli(config, "verify", "--json");
    expect(r.exitCode).toBe(3);
    const report = JSON.parse(r.stdout) as VerifyJson;
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ snapshot, target: "uploads" });
    expect(report.problems[0]!.message).toContain(victim.id);
    expect(r.stderr.trim().split("\n").pop()).toBe(`error: damaged snapshot(s): ${snapshot}`);
  });

  it("reports a missing chunk without reading anything (sample mode)", async () => {
    const { dir, config, snapshot } = await setup();
    await removeChunk(path.join(dir, "repo"), await firstChunk(dir));
    const r = await cli(config, "verify", "--sample", "1", "--json");
    expect(r.exitCode).toBe(3);
    const report = JSON.parse(r.stdout) as VerifyJson;
    expect(report.mode).toBe("sample");
    expect(report.problems.some((p) => p.snapshot === snapshot && /missing/.test(p.message))).toBe(true);
    expect((await cli(config, "verify", "--sample", "0")).exitCode).toBe(2);
  });

  it("--deep drills the newest snapshot of each target and compares file hashes", async () => {
    const { config, snapshot } = await setup();
    const report = await cliJson<VerifyJson>(config, "verify", "--deep");
    expect(report.drills).toHaveLength(1);
    expect(report.drills![0]).toMatchObject({
      snapshot,
      target: "uploads",
      ok: true,
      compared: { files: 20, bytes: 400_000 },
    });
    expect(report.report.some((l) => l.startsWith("✓ uploads: drill of"))).toBe(true);
  });
});

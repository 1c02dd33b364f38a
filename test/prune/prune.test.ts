import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, cli, cliJson, listing, readTree, workspace } from "../support/cli.js";
import { writeRandomFile } from "../helpers/tree.js";

interface Summary {
  id: string;
  startTime: string;
  storedBytes: number;
}
interface PruneJson {
  deleted: string[];
  kept: string[];
  reclaimedBytes: number;
  chunksDeleted: number;
  plan: { id: string; keep: boolean; reasons: string[] }[];
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function restoreAndRead(
  config: string,
  dir: string,
  src: string,
  id: string,
): Promise<Map<string, string>> {
  const to = path.join(dir, `restore-${id}`);
  await fs.rm(to, { recursive: true, force: true });
  const r = await cli(config, "restore", "uploads", "--snapshot", id, "--to", to);
  expect(r.exitCode, r.stderr).toBe(0);
  return readTree(path.join(to, src));
}

describe("prune", () => {
  it("keepLast 2 of 4: dry run changes nothing; prune deletes the 2 oldest, reclaims only their unique data, kept ones restore", async () => {
    const { dir, src, config } = await workspace("{keepLast: 2}");
    dirs.push(dir);
    await cliJson(config, "init");
    // Large enough to be a chunk object of its own (smaller chunks share packs with the
    // changing file); seeded, so where the chunker cuts it is the same every run.
    await writeRandomFile(path.join(src, "shared.bin"), 700_000, "shared");
    const states: Map<string, string>[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      await fs.writeFile(path.join(src, "changing.bin"), randomBytes(200_000 + i));
      const [made] = await cliJson<Summary[]>(config, "backup", "uploads");
      ids.push(made!.id);
      states.push(await readTree(src));
    }
    const repo = path.join(dir, "repo");
    const stored = async () =>
      (
        await Promise.all(["snapshots", "data", "packs", "index"].map((d) => listing(path.join(repo, d))))
      ).join("");
    const before = await stored();

    const plan = await cliJson<PruneJson>(config, "prune", "--dry-run");
    expect(plan.deleted.sort()).toEqual([ids[0], ids[1]].sort());
    expect(plan.kept.sort()).toEqual([ids[2], ids[3]].sort());
    expect(plan.plan.find((p) => p.id === ids[0])!.reasons[0]).toMatch(/kept by no rule/);
    expect(plan.plan.find((p) => p.id === ids[3])!.reasons).toContain("newest good snapshot");
    expect(await stored()).toBe(before);

    const done = await cliJson<PruneJson>(config, "prune");
    expect(done.deleted.sort()).toEqual(plan.deleted.sort());
    expect(done.reclaimedBytes).toBe(plan.reclaimedBytes);
    // Two unique 200 kB incompressible files (plus their small entry lists) went; the shared file stayed.
    expect(done.reclaimedBytes).toBeGreaterThan(400_000);
    expect(done.reclaimedBytes).toBeLessThan(450_000);
    const listed = await cliJson<Summary[]>(config, "list");
    expect(listed.map((s) => s.id).sort()).toEqual([ids[2], ids[3]].sort());
    expect(await restoreAndRead(config, dir, src, ids[2]!)).toEqual(states[2]);
    expect(await restoreAndRead(config, dir, src, ids[3]!)).toEqual(states[3]);
    expect((await cli(config, "verify")).exitCode).toBe(0);
    const again = await cliJson<PruneJson>(config, "prune");
    expect(again).toMatchObject({ deleted: [], chunksDeleted: 0, reclaimedBytes: 0 });
  });

  it("never deletes the only good snapshot, even when everything is older than the age limit", async () => {
    const { dir, src, config } = await workspace("{days: 30}");
    dirs.push(dir);
    await cliJson(config, "init");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await fs.writeFile(path.join(src, "f.txt"), `version ${i}`);
      ids.push((await cliJson<Summary[]>(config, "backup"))[0]!.id);
    }
    // Age every snapshot by two years, as if backups had stopped long ago.
    for (const id of ids) {
      const file = path.join(dir, "repo", "snapshots", `${id}.json`);
      const m = JSON.parse(await fs.readFile(file, "utf8")) as { startTime: string; endTime: string };
      m.startTime = m.startTime.replace(/^2\d{3}/, (y) => String(Number(y) - 2));
      m.endTime = m.endTime.replace(/^2\d{3}/, (y) => String(Number(y) - 2));
      await fs.writeFile(file, JSON.stringify(m));
    }
    const done = await cliJson<PruneJson>(config, "prune");
    expect(done.kept).toEqual([ids[2]]);
    expect((await restoreAndRead(config, dir, src, ids[2]!)).get("f.txt")).toBe("version 2");
  });

  it("a backup racing a prune loses nothing", async () => {
    const { dir, src, config } = await workspace("{keepLast: 1}");
    dirs.push(dir);
    await cliJson(config, "init");
    for (let i = 0; i < 40; i++) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytes(500_000));
    await cliJson(config, "backup");
    for (let i = 0; i < 40; i += 2) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytes(500_000));
    await cliJson(config, "backup");
    for (let i = 0; i < 40; i += 3) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytes(500_000));
    const expected = await readTree(src);
    const [backup, prune] = await Promise.all([
      cli(config, "backup", "--json"),
      cli(config, "prune", "--json"),
    ]);
    expect(backup.exitCode, backup.stderr).toBe(0);
    expect(prune.exitCode, prune.stderr).toBe(0);
    const made = (JSON.parse(backup.stdout) as Summary[])[0]!;
    expect((await cli(config, "verify")).exitCode).toBe(0);
    expect(await restoreAndRead(config, dir, src, made.id)).toEqual(expected);
  });

  it("kill -9 of prune at any point leaves kept snapshots restorable, and the next prune finishes", async () => {
    const { dir, src, config } = await workspace("{keepLast: 1}");
    dirs.push(dir);
    await cliJson(config, "init");
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 150; i++) await fs.writeFile(path.join(src, `f${i}.bin`), randomBytes(4_000));
      await cliJson(config, "backup");
    }
    const expected = await readTree(src);
    const newest = (await cliJson<Summary[]>(config, "list"))[0]!.id;
    for (const delayMs of [150, 300, 450]) {
      const child = execa(process.execPath, [CLI, "--config", config, "prune"], { reject: false });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill("SIGKILL");
      await child;
      expect((await cli(config, "verify")).exitCode).toBe(0);
      expect(await restoreAndRead(config, dir, src, newest)).toEqual(expected);
    }
    const finished = await cliJson<PruneJson>(config, "prune");
    expect(finished.kept).toEqual([newest]);
    const after = await cliJson<PruneJson>(config, "prune", "--dry-run");
    expect(after.chunksDeleted).toBe(0);
    expect(await restoreAndRead(config, dir, src, newest)).toEqual(expected);
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneErrorLine, runCli, type SnapshotJson, type VerifyJson } from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { tempFiles } from "../helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import { snapshotTree, writeRandomFile } from "../helpers/tree.js";

/**
 * A files backup whose repository fills up: the worker threads' pack writes fail first
 * (small files go into packs the workers write themselves). The backup must fail with one
 * clear line and leave no snapshot; once there is room, the next backup must work.
 */
let ws: string;
let src: string;
let repo: string;
let config: string;
let mounted = false;

const cli = (...args: string[]) => runCli(["--config", config, ...args], { cwd: ws });

beforeAll(async () => {
  ws = await makeTempDir();
  src = path.join(ws, "uploads");
  repo = path.join(ws, "repo");
  // 6 MB of incompressible small files (each one chunk, so each a frame of a worker's pack).
  for (let d = 0; d < 4; d++) {
    await fs.mkdir(path.join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < 75; f++) await writeRandomFile(path.join(src, `d${d}`, `f${f}.bin`), 20_000);
  }
  await fs.mkdir(repo);
  // A 2 MB file system: room for the repository's skeleton and a few packs, not for the tree.
  const mount = await execa("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", repo], {
    reject: false,
  });
  mounted = mount.exitCode === 0;
  config = await writeConfig(path.join(ws, "prs-backup.yaml"), {
    repository: repo,
    targets: { uploads: { paths: [src] } },
  });
});

afterAll(async () => {
  if (mounted) await execa("umount", [repo], { reject: false });
  await removeTempDirs();
});

describe("a full repository disk during a files backup", () => {
  it("fails the backup with one clear line and leaves no snapshot", async (ctx) => {
    if (!mounted) ctx.skip("cannot mount a small tmpfs here (needs root)");
    expect((await cli("init")).exitCode).toBe(0);
    const r = await cli("backup", "uploads");
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toMatch(/no space left on device/);
    expect((await cli("list", "--json")).json<unknown[]>()).toEqual([]);
    // The packs the workers were filling are removed at once: the next run needs the room.
    expect(await tempFiles(repo, "packs")).toEqual([]);
  });

  it("once there is room, backs up, verifies and restores the tree exactly", async (ctx) => {
    if (!mounted) ctx.skip("cannot mount a small tmpfs here (needs root)");
    const grown = await execa("mount", ["-o", "remount,size=64m", repo], { reject: false });
    expect(grown.exitCode, grown.stderr).toBe(0);
    const r = await cli("backup", "uploads", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const [snapshot] = r.json<SnapshotJson[]>();
    expect(snapshot).toMatchObject({ target: "uploads", status: "complete" });
    const verify = await cli("verify", "--json");
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.json<VerifyJson>().ok).toBe(true);
    const out = path.join(ws, "out");
    const restored = await cli("restore", "uploads", "--to", out);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(await snapshotTree(path.join(out, src))).toEqual(await snapshotTree(src));
  });
});

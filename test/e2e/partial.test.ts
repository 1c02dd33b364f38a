import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectOneErrorLine,
  runCli,
  type RunOptions,
  type SnapshotJson,
  type VerifyJson,
} from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import { snapshotTree, type TreeEntry } from "../helpers/tree.js";

/**
 * Root reads a mode-000 file, and the tests run as root here: then the CLI runs as
 * `nobody` on a workspace nobody owns, except one root-owned 0600 file. Run as another
 * user, the tests make the file unreadable with chmod 000 instead.
 */
const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65_534;
const as: RunOptions = AS_ROOT ? { user: "nobody" } : {};

let ws: string;
let src: string;
let config: string;
let unreadable: string;

const cli = (...args: string[]) => runCli(["--config", config, ...args], { ...as, cwd: ws });

/** Makes a path ours-for-the-CLI: owned by nobody when running as root. */
async function handOver(p: string): Promise<void> {
  if (AS_ROOT) await fs.lchown(p, NOBODY, NOBODY);
}

async function handOverTree(dir: string): Promise<void> {
  await handOver(dir);
  for (const name of await fs.readdir(dir, { recursive: true })) await handOver(path.join(dir, name));
}

async function makeUnreadable(file: string): Promise<void> {
  if (AS_ROOT) {
    await fs.chown(file, 0, 0);
    await fs.chmod(file, 0o600);
  } else {
    await fs.chmod(file, 0o000);
  }
}

async function makeReadable(file: string): Promise<void> {
  await handOver(file);
  await fs.chmod(file, 0o644);
}

/** The tree as `snapshotTree` sees it, without the unreadable file. */
function without(state: TreeEntry[], rel: string): TreeEntry[] {
  return state.filter((e) => e.path !== rel);
}

beforeAll(async () => {
  ws = await makeTempDir();
  src = path.join(ws, "src");
  await fs.mkdir(path.join(src, "reports/2026"), { recursive: true });
  await fs.writeFile(path.join(src, "readable.txt"), "anyone may read this\n");
  await fs.writeFile(path.join(src, "reports/2026/q1.csv"), "quarter,revenue\nq1,100\n");
  unreadable = path.join(src, "reports/2026/locked.csv");
  await fs.writeFile(unreadable, "quarter,secret\nq2,999\n");
  config = await writeConfig(path.join(ws, "prs-backup.yaml"), {
    repository: path.join(ws, "repo"),
    targets: { reports: { paths: [src] } },
  });
  await fs.chmod(ws, 0o755);
  await handOverTree(ws);
  await makeUnreadable(unreadable);
  const init = await cli("init");
  expect(init.exitCode, init.stderr).toBe(0);
});

afterAll(removeTempDirs);

describe("an unreadable file", () => {
  let partial: SnapshotJson;
  let stateAtPartial: TreeEntry[];

  it("makes the snapshot partial and the backup exit 1 naming the file", async () => {
    stateAtPartial = await snapshotTree(src);
    const r = await cli("backup", "--json");
    expect(r.exitCode).toBe(1);
    const line = expectOneErrorLine(r.stderr);
    expect(line).toContain(unreadable);
    expect(line).toMatch(/partial/);
    const made = r.json<SnapshotJson[]>();
    expect(made).toHaveLength(1);
    partial = made[0]!;
    expect(partial).toMatchObject({ target: "reports", status: "partial" });
    // Only the readable files' bytes are in it.
    expect(partial.sourceBytes).toBe(
      without(stateAtPartial, "reports/2026/locked.csv").reduce((n, e) => n + (e.size ?? 0), 0),
    );
  });

  it("shows as partial in list --json and names the file in show", async () => {
    const listed = await cli("list", "--json");
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.json<SnapshotJson[]>()).toEqual([partial]);
    const shown = await cli("show", partial.id, "--json");
    expect(shown.exitCode, shown.stderr).toBe(0);
    const problems = shown.json<{ problems: { path?: string; message: string }[] }>().problems;
    expect(problems).toEqual([
      { path: unreadable, message: expect.stringMatching(/permission denied/) as string },
    ]);
  });

  it("is not what `restore` picks by default, but restores everything else when named", async () => {
    const none = await cli("restore", "reports", "--to", path.join(ws, "out-latest"));
    expect(none.exitCode).toBe(1);
    expect(expectOneErrorLine(none.stderr)).toMatch(/no complete snapshot/);
    const out = path.join(ws, "out-partial");
    const r = await cli("restore", "reports", "--snapshot", partial.id, "--to", out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await snapshotTree(path.join(out, src))).toEqual(
      without(stateAtPartial, "reports/2026/locked.csv"),
    );
  });

  it("is intact data: verify passes", async () => {
    const r = await cli("verify", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json<VerifyJson>()).toMatchObject({ ok: true, checked: 1 });
  });

  it("once readable again, the next backup is complete and restores exactly", async () => {
    await makeReadable(unreadable);
    const state = await snapshotTree(src);
    const r = await cli("backup", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const [complete] = r.json<SnapshotJson[]>();
    expect(complete).toMatchObject({ status: "complete", target: "reports" });
    const listed = (await cli("list", "--json")).json<SnapshotJson[]>();
    expect(listed.map((s) => [s.id, s.status])).toEqual([
      [complete!.id, "complete"],
      [partial.id, "partial"],
    ]);
    const out = path.join(ws, "out-complete");
    const restored = await cli("restore", "reports", "--to", out);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(await snapshotTree(path.join(out, src))).toEqual(state);
  });
});

describe("an unreadable directory", () => {
  it("makes the snapshot partial, naming the directory, and keeps the rest", async () => {
    const closed = path.join(src, "closed");
    await fs.mkdir(closed);
    await fs.writeFile(path.join(closed, "inside.txt"), "cannot be listed\n");
    if (AS_ROOT)
      await fs.chmod(closed, 0o700); // root-owned: nobody cannot list it
    else await fs.chmod(closed, 0o000);
    const r = await cli("backup", "--json");
    expect(r.exitCode).toBe(1);
    expect(expectOneErrorLine(r.stderr)).toContain(closed);
    const [made] = r.json<SnapshotJson[]>();
    expect(made!.status).toBe("partial");
    const shown = (await cli("show", made!.id, "--json")).json<{ problems: { path?: string }[] }>();
    expect(shown.problems.map((p) => p.path)).toEqual([closed]);
    await fs.chmod(closed, 0o755);
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, runOk, startCli, type SnapshotJson, type VerifyJson } from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { chunkFiles, lockFiles, tempFiles } from "../helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import {
  makeBulkTree,
  snapshotTree,
  writeRandomFile,
  type BulkTree,
  type TreeEntry,
} from "../helpers/tree.js";

const LARGE_BYTES = 40 * 1024 * 1024;
const TIMEOUT = 10 * 60_000;

let ws: string;
let src: string;
let repo: string;
let config: string;
let tree: BulkTree;
/** The source as it was when each complete snapshot was taken. */
const stateOf = new Map<string, TreeEntry[]>();
/** Complete snapshots, oldest first. */
const snapshots: string[] = [];
let round = 0;

const cli = (...args: string[]) => runCli(["--config", config, ...args]);
const ok = (...args: string[]) => runOk(["--config", config, ...args]);

/** Commands of the direct children of `pid` (e.g. "sync" while a commit makes chunks durable). */
async function childCommands(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const task of await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const children = await fs.readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "");
    for (const child of children.split(" ").filter(Boolean)) {
      out.push((await fs.readFile(`/proc/${child}/comm`, "utf8").catch(() => "")).trim());
    }
  }
  return out;
}

async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  running: () => boolean,
): Promise<void> {
  for (;;) {
    if (await condition()) return;
    if (!running()) throw new Error(`the backup ended before ${what}`);
    await sleep(2);
  }
}

/** Changes the data so that a backup has ~130 MB of new content to read and store. */
async function mutate(): Promise<void> {
  round += 1;
  for (const [i, file] of tree.largeFiles.entries())
    await writeRandomFile(file, LARGE_BYTES, `r${round}-${i}`);
  for (const file of tree.smallFiles.filter((_, i) => i % 10 === round % 10)) {
    await fs.appendFile(file, `round ${round}\n`);
  }
}

/** A complete backup of the current source, remembered with the source's state. */
async function backupComplete(): Promise<{ id: string; stderr: string }> {
  const state = await snapshotTree(src);
  const r = await ok("backup", "--json");
  const [made] = r.json<SnapshotJson[]>();
  expect(made!.status).toBe("complete");
  stateOf.set(made!.id, state);
  snapshots.push(made!.id);
  return { id: made!.id, stderr: r.stderr };
}

async function expectRestoresExactly(id: string): Promise<void> {
  const out = path.join(ws, `out-${id}`);
  await fs.rm(out, { recursive: true, force: true }); // left by an earlier failed comparison
  await ok("restore", "src", "--snapshot", id, "--to", out);
  expect(await snapshotTree(path.join(out, src)), `snapshot ${id}`).toEqual(stateOf.get(id));
  await fs.rm(out, { recursive: true, force: true });
}

interface Moment {
  name: string;
  /** Resolves when it is time to kill; the backup holds its lock by then. */
  reached: (pid: number, running: () => boolean, tempsBefore: number) => Promise<void>;
}

/**
 * Object writes not yet committed: each backup round writes ~120 chunk objects (~120 MB of
 * large files) and a pack with its index (300 changed small files).
 */
const chunkTemps = async () =>
  (await tempFiles(repo, "data")).length +
  (await tempFiles(repo, "packs")).length +
  (await tempFiles(repo, "index")).length;

/** When the backup has written `n` new objects (still under temp names, as they are until the commit). */
const afterChunks =
  (n: number) =>
  (_pid: number, running: () => boolean, tempsBefore: number): Promise<void> =>
    waitFor(`${n} objects were written`, async () => (await chunkTemps()) >= tempsBefore + n, running);

/** Kill moments spread over a backup: by progress, not by the clock, so a loaded machine does not shift them. */
const MOMENTS: Moment[] = [
  { name: "as soon as it holds the lock", reached: () => Promise.resolve() },
  { name: "as it writes its first chunk", reached: afterChunks(1) },
  { name: "early among the files (30 objects written)", reached: afterChunks(30) },
  { name: "deep inside the large files (90 objects written)", reached: afterChunks(90) },
  {
    name: "while committing (chunks being made durable or renamed into place)",
    reached: async (pid, running) => {
      const before = (await chunkFiles(repo)).length;
      await waitFor(
        "its commit",
        async () => (await childCommands(pid)).includes("sync") || (await chunkFiles(repo)).length > before,
        running,
      );
    },
  },
];

beforeAll(async () => {
  ws = await makeTempDir();
  src = path.join(ws, "src");
  repo = path.join(ws, "repo");
  tree = await makeBulkTree(src, { smallFiles: 3000, largeFiles: 3, largeBytes: LARGE_BYTES });
  config = await writeConfig(path.join(ws, "prs-backup.yaml"), {
    repository: repo,
    targets: { src: { paths: [src] } },
  });
  await ok("init");
  await backupComplete();
}, TIMEOUT);

afterAll(removeTempDirs);

describe("kill -9 during backup (~210 MB source)", () => {
  it("the source is as large as promised", () => {
    const state = stateOf.get(snapshots[0]!)!;
    const bytes = state.reduce((n, e) => n + (e.size ?? 0), 0);
    expect(bytes).toBeGreaterThan(190 * 1024 * 1024);
    expect(state.filter((e) => e.type === "file").length).toBeGreaterThan(3000);
  });

  for (const moment of MOMENTS) {
    it(
      `leaves every earlier snapshot intact when killed ${moment.name}`,
      async () => {
        await mutate();
        const listedBefore = (await ok("list", "--json")).json<SnapshotJson[]>();
        const tempsBefore = await chunkTemps();
        const child = startCli(["--config", config, "backup"]);
        let running = true;
        void child.finally(() => (running = false));
        await waitFor(
          "taking its lock",
          async () => (await lockFiles(repo)).length > 0,
          () => running,
        );
        await moment.reached(child.pid!, () => running, tempsBefore);
        child.kill("SIGKILL");
        const killed = await child;
        expect(killed.signal, `the backup finished before it could be killed:\n${killed.stderr}`).toBe(
          "SIGKILL",
        );

        // Nothing half-made is listed; the killed run's lock is still there, stale.
        expect((await ok("list", "--json")).json<SnapshotJson[]>()).toEqual(listedBefore);
        expect(await lockFiles(repo)).toHaveLength(1);

        // The next backup removes the stale lock (saying so), succeeds, and restores exactly.
        const next = await backupComplete();
        expect(next.stderr).toMatch(new RegExp(`stale .*pid ${child.pid}`));
        expect(await lockFiles(repo)).toEqual([]);

        // The snapshot made just before the kill restores exactly (the new one is checked in
        // the next round, the first and the last at the end), and everything verifies.
        await expectRestoresExactly(snapshots.at(-2)!);
        const verify = await cli("verify", "--json");
        expect(verify.exitCode, verify.stderr).toBe(0);
        expect(verify.json<VerifyJson>()).toMatchObject({
          ok: true,
          checked: snapshots.length,
          problems: [],
        });
      },
      TIMEOUT,
    );
  }

  it(
    "after all the kills, the first and last snapshots restore exactly and all of them verify in full",
    async () => {
      const listed = (await ok("list", "--json")).json<SnapshotJson[]>();
      expect(listed.map((s) => s.id)).toEqual([...snapshots].reverse());
      expect(listed.every((s) => s.status === "complete")).toBe(true);
      await expectRestoresExactly(snapshots[0]!);
      await expectRestoresExactly(snapshots.at(-1)!);
      const verify = await cli("verify", "--all", "--json");
      expect(verify.exitCode, verify.stderr).toBe(0);
      expect(verify.json<VerifyJson>().checked).toBe(MOMENTS.length + 1);
    },
    TIMEOUT,
  );
});

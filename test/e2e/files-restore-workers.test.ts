import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneErrorLine, runCli, runOk } from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import { makeBulkTree, snapshotTree, type TreeEntry } from "../helpers/tree.js";

// Files restores write through worker threads (src/engines/files/write-pool.ts) in batches
// of 32 files: these trees span many batches, frames shared across batches, and chunk objects.
let ws: string;
let src: string;
let single: string;
let config: string;
let state: TreeEntry[];

const ok = (...args: string[]) => runOk(["--config", config, ...args]);

beforeAll(async () => {
  ws = await makeTempDir();
  src = path.join(ws, "bulk");
  await makeBulkTree(src, { smallFiles: 400, largeFiles: 2, largeBytes: 3 * 1024 * 1024 + 17 });
  await fs.mkdir(path.join(src, "empty"));
  await fs.symlink("d00/file-0.log", path.join(src, "link"));
  single = path.join(src, "d01", "file-1.bin");
  config = await writeConfig(path.join(ws, "prs-backup.yaml"), {
    repository: path.join(ws, "repo"),
    targets: {
      one: { paths: [src], threads: 1 },
      three: { paths: [src], threads: 3 },
      single: { paths: [single] },
    },
  });
  await ok("init");
  state = await snapshotTree(src);
  await ok("backup", "one");
  await ok("backup", "three");
  await ok("backup", "single");
}, 120_000);

afterAll(removeTempDirs);

describe("files restore through worker threads", () => {
  for (const target of ["one", "three"]) {
    it(`restores a tree of ${target} thread(s) exactly and counts every entry`, async () => {
      const out = path.join(ws, `out-${target}`);
      const r = await ok("restore", target, "--to", out, "--json");
      expect(await snapshotTree(path.join(out, src))).toEqual(state);
      const summary = r.json<{ snapshot: string; entries: number; bytes: number }>();
      const shown = (await ok("show", summary.snapshot, "--json")).json<{ entries: number }>();
      expect(summary.entries).toBe(shown.entries);
      expect(summary.bytes).toBe(state.reduce((n, e) => n + (e.type === "file" ? e.size! : 0), 0));
    });
  }

  it("restores a configured path that is a single file, making its parent directories", async () => {
    const out = path.join(ws, "out-single");
    await ok("restore", "single", "--to", out);
    expect(await fs.readFile(path.join(out, single))).toEqual(await fs.readFile(single));
    const mtimeUs = async (f: string) => (await fs.stat(f, { bigint: true })).mtimeNs / 1000n;
    expect(await mtimeUs(path.join(out, single))).toBe(await mtimeUs(single));
  });

  it("a file that cannot be written fails the restore with one line naming it", async () => {
    // Directories fit in PATH_MAX (4096) but a file's name beside them does not: the
    // failure happens in a worker thread and must reach the user as the same one line.
    const dirLength = 4090;
    let out = path.join(ws, "out-long");
    const wanted = dirLength - src.length - "/d00".length;
    while (out.length < wanted) out = path.join(out, "n".repeat(Math.min(200, wanted - out.length - 1)));
    expect(path.join(out, src, "d00").length).toBe(dirLength);
    const r = await runCli(["--config", config, "restore", "one", "--to", out]);
    expect(r.exitCode).toBe(1);
    const line = expectOneErrorLine(r.stderr);
    expect(line).toMatch(new RegExp(`cannot restore ${src}/(d\\d\\d|large)/`));
    expect(line).toContain("ENAMETOOLONG");
  });
});

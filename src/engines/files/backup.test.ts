import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDirs } from "../../../test/helpers/temp-dir.js";
import { LocalBackend } from "../../repo/backends/local.js";
import { Repository } from "../../repo/repository.js";
import type { Entry, SnapshotManifest } from "../../repo/snapshot.js";
import { SnapshotWriter } from "../../repo/snapshot-writer.js";
import { silentLogger } from "../../util/logger.js";
import { noProgress } from "../../util/progress.js";
import { backupFiles } from "./backup.js";
import type { FilesTarget } from "./target.js";

let dir: string;
let tree: string;
let repo: Repository;
let target: FilesTarget;

beforeEach(async () => {
  dir = await makeTempDir("prs-files-backup-");
  tree = path.join(dir, "tree");
  await fs.mkdir(path.join(tree, "sub"), { recursive: true });
  await fs.writeFile(path.join(tree, "a.txt"), "alpha\n".repeat(1000));
  await fs.writeFile(path.join(tree, "sub", "b.bin"), Buffer.alloc(70_000, 7));
  await fs.writeFile(path.join(tree, "sub", "c.txt"), "gamma\n");
  repo = (await Repository.init(new LocalBackend(path.join(dir, "repo")))).repo;
  target = { name: "uploads", type: "files", paths: [tree], threads: 1 };
});
afterEach(removeTempDirs);

/** One files backup into `repo`, committed; returns its manifest. */
async function backup(parent?: SnapshotManifest): Promise<SnapshotManifest> {
  const writer = new SnapshotWriter(repo, { target: "uploads", type: "files" });
  const result = await backupFiles(target, {
    repo,
    writer,
    logger: silentLogger,
    progress: noProgress,
    env: {},
    ...(parent ? { parent } : {}),
  });
  return writer.commit({ sourceBytes: result.sourceBytes, metadata: result.metadata });
}

async function lines(manifest: SnapshotManifest): Promise<string[]> {
  const out: string[] = [];
  for await (const { line } of repo.snapshots.storedEntries(manifest)) out.push(line);
  return out;
}

describe("files backup: unchanged files", () => {
  it("write the parent's entry lines again as they were: the entry list dedups whole", async () => {
    const first = await backup();
    const second = await backup(first);
    expect(second.metadata).toMatchObject({ readFiles: 0, reusedFiles: 3 });
    expect(await lines(second)).toEqual(await lines(first));
    expect(second.entries.chunks).toEqual(first.entries.chunks);
    expect(second.storedBytes).toBe(0);
  });

  it("are written anew when the parent's entry holds a field this version does not write", async () => {
    const first = await backup();
    // The same snapshot as an older version might have written it: one more field per file.
    const writer = new SnapshotWriter(repo, { target: "uploads", type: "files" });
    for await (const entry of repo.snapshots.entries(first)) {
      await writer.addEntry(entry.type === "file" ? ({ ...entry, legacy: true } as Entry) : entry);
    }
    const older = await writer.commit({ sourceBytes: first.sourceBytes, metadata: first.metadata });
    expect((await lines(older)).filter((l) => l.includes('"legacy":true'))).toHaveLength(3);

    const next = await backup(older);
    expect(next.metadata).toMatchObject({ readFiles: 0, reusedFiles: 3 });
    expect(await lines(next)).toEqual(await lines(first));
  });
});

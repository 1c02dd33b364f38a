import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { packFiles, seeded } from "../../test/helpers/repo.js";
import { tempPathFor } from "../util/fs.js";
import { LocalBackend } from "./backends/local.js";
import { packIndexKey } from "./pack-format.js";
import { Repository } from "./repository.js";
import { SnapshotWriter } from "./snapshot-writer.js";

let dir: string;
let repoDir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-catalog-table-"));
  repoDir = path.join(dir, "repo");
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh process's view of the repository, with this machine's cache in `dir/cache`. */
const reopen = (): Promise<Repository> =>
  Repository.open(new LocalBackend(repoDir), { cacheDirectory: path.join(dir, "cache") });
async function tableFile(): Promise<string> {
  return path.join(dir, "cache", (await reopen()).header.id, "catalog-table");
}

/** One backup of one small file, as a backup does it (index loaded first): one new pack. */
async function backupOne(seed: string): Promise<string[]> {
  const repo = await reopen();
  await repo.chunks.loadIndex();
  const writer = new SnapshotWriter(repo, { target: "t", type: "files" });
  const { chunks } = await writer.storeBuffer(seeded(seed, 30_000));
  await writer.addEntry({ path: `/${seed}`, type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeNs: "1" });
  await writer.commit({ sourceBytes: 0, metadata: {} });
  return chunks;
}

/** Everything a catalog knows, to compare two catalogs. */
async function contents(repo: Repository, fromIndexes: boolean) {
  const catalog = fromIndexes ? await repo.chunks.packsFromIndexes() : await repo.chunks.packs();
  return {
    fromSavedTable: catalog.fromSavedTable,
    // Packs are added in the order they were read or written: compare what, not in which order.
    chunks: [...catalog.chunks].sort(([a], [b]) => a.localeCompare(b)),
    packs: [...catalog.packs.values()]
      .map((p) => ({ id: p.id, size: p.size, indexSize: p.indexSize, index: p.index }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}

describe("the saved chunk table", () => {
  it("is saved once eight packs are not in it, and then loads the same catalog as the pack indexes", async () => {
    await Repository.init(new LocalBackend(repoDir));
    const files: string[][] = [];
    for (let i = 0; i < 7; i++) files.push(await backupOne(`f${i}`));
    await expect(fs.access(await tableFile())).rejects.toThrow(); // seven packs: read one by one
    files.push(await backupOne("f7"));
    await fs.access(await tableFile()); // the eighth backup saved it, its own pack included

    const fromTable = await contents(await reopen(), false);
    const fromIndexes = await contents(await reopen(), true);
    expect(fromTable.fromSavedTable).toBe(true);
    expect(fromIndexes.fromSavedTable).toBe(false);
    expect(fromTable.packs).toHaveLength(8);
    expect({ ...fromTable, fromSavedTable: false }).toEqual(fromIndexes);
    const repo = await reopen();
    for (const [i, chunks] of files.entries()) {
      const read = Buffer.concat(await Promise.all(chunks.map((id) => repo.chunks.get(id))));
      expect(read.equals(seeded(`f${i}`, 30_000))).toBe(true);
    }

    // A pack written after the table is read from its index, beside the table.
    const later = await backupOne("later");
    const withLater = await reopen();
    const catalog = await withLater.chunks.packs();
    expect(catalog.fromSavedTable).toBe(true);
    expect(catalog.packs.size).toBe(9);
    expect(later.every((id) => catalog.chunks.has(id))).toBe(true);
  });

  it("is not used when a pack it covers is gone, damaged, or when it is damaged itself", async () => {
    await Repository.init(new LocalBackend(repoDir));
    for (let i = 0; i < 8; i++) await backupOne(`g${i}`);
    const saved = await fs.readFile(await tableFile());

    // Its own bytes damaged: ignored, the pack indexes are read.
    const damaged = Buffer.from(saved);
    damaged[damaged.length >> 1]! ^= 0x01;
    await fs.writeFile(await tableFile(), damaged);
    expect((await (await reopen()).chunks.packs()).fromSavedTable).toBe(false);
    expect((await (await reopen()).chunks.packs()).packs.size).toBe(8);
    await fs.writeFile(await tableFile(), saved);

    // A covered pack deleted (a prune): the table would claim its chunks; it is not used.
    const [gone] = await packFiles(repoDir);
    const goneBytes = await fs.readFile(gone!);
    await fs.rm(gone!);
    const without = await (await reopen()).chunks.packs();
    expect(without.fromSavedTable).toBe(false);
    expect(without.packs.size).toBe(7);
    expect(without.packs.has(path.basename(gone!))).toBe(false);
    await fs.writeFile(gone!, goneBytes);

    // A covered pack's index object damaged: a backup may use the table, verify and prune
    // read the index objects and find it (rebuilt from the pack's trailer).
    const indexFile = path.join(repoDir, ...packIndexKey(path.basename(gone!)).split("/"));
    const index = await fs.readFile(indexFile);
    index.fill(0x55, 0, index.length);
    await fs.writeFile(indexFile, index);
    const repo = await reopen();
    expect((await repo.chunks.packs()).fromSavedTable).toBe(true);
    const checked = await repo.chunks.packsFromIndexes();
    expect(checked.fromSavedTable).toBe(false);
    expect([...checked.rebuilt]).toEqual([path.basename(gone!)]);
  });
});

describe("the cache directory", () => {
  it("is the configured one, else under XDG_CACHE_HOME, else under ~/.cache, else none", async () => {
    const { cacheDirectoryFor } = await import("./open.js");
    expect(cacheDirectoryFor({ path: "/r", cacheDirectory: "/c" }, { HOME: "/home/x" })).toBe("/c");
    expect(cacheDirectoryFor({ path: "/r" }, { XDG_CACHE_HOME: "/xdg", HOME: "/home/x" })).toBe(
      "/xdg/prs-backup",
    );
    expect(cacheDirectoryFor({ path: "/r" }, { HOME: "/home/x" })).toBe("/home/x/.cache/prs-backup");
    expect(cacheDirectoryFor({ path: "/r" }, {})).toBeUndefined();
  });

  it("holds nothing of a repository whose id is not what init makes", async () => {
    await Repository.init(new LocalBackend(repoDir));
    const header = JSON.parse(await fs.readFile(path.join(repoDir, "repository.json"), "utf8")) as {
      id: string;
    };
    header.id = "../../escape";
    await fs.writeFile(path.join(repoDir, "repository.json"), JSON.stringify(header));
    for (let i = 0; i < 8; i++) await backupOne(`h${i}`);
    await expect(fs.readdir(path.join(dir, "cache"))).rejects.toThrow();
    // Where the id would have led, had it been used as a folder name.
    await expect(fs.access(path.join(path.dirname(dir), "escape"))).rejects.toThrow();
  });

  it("removes the temp files a killed run left behind, not one another run may be writing", async () => {
    const { SavedTable } = await import("./catalog-table.js");
    const file = path.join(dir, "cache", "0".repeat(32), "catalog-table");
    await fs.mkdir(path.dirname(file), { recursive: true });
    const old = tempPathFor(file);
    const fresh = tempPathFor(file);
    await fs.writeFile(old, "left by a killed run");
    await fs.writeFile(fresh, "being written");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(old, twoHoursAgo, twoHoursAgo);
    await new SavedTable(file).write(Buffer.from("table"));
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(
      ["catalog-table", path.basename(fresh)].sort(),
    );
    expect(await fs.readFile(file, "utf8")).toBe("table");
  });
});

import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decompress } from "zstd-napi";
import { cli, cliJson, readTree, workspace } from "../support/cli.js";
import { chunkFiles, packFiles, repoState, storedChunks } from "../helpers/repo.js";
import { writeRandomFile } from "../helpers/tree.js";
import { PackCatalog } from "../../src/repo/pack-catalog.js";
import { planPackPrune, REPACK_LIVE_RATIO } from "../../src/ops/prune-packs.js";

/**
 * Prune and packs (repository format 2): a pack none of whose chunks a kept snapshot
 * needs is deleted with its index; a pack with less than half of its chunk bytes still
 * needed is rewritten (live chunks into a new pack, the old one deleted); packs without
 * an index and indexes without a pack are deleted. Files below 512 KiB are one chunk each
 * and packed, one frame per file; a seeded 700 kB file is one loose chunk object.
 */

interface Summary {
  id: string;
}
interface PruneJson {
  dryRun: boolean;
  deleted: string[];
  kept: string[];
  reclaimedBytes: number;
  chunksDeleted: number;
}
interface VerifyJson {
  ok: boolean;
  chunksChecked: number;
  chunksRead: number;
  problems: unknown[];
}
interface Manifest {
  entries: { chunks: string[] };
}
interface IndexJson {
  frames: { offset: number; length: number; encoding: string; chunks: [string, number][] }[];
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function sha256File(file: string): Promise<string> {
  return createHash("sha256")
    .update(await fs.readFile(file))
    .digest("hex");
}

function packId(file: string): string {
  return path.basename(file);
}

async function indexIds(repo: string): Promise<string[]> {
  const names = await fs.readdir(path.join(repo, "index")).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith(".json.zst"))
    .map((n) => n.slice(0, -".json.zst".length))
    .sort();
}

async function readIndex(repo: string, pack: string): Promise<IndexJson> {
  return JSON.parse(
    decompress(await fs.readFile(path.join(repo, "index", `${pack}.json.zst`))).toString("utf8"),
  ) as IndexJson;
}

async function entryChunks(repo: string, snapshot: string): Promise<string[]> {
  const m = JSON.parse(
    await fs.readFile(path.join(repo, "snapshots", `${snapshot}.json`), "utf8"),
  ) as Manifest;
  return m.entries.chunks;
}

/** Bytes of every chunk object, pack and index: what prune frees. */
async function storedBytes(repo: string): Promise<number> {
  let total = 0;
  for (const sub of ["data", "packs", "index"]) {
    const names = await fs.readdir(path.join(repo, sub), { recursive: true }).catch(() => [] as string[]);
    for (const n of names) {
      const st = await fs.lstat(path.join(repo, sub, n));
      if (st.isFile()) total += st.size;
    }
  }
  return total;
}

async function restoreAndRead(config: string, dir: string, src: string, id: string) {
  const to = path.join(dir, `restore-${id}`);
  await fs.rm(to, { recursive: true, force: true });
  const r = await cli(config, "restore", "uploads", "--snapshot", id, "--to", to);
  expect(r.exitCode, r.stderr).toBe(0);
  return readTree(path.join(to, src));
}

async function backup(config: string): Promise<string> {
  const [made] = await cliJson<Summary[]>(config, "backup", "uploads");
  return made!.id;
}

/** The packs that appeared between two listings (exactly one expected per backup here). */
function newPack(before: string[], after: string[]): string {
  const added = after.filter((p) => !before.includes(p));
  expect(added).toHaveLength(1);
  return added[0]!;
}

/**
 * Three snapshots, keepLast 1:
 * - B1: big.bin (loose, kept throughout) and x1..x3 → pack P1 {x1, x2, x3, entries₁}: all dead after prune;
 * - B2: x* gone; keep.bin, keep.txt (stay) and y1..y3 → pack P2 {keep.bin, keep.txt, y1..y3, entries₂}:
 *   about 13% of its bytes stay live, so it is rewritten;
 * - B3: y* gone; z.bin → pack P3 {z, entries₃}: all live, untouched.
 */
async function threeSnapshots() {
  const { dir, src, config } = await workspace("{keepLast: 1}");
  dirs.push(dir);
  const repo = path.join(dir, "repo");
  await cliJson(config, "init");
  await writeRandomFile(path.join(src, "big.bin"), 700_000, "shared");
  for (const n of [1, 2, 3]) await writeRandomFile(path.join(src, `x${n}.bin`), 200_000, `x${n}`);
  const b1 = await backup(config);
  const p1 = newPack([], await packFiles(repo));

  for (const n of [1, 2, 3]) await fs.rm(path.join(src, `x${n}.bin`));
  await writeRandomFile(path.join(src, "keep.bin"), 60_000, "keep");
  await fs.writeFile(path.join(src, "keep.txt"), "a line of text that compresses well\n".repeat(1000));
  for (const n of [1, 2, 3]) await writeRandomFile(path.join(src, `y${n}.bin`), 200_000, `y${n}`);
  const before2 = await packFiles(repo);
  const b2 = await backup(config);
  const p2 = newPack(before2, await packFiles(repo));

  for (const n of [1, 2, 3]) await fs.rm(path.join(src, `y${n}.bin`));
  await writeRandomFile(path.join(src, "z.bin"), 100_000, "z");
  const before3 = await packFiles(repo);
  const b3 = await backup(config);
  const p3 = newPack(before3, await packFiles(repo));
  const expected = await readTree(src);

  const ids = {
    big: await sha256File(path.join(src, "big.bin")),
    keepBin: await sha256File(path.join(src, "keep.bin")),
    keepTxt: await sha256File(path.join(src, "keep.txt")),
    z: await sha256File(path.join(src, "z.bin")),
  };
  return { dir, src, config, repo, snapshots: [b1, b2, b3], packs: [p1, p2, p3], ids, expected };
}

describe("prune with packs", () => {
  it("deletes a dead pack with its index, rewrites a mostly dead one, leaves a live one; the dry run changes nothing", async () => {
    const { dir, src, config, repo, snapshots, packs, ids, expected } = await threeSnapshots();
    const [b1, b2, b3] = snapshots;
    const [p1, p2, p3] = packs;

    // The layout the test relies on: big.bin is the only chunk object; every other chunk is packed.
    expect((await chunkFiles(repo)).map((f) => path.basename(f))).toEqual([ids.big]);
    const where = new Map((await storedChunks(repo)).map((c) => [c.id, c.file]));
    expect(where.get(ids.keepBin)).toBe(p2);
    expect(where.get(ids.keepTxt)).toBe(p2);
    expect(where.get(ids.z)).toBe(p3);
    expect((await readIndex(repo, packId(p1!))).frames.flatMap((f) => f.chunks)).toHaveLength(4);
    expect((await readIndex(repo, packId(p2!))).frames.flatMap((f) => f.chunks)).toHaveLength(6);
    expect(await indexIds(repo)).toEqual(packs.map(packId).sort());
    const e3 = await entryChunks(repo, b3!);
    const bytesBefore = await storedBytes(repo);

    // Dry run: the plan, and not one byte changed.
    const state = await repoState(repo);
    const plan = await cliJson<PruneJson>(config, "prune", "--dry-run");
    expect(plan.dryRun).toBe(true);
    expect(plan.deleted.sort()).toEqual([b1, b2].sort());
    expect(plan.kept).toEqual([b3]);
    // x1..x3, y1..y3 and the entry lists of B1 and B2.
    expect(plan.chunksDeleted).toBe(8);
    expect(plan.reclaimedBytes).toBeGreaterThan(1_100_000);
    expect(await repoState(repo)).toBe(state);

    const done = await cliJson<PruneJson>(config, "prune");
    expect(done.deleted.sort()).toEqual([b1, b2].sort());
    expect(done.kept).toEqual([b3]);
    expect(done.chunksDeleted).toBe(8);

    // P1 (dead) and P2 (rewritten) are gone with their indexes; P3 is untouched; one new pack.
    const after = await packFiles(repo);
    expect(after).not.toContain(p1);
    expect(after).not.toContain(p2);
    expect(after).toContain(p3);
    expect(after).toHaveLength(2);
    const p4 = after.find((p) => p !== p3)!;
    expect(await indexIds(repo)).toEqual(after.map(packId).sort());
    // The new pack holds exactly the live chunks of P2; P3 still holds z and B3's entry list.
    const stored = await storedChunks(repo);
    expect(
      stored
        .filter((c) => c.file === p4)
        .map((c) => c.id)
        .sort(),
    ).toEqual([ids.keepBin, ids.keepTxt].sort());
    expect(
      stored
        .filter((c) => c.file === p3)
        .map((c) => c.id)
        .sort(),
    ).toEqual([ids.z, ...e3].sort());
    expect((await chunkFiles(repo)).map((f) => path.basename(f))).toEqual([ids.big]);
    // What prune reports as reclaimed is what left the disk.
    expect(done.reclaimedBytes).toBe(bytesBefore - (await storedBytes(repo)));
    expect(done.reclaimedBytes).toBeGreaterThan(1_100_000);

    // The kept snapshot restores byte-exact and every chunk reads back.
    expect((await cliJson<Summary[]>(config, "list")).map((s) => s.id)).toEqual([b3]);
    expect(await restoreAndRead(config, dir, src, b3!)).toEqual(expected);
    const verify = await cli(config, "verify", "--all", "--json");
    expect(verify.exitCode, verify.stderr).toBe(0);
    const report = JSON.parse(verify.stdout) as VerifyJson;
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    // big, keep.bin, keep.txt, z and the entry list chunk(s) of B3.
    expect(report.chunksRead).toBe(4 + e3.length);

    // Nothing left to do.
    const state2 = await repoState(repo, { ignoreRuns: true });
    const again = await cliJson<PruneJson>(config, "prune");
    expect(again).toMatchObject({ deleted: [], chunksDeleted: 0, reclaimedBytes: 0 });
    expect(await repoState(repo, { ignoreRuns: true })).toBe(state2);

    // The next backup finds the rewritten chunks: nothing is stored twice, and it restores.
    const b4 = await backup(config);
    const counts = new Map<string, number>();
    for (const c of await storedChunks(repo)) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
    for (const id of [ids.big, ids.keepBin, ids.keepTxt, ids.z]) expect(counts.get(id)).toBe(1);
    expect(await restoreAndRead(config, dir, src, b4)).toEqual(expected);
  });

  it("a rewritten pack keeps each file's chunks in a frame of their own", async () => {
    const { config, repo, packs, ids } = await threeSnapshots();
    await cliJson<PruneJson>(config, "prune");
    const p4 = (await packFiles(repo)).find((p) => p !== packs[2])!;
    const frames = (await readIndex(repo, packId(p4))).frames.map((f) => f.chunks.map(([id]) => id));
    // keep.bin and keep.txt were different files in different frames of P2: a damaged frame
    // in the new pack must not cost both (SnapshotWriter.endFrame's promise).
    expect(frames).toContainEqual([ids.keepBin]);
    expect(frames).toContainEqual([ids.keepTxt]);
  });

  it("after a prune killed between writing the rewritten pack and deleting the old one, the next prune deletes the old one without copying again", async () => {
    const { dir, src, config, repo, packs, expected, snapshots } = await threeSnapshots();
    const p2 = packs[1]!;
    const p2Index = path.join(repo, "index", `${packId(p2)}.json.zst`);
    const [packBody, indexBody] = [await fs.readFile(p2), await fs.readFile(p2Index)];
    await cliJson<PruneJson>(config, "prune");
    const afterFirst = await packFiles(repo);
    // As if the kill came before the old pack and its index were deleted.
    await fs.writeFile(p2, packBody);
    await fs.writeFile(p2Index, indexBody);

    const second = await cliJson<PruneJson>(config, "prune");
    expect(second.reclaimedBytes).toBe(packBody.length + indexBody.length);
    expect(await packFiles(repo)).toEqual(afterFirst); // no third copy of keep.bin / keep.txt
    const counts = new Map<string, number>();
    for (const c of await storedChunks(repo)) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await restoreAndRead(config, dir, src, snapshots[2]!)).toEqual(expected);
  });

  it("never deletes a pack whose lost index could be rebuilt from its trailer while a kept snapshot needs its chunks", async () => {
    const { dir, src, config } = await workspace("{keepLast: 1}");
    dirs.push(dir);
    const repo = path.join(dir, "repo");
    await cliJson(config, "init");
    for (const n of [1, 2]) await writeRandomFile(path.join(src, `f${n}.bin`), 50_000, `f${n}`);
    await backup(config);
    const [pack] = await packFiles(repo);
    // A second snapshot, the one kept: f1 and f2 stay in the first pack, its entry list and
    // f3 go into a second one.
    await writeRandomFile(path.join(src, "f3.bin"), 50_000, "f3");
    await backup(config);
    expect(await packFiles(repo)).toHaveLength(2);
    const packSha = await sha256File(pack!);
    // The first pack's index object is lost; the pack, whose trailer describes its frames, is intact.
    await fs.rm(path.join(repo, "index", `${packId(pack!)}.json.zst`));

    await cli(config, "prune", "--json");
    // Refusing (as for an unreadable index) or keeping the pack are both safe; deleting the
    // only copy of the kept snapshots' data, which the trailer could still recover, is not.
    expect(await packFiles(repo)).toContain(pack);
    expect(await sha256File(pack!)).toBe(packSha);
  });

  it("deletes an index without a pack, keeps (and warns of) a pack it cannot account for; the dry run changes nothing", async () => {
    const { dir, src, config } = await workspace("{keepLast: 3}");
    dirs.push(dir);
    const repo = path.join(dir, "repo");
    await cliJson(config, "init");
    for (const n of [1, 2, 3]) await writeRandomFile(path.join(src, `f${n}.bin`), 50_000, `f${n}`);
    const id = await backup(config);
    const expected = await readTree(src);
    const [pack] = await packFiles(repo);
    const real = packId(pack!);

    // A copy of the pack under a new name, without an index: its trailer names another
    // pack, so nothing in it can be accounted for — prune keeps it and warns.
    const orphanPack = "ab".padEnd(32, "1");
    await fs.mkdir(path.join(repo, "packs", "ab"), { recursive: true });
    const orphanPackFile = path.join(repo, "packs", "ab", orphanPack);
    await fs.copyFile(pack!, orphanPackFile);
    // An index without its pack.
    const orphanIndex = "cd".padEnd(32, "2");
    const orphanIndexFile = path.join(repo, "index", `${orphanIndex}.json.zst`);
    await fs.copyFile(path.join(repo, "index", `${real}.json.zst`), orphanIndexFile);

    const state = await repoState(repo);
    const plan = await cliJson<PruneJson>(config, "prune", "--dry-run");
    expect(plan.deleted).toEqual([]);
    expect(await repoState(repo)).toBe(state);

    const r = await cli(config, "prune", "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as PruneJson).deleted).toEqual([]);
    expect(r.stderr).toContain(`pack ${orphanPack} has neither an index nor a readable trailer; kept`);
    await expect(fs.access(orphanPackFile)).resolves.toBeUndefined();
    await expect(fs.access(orphanIndexFile)).rejects.toThrow();
    expect((await packFiles(repo)).sort()).toEqual([pack!, orphanPackFile].sort());
    expect(await indexIds(repo)).toEqual([real]);

    expect(await restoreAndRead(config, dir, src, id)).toEqual(expected);
    const verify = await cli(config, "verify", "--all");
    expect(verify.exitCode, verify.stderr).toBe(0);
  });
});

describe("planPackPrune", () => {
  /** A chunk id named by a short label. */
  const c = (label: string): string => createHash("sha256").update(label).digest("hex");

  /** A pack of chunks with these sizes, named by a letter, one frame. */
  function pack(name: string, chunks: [string, number][]) {
    const id = name.repeat(32);
    return {
      id,
      size: 1000,
      indexSize: 100,
      index: {
        version: 1 as const,
        pack: id,
        frames: [{ offset: 0, length: 900, encoding: "raw" as const, chunks }],
      },
    };
  }

  it("removes dead packs, rewrites those under half live, keeps the rest (exactly half live is kept)", () => {
    expect(REPACK_LIVE_RATIO).toBe(0.5);
    const catalog = new PackCatalog();
    catalog.add(
      pack("a", [
        [c("a1"), 100],
        [c("a2"), 100],
      ]),
    ); // nothing live
    catalog.add(
      pack("b", [
        [c("b1"), 49],
        [c("b2"), 51],
      ]),
    ); // 49% live
    catalog.add(
      pack("c", [
        [c("c1"), 50],
        [c("c2"), 50],
      ]),
    ); // 50% live
    catalog.add(
      pack("d", [
        [c("d1"), 10],
        [c("d2"), 10],
      ]),
    ); // all live
    catalog.orphanIndexes.push("f".repeat(32));
    const plan = planPackPrune(catalog, new Set(["b1", "c1", "d1", "d2"].map(c)));
    expect(plan.remove.map((p) => p.id)).toEqual(["a".repeat(32)]);
    expect(plan.repack.map((p) => p.id)).toEqual(["b".repeat(32)]);
    expect(plan.orphanIndexes).toEqual(["f".repeat(32)]);
    // a1, a2 and b2 leave the repository; c2 stays (its pack is kept).
    expect(plan.deadChunks).toBe(3);
    // The dead pack and its index, plus the dead share of the rewritten one.
    expect(plan.reclaimableBytes).toBe(1100 + Math.round(1000 * 0.51));
  });

  it("never removes or rewrites a pack whose rebuilt index lacks frames that did not decode", () => {
    const catalog = new PackCatalog();
    catalog.add(pack("g", [[c("g1"), 100]])); // nothing known live, but a lost frame may hold live chunks
    catalog.add(
      pack("h", [
        [c("h1"), 10],
        [c("h2"), 90],
      ]),
    ); // 10% live
    catalog.rebuilt.add("g".repeat(32));
    catalog.incomplete.add("g".repeat(32));
    catalog.rebuilt.add("h".repeat(32));
    catalog.incomplete.add("h".repeat(32));
    const plan = planPackPrune(catalog, new Set([c("h1")]));
    expect(plan.remove).toEqual([]);
    expect(plan.repack).toEqual([]);
    expect(plan.reclaimableBytes).toBe(0);
  });

  it("removes instead of rewriting a mostly dead pack whose live chunks a kept pack holds already", () => {
    const catalog = new PackCatalog();
    catalog.add(
      pack("k", [
        [c("k1"), 10],
        [c("k2"), 90],
      ]),
    ); // 10% live, k1 also in pack m
    catalog.add(pack("m", [[c("k1"), 10]])); // all live
    const plan = planPackPrune(catalog, new Set([c("k1")]));
    expect(plan.repack).toEqual([]);
    expect(plan.remove.map((p) => p.id)).toEqual(["k".repeat(32)]);
    expect(plan.reclaimableBytes).toBe(1100);
    expect(plan.deadChunks).toBe(1);
  });
});

import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compress } from "zstd-napi";
import {
  chunkFiles,
  damageChunk,
  packFiles,
  seeded,
  storedChunks,
  type StoredChunk,
} from "../../test/helpers/repo.js";
import { RepoCorruptError } from "../errors.js";
import { LocalBackend } from "./backends/local.js";
import type { ChunkerParams } from "./chunker.js";
import { PackCatalog } from "./pack-catalog.js";
import { packIndexKey, PACKED_CHUNK_MAX } from "./pack-format.js";
import { FORMAT_VERSION, Repository } from "./repository.js";
import type { SnapshotManifest } from "./snapshot.js";
import { SnapshotWriter } from "./snapshot-writer.js";
import { verifiedChunks } from "./entry-content.js";

let dir: string;
let repoDir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pack-catalog-"));
  repoDir = path.join(dir, "repo");
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Compressible bytes (zstd frames). */
function text(seed: string, bytes: number): Buffer {
  const line = `${seed}: GET /api/v1/items?page=42 200 1234 "Mozilla/5.0"\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function newRepo(): Promise<Repository> {
  return (await Repository.init(new LocalBackend(repoDir))).repo;
}

/** A fresh process's view: a new backend and repository object, so the catalog is loaded from disk. */
function reopen(): Promise<Repository> {
  return Repository.open(new LocalBackend(repoDir));
}

interface Backup {
  manifest: SnapshotManifest;
  /** Chunk ids of each file, in the order given. */
  files: string[][];
}

/** Writes one snapshot holding `files` (each stored as a file: its own frame). */
async function backup(repo: Repository, files: Buffer[], chunker?: ChunkerParams): Promise<Backup> {
  const writer = new SnapshotWriter(repo, { target: "t", type: "files", ...(chunker ? { chunker } : {}) });
  const out: string[][] = [];
  for (const [i, data] of files.entries()) {
    const stored = await writer.storeBuffer(data);
    expect(stored.sha256).toBe(sha(data));
    out.push(stored.chunks);
    await writer.addEntry({
      path: `/src/f${String(i).padStart(3, "0")}`,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeNs: "1",
      size: data.length,
      chunks: stored.chunks,
      sha256: stored.sha256,
    });
  }
  const manifest = await writer.commit({
    sourceBytes: files.reduce((n, f) => n + f.length, 0),
    metadata: {},
  });
  return { manifest, files: out };
}

/** Reads a file back through the chunk store. */
async function readBack(repo: Repository, chunks: string[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const id of chunks) parts.push(Buffer.from(await repo.chunks.get(id)));
  return Buffer.concat(parts);
}

function packIdOf(file: string): string {
  return path.basename(file);
}

function indexFile(pack: string): string {
  return path.join(repoDir, ...packIndexKey(pack).split("/"));
}

async function chunkOf(id: string): Promise<StoredChunk> {
  const found = (await storedChunks(repoDir)).find((c) => c.id === id);
  if (!found) throw new Error(`chunk ${id} is not stored`);
  return found;
}

describe("packed chunks", () => {
  it("small chunks go into one pack, each file in its own frame; large ones stay objects; all read back byte-exact", async () => {
    const repo = await newRepo();
    const files = [
      seeded("a", 100_000),
      text("b", 300_000),
      seeded("c", 1),
      text("d", 5_000),
      seeded("e", PACKED_CHUNK_MAX - 1), // the largest chunk that is packed
      seeded("f", PACKED_CHUNK_MAX), // the smallest one that is not
    ];
    const { files: ids, manifest } = await backup(repo, files);
    // Every file is one chunk (all below the chunker's 512 KiB minimum, or exactly it).
    expect(ids.map((c) => c.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(ids.map((c) => c[0])).toEqual(files.map(sha));

    const packs = await packFiles(repoDir);
    expect(packs).toHaveLength(1);
    expect((await chunkFiles(repoDir)).map((f) => path.basename(f))).toEqual([sha(files[5]!)]);
    const stored = await storedChunks(repoDir);
    const packed = new Set(stored.filter((c) => c.packed).map((c) => c.id));
    for (const f of files.slice(0, 5)) expect(packed.has(sha(f))).toBe(true);
    for (const id of manifest.entries.chunks) expect(packed.has(id)).toBe(true);

    // Read back in this process (the writer registered its pack) and in a new one.
    for (const r of [repo, await reopen()]) {
      for (const [i, f] of files.entries()) expect((await readBack(r, ids[i]!)).equals(f)).toBe(true);
      const entries: string[] = [];
      for await (const e of r.snapshots.entries(manifest)) entries.push(e.path);
      expect(entries).toEqual(files.map((_, i) => `/src/f${String(i).padStart(3, "0")}`));
    }

    // One frame per file (the entry list has its own): no frame mixes two files' chunks.
    const catalog = await (await reopen()).chunks.packs();
    const [info] = [...catalog.packs.values()];
    const frames = info!.index.frames.map((f) => f.chunks.map(([id]) => id));
    for (const f of files.slice(0, 5)) expect(frames).toContainEqual([sha(f)]);
    expect(frames).toContainEqual(manifest.entries.chunks);
    expect(frames).toHaveLength(6);
    expect(info!.size).toBe((await fs.stat(packs[0]!)).size);
    expect(info!.indexSize).toBe((await fs.stat(indexFile(info!.id))).size);
    expect(catalog.orphanPacks).toEqual([]);
    expect(catalog.orphanIndexes).toEqual([]);
    expect(catalog.unreadable).toEqual([]);
    // Compressible text went into zstd frames, random bytes into raw ones.
    const encodingOf = (id: string) => catalog.chunks.get(id)!.frame.encoding;
    expect(encodingOf(sha(files[1]!))).toBe("zstd");
    expect(encodingOf(sha(files[0]!))).toBe("raw");
  });

  it("a stream stored without its whole hash (a dump) reads back checked by chunk ids and size", async () => {
    const repo = await newRepo();
    const data = Buffer.concat([seeded("dump", 3 << 20), text("dump", 2 << 20)]);
    const writer = new SnapshotWriter(repo, { target: "t", type: "postgres" });
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < data.length; i += 65536) yield await Promise.resolve(data.subarray(i, i + 65536));
    }
    const stored = await writer.storeStream(source(), { wholeHash: false });
    expect(stored.sha256).toBeUndefined();
    expect(stored.chunks.length).toBeGreaterThan(2);
    await writer.commit({ sourceBytes: data.length, metadata: {} });
    const entry = {
      path: "database.pgdump",
      type: "file" as const,
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeNs: "1",
    };
    const read = async (size: number, chunks = stored.chunks): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const part of verifiedChunks((await reopen()).chunks, { ...entry, size, chunks }))
        parts.push(part);
      return Buffer.concat(parts);
    };
    expect((await read(data.length)).equals(data)).toBe(true);
    await expect(read(data.length + 1)).rejects.toThrow(RepoCorruptError);
    await expect(read(data.length, stored.chunks.slice(1))).rejects.toThrow(RepoCorruptError);
  });

  it("dedups packed chunks within a snapshot and against packs written earlier", async () => {
    const repo = await newRepo();
    const same = seeded("same", 50_000);
    const first = await backup(repo, [same, same, seeded("other", 20_000)]);
    expect(first.files[0]).toEqual(first.files[1]);
    const stored = await storedChunks(repoDir);
    expect(stored.filter((c) => c.id === sha(same))).toHaveLength(1);

    const again = await reopen();
    await again.chunks.loadIndex();
    expect(again.chunks.has(sha(same))).toBe(true);
    const packsBefore = await packFiles(repoDir);
    const second = await backup(again, [same, seeded("new", 30_000)]);
    const packsAfter = await packFiles(repoDir);
    // One new pack, holding only the new file and the new entry list: `same` was not stored again.
    const added = packsAfter.filter((p) => !packsBefore.includes(p));
    expect(added).toHaveLength(1);
    const inNew = (await storedChunks(repoDir)).filter((c) => c.file === added[0]).map((c) => c.id);
    expect(inNew.sort()).toEqual([sha(seeded("new", 30_000)), ...second.manifest.entries.chunks].sort());
    expect((await readBack(await reopen(), second.files[0]!)).equals(same)).toBe(true);
  });

  it("an index whose pack is missing is ignored: its chunks are not stored, and the next backup stores them again", async () => {
    const repo = await newRepo();
    const data = seeded("lost", 40_000);
    const { files } = await backup(repo, [data]);
    const [pack] = await packFiles(repoDir);
    await fs.rm(pack!);

    const reopened = await reopen();
    const catalog = await reopened.chunks.packs();
    expect(catalog.orphanIndexes).toEqual([packIdOf(pack!)]);
    expect(catalog.packs.size).toBe(0);
    expect(catalog.chunks.has(files[0]![0]!)).toBe(false);
    await reopened.chunks.loadIndex();
    expect(reopened.chunks.has(files[0]![0]!)).toBe(false);
    await expect(reopened.chunks.get(files[0]![0]!)).rejects.toThrow(RepoCorruptError);
    await expect(reopened.chunks.get(files[0]![0]!)).rejects.toThrow(files[0]![0]!);

    // A later backup does not trust the orphan index: it writes the chunk again.
    const again = await backup(reopened, [data]);
    expect(again.files[0]).toEqual(files[0]);
    const packs = await packFiles(repoDir);
    expect(packs).toHaveLength(1);
    expect(packs[0]).not.toBe(pack);
    expect((await readBack(await reopen(), again.files[0]!)).equals(data)).toBe(true);
  });

  it("a pack whose index object is lost is rebuilt from its trailer; one without a usable trailer is an orphan", async () => {
    const repo = await newRepo();
    const data = seeded("orphan", 40_000);
    const { files } = await backup(repo, [data]);
    const [pack] = await packFiles(repoDir);
    await fs.rm(indexFile(packIdOf(pack!)));

    const reopened = await reopen();
    const catalog = await reopened.chunks.packs();
    expect(catalog.orphanPacks).toEqual([]);
    expect([...catalog.rebuilt]).toEqual([packIdOf(pack!)]);
    await reopened.chunks.loadIndex();
    expect(reopened.chunks.has(files[0]![0]!)).toBe(true);
    expect((await reopened.chunks.get(files[0]![0]!)).equals(data)).toBe(true);

    // Without its trailer the pack cannot be accounted for: an orphan, its chunks unknown.
    const body = await fs.readFile(pack!);
    await fs.writeFile(pack!, body.subarray(0, body.length - 4));
    const broken = await reopen();
    const brokenCatalog = await broken.chunks.packs();
    expect(brokenCatalog.orphanPacks).toEqual([packIdOf(pack!)]);
    expect(brokenCatalog.packs.size).toBe(0);
    await broken.chunks.loadIndex();
    expect(broken.chunks.has(files[0]![0]!)).toBe(false);
    await expect(broken.chunks.get(files[0]![0]!)).rejects.toThrow(/missing/);
  });

  it("forget() drops what was loaded, so a pack deleted since (by a prune) is no longer trusted", async () => {
    const repo = await newRepo();
    const { files } = await backup(repo, [seeded("forget", 30_000)]);
    await repo.chunks.loadIndex();
    expect(repo.chunks.has(files[0]![0]!)).toBe(true);
    const [pack] = await packFiles(repoDir);
    await fs.rm(pack!);
    await fs.rm(indexFile(packIdOf(pack!)));
    expect(repo.chunks.has(files[0]![0]!)).toBe(true); // still the cached view
    repo.chunks.forget();
    await repo.chunks.loadIndex();
    expect(repo.chunks.has(files[0]![0]!)).toBe(false);
  });

  it("an index object that is garbage (or of another pack) falls back to the pack's trailer", async () => {
    const repo = await newRepo();
    const files = [seeded("g1", 70_000), text("g2", 200_000), seeded("g3", 3_000)];
    const { files: ids, manifest } = await backup(repo, files);
    const [pack] = await packFiles(repoDir);
    const id = packIdOf(pack!);
    const original = (await (await reopen()).chunks.packs()).packs.get(id)!.index;

    for (const garbage of [
      seeded("garbage", 500),
      Buffer.alloc(0),
      compress(Buffer.from(JSON.stringify({ ...original, pack: "0".repeat(32) }))),
      compress(Buffer.from("{not json")),
    ]) {
      await fs.writeFile(indexFile(id), garbage);
      const reopened = await reopen();
      const catalog = await reopened.chunks.packs();
      expect(catalog.unreadable).toEqual([]);
      expect(catalog.orphanPacks).toEqual([]);
      expect(catalog.packs.get(id)!.index).toEqual(original);
      await reopened.chunks.loadIndex();
      for (const [i, f] of files.entries()) {
        expect(reopened.chunks.has(ids[i]![0]!)).toBe(true);
        expect((await readBack(reopened, ids[i]!)).equals(f)).toBe(true);
      }
      for (const c of manifest.entries.chunks) expect(reopened.chunks.has(c)).toBe(true);
    }
  });

  it("a garbage index and a broken trailer: the pack is reported unreadable, its chunks are not trusted", async () => {
    const repo = await newRepo();
    const { files } = await backup(repo, [seeded("u", 10_000)]);
    const [pack] = await packFiles(repoDir);
    const id = packIdOf(pack!);
    await fs.writeFile(indexFile(id), "garbage");
    const body = await fs.readFile(pack!);
    body.write("XXXXXXXX", body.length - 8, "latin1"); // the magic
    await fs.writeFile(pack!, body);

    const catalog = await PackCatalog.load(new LocalBackend(repoDir));
    expect(catalog.unreadable).toHaveLength(1);
    expect(catalog.unreadable[0]!.pack).toBe(id);
    expect(catalog.unreadable[0]!.message).toMatch(new RegExp(`index of pack ${id} is unreadable`));
    expect(catalog.chunks.has(files[0]![0]!)).toBe(false);
  });

  it("a damaged zstd frame or raw chunk is a RepoCorruptError naming the chunk; other files' frames still read", async () => {
    const repo = await newRepo();
    const files = [text("z", 100_000), seeded("r", 100_000), seeded("ok", 100_000), text("ok2", 100_000)];
    const { files: ids } = await backup(repo, files);
    const zstdChunk = await chunkOf(ids[0]![0]!);
    const rawChunk = await chunkOf(ids[1]![0]!);
    const catalog = await (await reopen()).chunks.packs();
    expect(catalog.chunks.get(zstdChunk.id)!.frame.encoding).toBe("zstd");
    expect(catalog.chunks.get(rawChunk.id)!.frame.encoding).toBe("raw");

    await damageChunk(zstdChunk);
    await damageChunk(rawChunk);
    const reopened = await reopen();
    for (const c of [zstdChunk, rawChunk]) {
      const err = await reopened.chunks.get(c.id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RepoCorruptError);
      expect((err as Error).message).toContain(c.id);
      expect((err as Error).message).toMatch(/damaged/);
    }
    expect((await readBack(reopened, ids[2]!)).equals(files[2]!)).toBe(true);
    expect((await readBack(reopened, ids[3]!)).equals(files[3]!)).toBe(true);
  });

  it("a truncated pack: chunks in the lost tail are RepoCorruptErrors naming them, those before it still read", async () => {
    const repo = await newRepo();
    const files = [seeded("t1", 100_000), seeded("t2", 100_000)];
    const { files: ids } = await backup(repo, files);
    const first = await chunkOf(ids[0]![0]!);
    const second = await chunkOf(ids[1]![0]!);
    expect(first.file).toBe(second.file);
    const [early, late] = first.region.offset < second.region.offset ? [first, second] : [second, first];
    // Cut the pack in the middle of the later frame.
    await fs.truncate(late.file, late.region.offset + 10);
    const reopened = await reopen();
    const err = await reopened.chunks.get(late.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RepoCorruptError);
    expect((err as Error).message).toContain(late.id);
    const earlyIndex = ids.findIndex((c) => c[0] === early.id);
    expect((await readBack(reopened, ids[earlyIndex]!)).equals(files[earlyIndex]!)).toBe(true);
  });

  it("a frame that does not decode is a RepoCorruptError naming chunk and pack, and is not cached: once repaired it reads again", async () => {
    const repo = await newRepo();
    const data = text("cache", 150_000);
    const { files } = await backup(repo, [data]);
    const chunk = await chunkOf(files[0]![0]!);
    expect(chunk.packed).toBe(true);
    const good = await fs.readFile(chunk.file);
    // Overwrite the whole zstd frame (its magic included): it cannot be decoded at all.
    const bad = Buffer.from(good);
    bad.fill(0xff, chunk.region.offset, chunk.region.offset + chunk.region.length);
    await fs.writeFile(chunk.file, bad);
    const reopened = await reopen();
    const err = await reopened.chunks.get(chunk.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RepoCorruptError);
    expect((err as Error).message).toContain(chunk.id);
    expect((err as Error).message).toContain(
      `frame at byte ${chunk.region.offset} of pack ${packIdOf(chunk.file)}`,
    );
    await fs.writeFile(chunk.file, good);
    expect((await reopened.chunks.get(chunk.id)).equals(data)).toBe(true);
  });

  it("reads many frames in any order through the frame cache", async () => {
    const repo = await newRepo();
    // Small chunking parameters: several chunks per file, so frames hold several chunks
    // at different starts; and more frames than the cache holds.
    const files = Array.from({ length: 24 }, (_, i) =>
      i % 2 ? text(`m${i}`, 40_000 + i) : seeded(`m${i}`, 30_000 + i),
    );
    const { files: ids } = await backup(repo, files, { minSize: 1024, avgSize: 4096, maxSize: 16384 });
    expect(ids.every((c) => c.length > 2)).toBe(true);
    const reopened = await reopen();
    const catalog = await reopened.chunks.packs();
    for (const [i, chunks] of ids.entries()) {
      // All of one file's chunks share one frame, at increasing starts.
      const locations = chunks.map((id) => catalog.chunks.get(id)!);
      expect(new Set(locations.map((l) => `${l.frame.pack}@${l.frame.offset}`)).size).toBe(1);
      let start = 0;
      for (const l of locations) {
        expect(l.start).toBe(start);
        start += l.size;
      }
      expect(start).toBe(files[i]!.length);
    }
    const order = [...files.keys(), ...[...files.keys()].reverse(), 5, 17, 5, 0, 23, 11];
    for (const i of order) expect((await readBack(reopened, ids[i]!)).equals(files[i]!)).toBe(true);
    // Concurrent reads of chunks in the same and different frames.
    const results = await Promise.all(order.map((i) => readBack(reopened, ids[i]!)));
    for (const [n, i] of order.entries()) expect(results[n]!.equals(files[i]!)).toBe(true);
  });

  it("a format-1 repository reads and writes loose chunks; upgradeFormat() raises it to 2, after which small chunks are packed", async () => {
    await newRepo();
    const headerFile = path.join(repoDir, "repository.json");
    const header = JSON.parse(await fs.readFile(headerFile, "utf8")) as { version: number };
    expect(header.version).toBe(FORMAT_VERSION);
    expect(FORMAT_VERSION).toBe(2);
    await fs.writeFile(headerFile, JSON.stringify({ ...header, version: 1 }, null, 2));

    const v1 = await reopen();
    expect(v1.header.version).toBe(1);
    const old = [seeded("v1-a", 20_000), text("v1-b", 50_000)];
    const first = await backup(v1, old);
    expect(await packFiles(repoDir)).toEqual([]);
    const loose = (await chunkFiles(repoDir)).map((f) => path.basename(f)).sort();
    expect(loose).toEqual([...old.map(sha), ...first.manifest.entries.chunks].sort());

    const opened = await reopen();
    for (const [i, f] of old.entries())
      expect((await readBack(opened, first.files[i]!)).equals(f)).toBe(true);

    expect(await opened.upgradeFormat()).toBe(true);
    expect(opened.header.version).toBe(2);
    expect((JSON.parse(await fs.readFile(headerFile, "utf8")) as { version: number }).version).toBe(2);
    expect(await opened.upgradeFormat()).toBe(false);
    expect((await reopen()).header.version).toBe(2);

    // New small chunks now go into a pack; the old loose ones are reused, not packed again.
    const fresh = seeded("v2", 30_000);
    const second = await backup(opened, [...old, fresh]);
    const packs = await packFiles(repoDir);
    expect(packs).toHaveLength(1);
    const inPack = (await storedChunks(repoDir)).filter((c) => c.packed).map((c) => c.id);
    expect(inPack.sort()).toEqual([sha(fresh), ...second.manifest.entries.chunks].sort());
    expect((await chunkFiles(repoDir)).map((f) => path.basename(f)).sort()).toEqual(loose);

    const after = await reopen();
    for (const [i, f] of [...old, fresh].entries()) {
      expect((await readBack(after, second.files[i]!)).equals(f)).toBe(true);
    }
    for (const [i, f] of old.entries()) expect((await readBack(after, first.files[i]!)).equals(f)).toBe(true);
  });
});

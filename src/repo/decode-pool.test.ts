import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { damageChunk, seeded, storedChunks } from "../../test/helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../../test/helpers/temp-dir.js";
import { RepoCorruptError } from "../errors.js";
import { LocalBackend } from "./backends/local.js";
import { parallelChunks } from "./decode-pool.js";
import { Repository } from "./repository.js";
import type { FileEntry } from "./snapshot.js";
import { SnapshotWriter, type StoredData } from "./snapshot-writer.js";

let repoDir: string;
beforeEach(async () => {
  repoDir = path.join(await makeTempDir("prs-decode-pool-"), "repo");
});
afterEach(removeTempDirs);

/** A file entry for stored data. */
function entryOf(path: string, stored: StoredData): FileEntry {
  return { path, type: "file", mode: 0o600, uid: 0, gid: 0, mtimeNs: "1", ...stored };
}

async function* pieces(data: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += 65536) yield await Promise.resolve(data.subarray(i, i + 65536));
}

/** Stores `data` as one stream entry (as a delta against `previous` when given). */
async function store(repo: Repository, data: Buffer, previous?: FileEntry): Promise<FileEntry> {
  const writer = new SnapshotWriter(repo, {
    target: "t",
    type: "postgres-physical",
    // Chunks small enough to be packed (a delta needs its previous version in a pack).
    chunker: { minSize: 64 * 1024, avgSize: 128 * 1024, maxSize: 256 * 1024 },
  });
  const stored = await writer.storeStream(pieces(data), previous ? { previous: previous.chunks } : {});
  const entry = entryOf("/base.tar", stored);
  await writer.addEntry(entry);
  const manifest = await writer.commit({ sourceBytes: data.length, metadata: {} });
  if (previous) expect(manifest.metadata["deltaChunks"]).toBeGreaterThan(0);
  return entry;
}

async function readAll(entry: FileEntry): Promise<Buffer> {
  const repo = await Repository.open(new LocalBackend(repoDir));
  const parts: Buffer[] = [];
  for await (const part of parallelChunks(repo.chunks, repoDir, entry, 2)) {
    // A copy: once released, the worker decodes the next frames into the same memory.
    parts.push(Buffer.from(part.data));
    part.release();
  }
  return Buffer.concat(parts);
}

describe("parallelChunks", () => {
  const first = Buffer.concat([seeded("a", 3 << 20), Buffer.from("text ".repeat(400_000))]);
  const second = Buffer.from(first);
  for (let i = 4096; i < second.length; i += 100_000) second[i] = second[i]! ^ 0xff; // a byte changed in every chunk

  it("reads whole frames and zstd-ref deltas back in order, byte-exact", async () => {
    const repo = (await Repository.init(new LocalBackend(repoDir))).repo;
    const a = await store(repo, first);
    const b = await store(repo, second, a);
    expect((await readAll(a)).equals(first)).toBe(true);
    expect((await readAll(b)).equals(second)).toBe(true);
    await expect(readAll({ ...b, size: b.size + 1 })).rejects.toThrow(RepoCorruptError);
    await expect(readAll({ ...b, sha256: "0".repeat(64) })).rejects.toThrow(/does not match/);
  });

  it("reads chunk objects (chunks too large for packs) as well", async () => {
    const repo = (await Repository.init(new LocalBackend(repoDir))).repo;
    const writer = new SnapshotWriter(repo, { target: "t", type: "files" });
    const data = Buffer.concat([seeded("big", 5 << 20), Buffer.from("tail ".repeat(1000))]);
    const stored = await writer.storeBuffer(data);
    await writer.commit({ sourceBytes: data.length, metadata: {} });
    const catalog = await (await Repository.open(new LocalBackend(repoDir))).chunks.packs();
    expect(stored.chunks.some((id) => !catalog.chunks.has(id))).toBe(true);
    const entry = entryOf("/f", stored);
    expect((await readAll(entry)).equals(data)).toBe(true);
    const object = (await storedChunks(repoDir)).find((c) => !catalog.chunks.has(c.id))!;
    await damageChunk(object);
    await expect(readAll(entry)).rejects.toThrow(`chunk ${object.id} is damaged`);
  });

  it("a damaged frame is a RepoCorruptError naming a chunk; a damaged dictionary is named as such", async () => {
    const repo = (await Repository.init(new LocalBackend(repoDir))).repo;
    const a = await store(repo, first);
    const b = await store(repo, second, a);
    const stored = await storedChunks(repoDir);
    // The first chunk of the second stream is a delta against the first stream's first chunk.
    const delta = stored.find((c) => c.id === b.chunks[0])!;
    const dictionary = stored.find((c) => c.id === a.chunks[0])!;
    const catalog = await (await Repository.open(new LocalBackend(repoDir))).chunks.packs();
    expect(catalog.chunks.get(delta.id)?.frame.ref).toBe(dictionary.id);

    await damageChunk(dictionary);
    const err = await readAll(b).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(RepoCorruptError);
    expect(err!.message).toContain(`chunk ${b.chunks[0]} cannot be decoded: chunk ${a.chunks[0]} is damaged`);
    await expect(readAll(a)).rejects.toThrow(`chunk ${a.chunks[0]}`);
  });
});

import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { seeded } from "../../test/helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../../test/helpers/temp-dir.js";
import type { Backend } from "./backend.js";
import { LocalBackend } from "./backends/local.js";
import { verifiedChunks } from "./entry-content.js";
import { rebuildIndex } from "./pack-catalog.js";
import { decodePackIndex, packIndexKey, packKey, type PackFrame } from "./pack-format.js";
import { storeStreamPooled } from "./pooled-stream.js";
import { Repository } from "./repository.js";
import type { FileEntry } from "./snapshot.js";
import { SnapshotWriter } from "./snapshot-writer.js";
import { StorePool } from "./store-pool.js";
import { WorkerPacks, workerPackIndex } from "./worker-packs.js";

const frame = (offset: number, length: number, id: string): PackFrame => ({
  offset,
  length,
  encoding: "raw",
  chunks: [[id, length]],
});

describe("WorkerPacks", () => {
  const temps = (): ((id: string) => Promise<string>) => (id) => Promise.resolve(`/tmp/${id}`);

  it("gives a worker one pack until it is full, and each worker its own", async () => {
    const packs = new WorkerPacks(temps(), 100);
    const a1 = await packs.reserve(0);
    const a2 = await packs.reserve(0);
    const b = await packs.reserve(1);
    expect(a2).toEqual(a1);
    expect(a1.temp).toBe(`/tmp/${a1.id}`);
    expect(b.id).not.toBe(a1.id);

    expect(packs.record({ pack: a1.id, frames: [frame(0, 60, "x")] })).toBeUndefined();
    // Full now, and both jobs sent with it are recorded: ready to seal.
    expect(packs.record({ pack: a1.id, frames: [frame(60, 50, "y")] })?.id).toBe(a1.id);
    expect((await packs.reserve(0)).id).not.toBe(a1.id);
    // Not full: the worker goes on filling it.
    expect(packs.record({ pack: b.id, frames: [frame(0, 10, "z")] })).toBeUndefined();
    expect((await packs.reserve(1)).id).toBe(b.id);
  });

  it("seals a full pack once every job sent with it is recorded, in any order", async () => {
    const packs = new WorkerPacks(temps(), 100);
    const first = await packs.reserve(0);
    await packs.reserve(0);
    await packs.reserve(0);
    // The third job is recorded first (OrderedJobs records in stream order, not reply order).
    expect(packs.record({ pack: first.id, frames: [frame(70, 40, "c")] })).toBeUndefined();
    const next = await packs.reserve(0);
    expect(next.id).not.toBe(first.id);
    expect(packs.record({ pack: first.id, frames: [frame(0, 30, "a")] })).toBeUndefined();
    const sealed = packs.record({ pack: first.id, frames: [frame(30, 40, "b")] });
    expect(sealed?.id).toBe(first.id);
    expect(sealed?.bytes).toBe(110);
    expect(sealed?.chunkCount).toBe(3);
    expect(workerPackIndex(sealed!).frames.map((f) => f.offset)).toEqual([0, 30, 70]);
  });

  it("at the end gives the packs with frames, and refuses one with a job not recorded", async () => {
    const packs = new WorkerPacks(temps(), 1000);
    const a = await packs.reserve(0);
    const b = await packs.reserve(1);
    packs.record({ pack: a.id, frames: [frame(0, 10, "a")] });
    packs.record({ pack: b.id, frames: [] });
    expect(packs.finish().map((p) => p.id)).toEqual([a.id]);

    const open = new WorkerPacks(temps(), 1000);
    await open.reserve(0);
    expect(() => open.finish()).toThrow(/not recorded/);
    expect(() => open.record({ pack: "f".repeat(32), frames: [] })).toThrow(/not reserved/);
  });
});

describe("packs written by the worker threads", () => {
  let dir: string;
  let pool: StorePool;
  beforeEach(async () => {
    dir = await makeTempDir("prs-worker-packs-");
    pool = new StorePool(2, 3);
  });
  afterEach(async () => {
    await pool.close();
    await removeTempDirs();
  });

  /**
   * Small chunks (all framed) and small packs: each job (4 MiB of a stream) fills a pack,
   * so packs are sealed while the stream goes on.
   */
  const CHUNKER = { minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 };
  const DATA = Buffer.concat([
    seeded("w", 12 << 20),
    Buffer.from("INSERT INTO documents VALUES (1, 'text');\n".repeat(60_000)),
    seeded("v", 4 << 20),
  ]);

  async function* pieces(data: Buffer): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += 40_000) yield await Promise.resolve(data.subarray(i, i + 40_000));
  }

  /** Files under `root` whose name marks them as temp files. */
  async function temps(root: string): Promise<string[]> {
    const all = await readdir(root, { recursive: true });
    return all.filter((p) => path.basename(p).startsWith(".tmp"));
  }

  async function store(
    backend: Backend,
    data = DATA,
  ): Promise<{ repo: Repository; entry: FileEntry; storedBytes: number }> {
    const repo = (await Repository.init(backend)).repo;
    const writer = new SnapshotWriter(repo, {
      target: "db",
      type: "postgres",
      chunker: CHUNKER,
      packTargetBytes: 512 * 1024,
    });
    const stored = await storeStreamPooled(writer, pool, pieces(data), writer.chunkerParams);
    const entry: FileEntry = {
      path: "d",
      type: "file",
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeNs: "1",
      ...stored,
    };
    await writer.addEntry(entry);
    const manifest = await writer.commit({ sourceBytes: stored.size, metadata: {} });
    return { repo, entry, storedBytes: manifest.storedBytes };
  }

  async function readBack(repo: Repository, entry: FileEntry): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of verifiedChunks(repo.chunks, entry)) parts.push(Buffer.from(part));
    return Buffer.concat(parts);
  }

  async function packIds(repo: Repository): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of repo.backend.listKeys("packs/")) ids.push(key.slice(key.lastIndexOf("/") + 1));
    return ids;
  }

  it("are complete packs: read back byte-exact, each trailer matching its index", async () => {
    const { repo, entry } = await store(new LocalBackend(path.join(dir, "repo")));
    expect((await readBack(repo, entry)).equals(DATA)).toBe(true);
    const ids = await packIds(repo);
    // 18 MB in 4 MiB jobs, a pack each.
    expect(ids.length).toBeGreaterThanOrEqual(4);
    for (const id of ids) {
      const body = await readFile(path.join(dir, "repo", ...packKey(id).split("/")));
      // The index rebuilt from the pack's own trailer and frames is the one written beside it.
      const rebuilt = await rebuildIndex(repo.backend, id, body.length);
      const written = decodePackIndex(await repo.backend.get(packIndexKey(id)), id);
      expect(rebuilt.frames.length).toBeGreaterThan(0);
      expect(rebuilt).toEqual(written);
      // Frames back to back from the start, then the trailer: nothing lost or overwritten.
      let end = 0;
      for (const f of written.frames) {
        expect(f.offset).toBe(end);
        end = f.offset + f.length;
      }
      expect(body.subarray(body.length - 8).toString("latin1")).toBe("PRSPACK1");
    }
    expect(await temps(path.join(dir, "repo"))).toEqual([]);
  });

  it("of a small backup are merged into one pack with the entry list", async () => {
    // Text first: a frame whose first bytes do not compress is stored raw (FrameEncoder's sample).
    const small = Buffer.concat([Buffer.from("a line of text\n".repeat(20_000)), seeded("s", 60_000)]);
    const { repo, entry } = await store(new LocalBackend(path.join(dir, "small")), small);
    expect(entry.chunks.length).toBeGreaterThanOrEqual(3);
    expect(await packIds(repo)).toHaveLength(1);
    expect((await readBack(repo, entry)).equals(small)).toBe(true);
    expect(await temps(path.join(dir, "small"))).toEqual([]);
  });

  it("match what a backend that cannot adopt files stores from frames sent back", async () => {
    const local = new LocalBackend(path.join(dir, "plain"));
    // The same local directory without adopt: frames come back to this thread to be packed.
    const plain = new Proxy(local, {
      get: (target, name) => {
        if (name === "adopt") return undefined;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const viaWorkers = await store(new LocalBackend(path.join(dir, "workers")));
    const viaMain = await store(plain);
    expect(viaMain.entry.chunks).toEqual(viaWorkers.entry.chunks);
    expect((await readBack(viaMain.repo, viaMain.entry)).equals(DATA)).toBe(true);
    expect(Math.abs(viaMain.storedBytes - viaWorkers.storedBytes)).toBeLessThan(viaMain.storedBytes * 0.05);
  });
});

import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LockedError, RepoCorruptError, UserError } from "../errors.js";
import { silentLogger, type Logger } from "../util/logger.js";
import { LocalBackend } from "./backends/local.js";
import { chunkKey } from "./chunk-store.js";
import { RepoLock, readLocks } from "./lock.js";
import { Repository } from "./repository.js";
import { SnapshotWriter } from "./snapshot-writer.js";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-repo-test-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function newRepo(): Promise<Repository> {
  return (await Repository.init(new LocalBackend(path.join(dir, "repo")))).repo;
}

describe("Repository", () => {
  it("init is idempotent, keeps its id, and makes private files and folders", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const first = await Repository.init(backend);
    const second = await Repository.init(backend);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.repo.header.id).toBe(first.repo.header.id);
    const st = await fs.stat(path.join(dir, "repo", "repository.json"));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(dir, "repo"))).mode & 0o777).toBe(0o700);
  });

  it("refuses to open a folder that is not a repository", async () => {
    await expect(Repository.open(new LocalBackend(dir))).rejects.toThrow(UserError);
    await expect(Repository.open(new LocalBackend(dir))).rejects.toThrow(/run `prs-backup init`/);
  });

  it("stores a chunk once, reads it back verified, and names a damaged one", async () => {
    const repo = await newRepo();
    const data = Buffer.from("hello ".repeat(10_000));
    const a = await repo.chunks.put(data);
    const b = await repo.chunks.put(data);
    expect(a.storedBytes).toBeGreaterThan(0);
    expect(a.storedBytes).toBeLessThan(data.length);
    expect(b.storedBytes).toBe(0);
    expect((await repo.chunks.get(a.id)).equals(data)).toBe(true);

    const file = path.join(dir, "repo", ...chunkKey(a.id).split("/"));
    const body = await fs.readFile(file);
    body[body.length - 3]! ^= 0xff;
    await fs.writeFile(file, body);
    await expect(repo.chunks.get(a.id)).rejects.toThrow(RepoCorruptError);
    await expect(repo.chunks.get(a.id)).rejects.toThrow(a.id);
    await fs.rm(file);
    await expect(repo.chunks.get(a.id)).rejects.toThrow(/missing/);
  });

  it("stores incompressible chunks raw", async () => {
    const repo = await newRepo();
    const random = (await import("node:crypto")).randomBytes(4096);
    const { id, storedBytes } = await repo.chunks.put(random);
    expect(storedBytes).toBe(random.length + 1);
    expect((await repo.chunks.get(id)).equals(random)).toBe(true);
  });

  it("finds a chunk stored earlier in the same snapshot once its pack is written, and stores it once", async () => {
    const { randomBytes } = await import("node:crypto");
    const repo = await newRepo();
    await repo.chunks.loadIndex();
    const writer = new SnapshotWriter(repo, { target: "t", type: "files" });
    const first = randomBytes(100_000);
    const stored = await writer.storeBuffer(first);
    // More than a pack's worth after it: the pack holding `first` is sealed and written.
    for (let i = 0; i < 450; i++) await writer.storeBuffer(randomBytes(40_000));
    await writer.drain();
    expect(stored.chunks.every((id) => repo.chunks.has(id))).toBe(true);
    expect((await writer.storeBuffer(first)).chunks).toEqual(stored.chunks);
    expect(writer.hasLoadedChunks(stored.chunks)).toBe(true);
    expect(await writer.claimChunk(stored.chunks[0]!)).toBe(false);
    const manifest = await writer.commit({ sourceBytes: 0, metadata: {} });
    // Each 40 kB buffer is one chunk; `first` counts once.
    expect(manifest.metadata["newChunks"]).toBe(stored.chunks.length + 450);
  });

  it("makes a snapshot visible only on commit, with entries in order (unicode across chunk boundaries)", async () => {
    const repo = await newRepo();
    const writer = new SnapshotWriter(repo, { target: "t", type: "files" });
    const names = Array.from(
      { length: 3000 },
      (_, i) => `/data/ünïcødé-${String(i).padStart(5, "0")}-日本語`,
    );
    for (const p of names)
      await writer.addEntry({ path: p, type: "dir", mode: 0o755, uid: 0, gid: 0, mtimeNs: "1" });
    expect(await repo.snapshots.ids()).toEqual([]);
    const manifest = await writer.commit({ sourceBytes: 0, metadata: {} });
    expect(manifest.entries.chunks.length).toBeGreaterThan(1);
    const read: string[] = [];
    for await (const e of repo.snapshots.entries(manifest)) read.push(e.path);
    expect(read).toEqual(names);
    expect((await repo.snapshots.resolve(manifest.id.slice(0, 6))).id).toBe(manifest.id);
    expect((await repo.snapshots.resolve("latest", "t")).id).toBe(manifest.id);
    await expect(repo.snapshots.resolve("ffff0000")).rejects.toThrow(/no snapshot ffff0000/);
    await expect(repo.snapshots.resolve("latest", "other")).rejects.toThrow(/no complete snapshot/);
  });
});

describe("RepoLock", () => {
  const logged: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (m) => logged.push(m) };

  it("lets shared locks coexist and keeps an exclusive lock out", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const a = await RepoLock.acquire(backend, { exclusive: false, operation: "backup a", logger });
    const b = await RepoLock.acquire(backend, { exclusive: false, operation: "backup b", logger });
    await expect(RepoLock.acquire(backend, { exclusive: true, operation: "prune", logger })).rejects.toThrow(
      LockedError,
    );
    await a.release();
    await b.release();
    const c = await RepoLock.acquire(backend, { exclusive: true, operation: "prune", logger });
    await expect(
      RepoLock.acquire(backend, { exclusive: false, operation: "backup", logger }),
    ).rejects.toThrow(/locked by another exclusive lock of "prune"/);
    await c.release();
    expect(await readLocks(backend)).toEqual([]);
  });

  it("waits for a conflicting lock up to the timeout", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const held = await RepoLock.acquire(backend, { exclusive: true, operation: "prune", logger });
    setTimeout(() => void held.release(), 300);
    const started = Date.now();
    const lock = await RepoLock.acquire(backend, {
      exclusive: false,
      operation: "backup",
      logger,
      timeoutMs: 5000,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await lock.release();
  });

  it("removes a lock left by a process that is gone, and says so", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const child = spawn(process.execPath, ["-e", "0"]);
    const deadPid = child.pid!;
    await new Promise((resolve) => child.on("exit", resolve));
    const stamp = new Date().toISOString();
    await backend.put(
      "locks/deadbeef.json",
      JSON.stringify({
        id: "deadbeef",
        exclusive: true,
        operation: "prune",
        host: os.hostname(),
        pid: deadPid,
        created: stamp,
        refreshed: stamp,
      }),
    );
    const lock = await RepoLock.acquire(backend, { exclusive: false, operation: "backup", logger });
    expect(logged.some((m) => m.includes("stale") && m.includes(String(deadPid)))).toBe(true);
    await lock.release();
  });

  it("expires a lock from another host that stopped refreshing", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const old = new Date(Date.now() - 31 * 60 * 1000).toISOString();
    await backend.put(
      "locks/feedface.json",
      JSON.stringify({
        id: "feedface",
        exclusive: true,
        operation: "prune",
        host: "elsewhere",
        pid: 1,
        created: old,
        refreshed: old,
      }),
    );
    const lock = await RepoLock.acquire(backend, { exclusive: false, operation: "backup", logger });
    await lock.release();
    expect(await readLocks(backend)).toEqual([]);
  });
});

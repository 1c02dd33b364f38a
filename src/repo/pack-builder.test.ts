import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { LocalBackend } from "./backends/local.js";
import { ChunkStore } from "./chunk-store.js";
import { PackBuilder, putPack, type FrameEncoder, type SealedPack } from "./pack-builder.js";
import { rebuildIndex } from "./pack-catalog.js";
import {
  decodePackIndex,
  decodePackLayout,
  isPackId,
  packIndexKey,
  packKey,
  TRAILER_FIXED_BYTES,
  TRAILER_MAGIC,
  type PackIndex,
} from "./pack-format.js";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pack-builder-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Stores every frame raw: stored bytes equal plain bytes, so targets are easy to reason about. */
const rawEncoder: FrameEncoder = (plain) => ({ encoding: "raw", body: Buffer.from(plain) });
/** Always zstd, to check that compressed frames decode back to their chunks. */
const zstdEncoder: FrameEncoder = (plain) => ({ encoding: "zstd", body: compress(plain) });

function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A chunk of `size` bytes whose content depends on `n` (distinct ids). */
function chunk(n: number, size: number): { id: string; data: Buffer } {
  const data = Buffer.alloc(size, n % 251);
  data.writeUInt32LE(n, 0);
  return { id: sha(data), data };
}

function bodyOf(sealed: SealedPack): Buffer {
  return Buffer.concat(sealed.body);
}

/** Ids per frame, in order. */
function frameIds(index: PackIndex): string[][] {
  return index.frames.map((f) => f.chunks.map(([id]) => id));
}

/**
 * Checks a sealed pack against its own bytes: frames are contiguous from offset 0, each
 * frame decodes to its chunks' bytes in order, and the trailer (parsed by hand, per the
 * format: zstd(layout), u32le length, magic) describes the same frames and sizes.
 */
function checkPackBytes(sealed: SealedPack, plainById: Map<string, Buffer>): void {
  const body = bodyOf(sealed);
  expect(body.length).toBe(sealed.bytes);
  let expectedOffset = 0;
  let chunkCount = 0;
  for (const frame of sealed.index.frames) {
    expect(frame.offset).toBe(expectedOffset);
    const stored = body.subarray(frame.offset, frame.offset + frame.length);
    const plain = frame.encoding === "zstd" ? decompress(stored) : stored;
    let at = 0;
    for (const [id, size] of frame.chunks) {
      const slice = plain.subarray(at, at + size);
      expect(sha(slice)).toBe(id);
      expect(slice.equals(plainById.get(id)!)).toBe(true);
      at += size;
      chunkCount += 1;
    }
    expect(at).toBe(plain.length);
    expectedOffset += frame.length;
  }
  expect(sealed.chunkCount).toBe(chunkCount);

  // The trailer, by hand.
  const tail = body.subarray(body.length - TRAILER_FIXED_BYTES);
  expect(tail.toString("latin1", 4)).toBe(TRAILER_MAGIC);
  const trailerLength = tail.readUInt32LE(0);
  const trailerStart = body.length - TRAILER_FIXED_BYTES - trailerLength;
  // The trailer begins right after the last frame.
  expect(trailerStart).toBe(expectedOffset);
  const layout = JSON.parse(
    decompress(body.subarray(trailerStart, trailerStart + trailerLength)).toString("utf8"),
  ) as unknown;
  expect(layout).toEqual({
    version: 1,
    pack: sealed.id,
    frames: sealed.index.frames.map((f) => ({
      offset: f.offset,
      length: f.length,
      encoding: f.encoding,
      sizes: f.chunks.map(([, size]) => size),
    })),
  });
  // And through the library's decoder.
  expect(decodePackLayout(body.subarray(trailerStart, trailerStart + trailerLength), sealed.id)).toEqual(
    layout,
  );
  expect(() =>
    decodePackLayout(body.subarray(trailerStart, trailerStart + trailerLength), "0".repeat(32)),
  ).toThrow(/not a version-1 pack trailer/);
}

describe("PackBuilder", () => {
  it("puts chunks into frames in the order added and seals a frame once it reaches the frame target", () => {
    const builder = new PackBuilder(rawEncoder, { frameTargetBytes: 100, packTargetBytes: 1_000_000 });
    const chunks = Array.from({ length: 7 }, (_, i) => chunk(i, 40));
    expect(builder.empty).toBe(true);
    for (const c of chunks) expect(builder.add(c.id, c.data)).toBeUndefined();
    expect(builder.empty).toBe(false);
    const sealed = builder.finish()!;
    expect(sealed).toBeDefined();
    // 40+40 < 100, +40 = 120 ≥ 100 seals; the 7th chunk is left for finish() to seal.
    expect(frameIds(sealed.index)).toEqual([
      [chunks[0]!.id, chunks[1]!.id, chunks[2]!.id],
      [chunks[3]!.id, chunks[4]!.id, chunks[5]!.id],
      [chunks[6]!.id],
    ]);
    expect(sealed.index.frames.map((f) => f.length)).toEqual([120, 120, 40]);
    expect(sealed.index.frames.map((f) => f.offset)).toEqual([0, 120, 240]);
    expect(sealed.index.frames.every((f) => f.encoding === "raw")).toBe(true);
    expect(sealed.index.frames.flatMap((f) => f.chunks.map(([, size]) => size))).toEqual(Array(7).fill(40));
    expect(sealed.chunkCount).toBe(7);
    expect(sealed.index).toMatchObject({ version: 1, pack: sealed.id });
    expect(isPackId(sealed.id)).toBe(true);
    checkPackBytes(sealed, new Map(chunks.map((c) => [c.id, c.data])));
    expect(builder.empty).toBe(true);
    expect(builder.finish()).toBeUndefined();
  });

  it("a frame reaching its target exactly is sealed; a chunk larger than the target is a frame of its own", () => {
    const builder = new PackBuilder(rawEncoder, { frameTargetBytes: 100, packTargetBytes: 1_000_000 });
    const a = chunk(1, 60);
    const b = chunk(2, 40); // 60 + 40 = 100: exactly the target
    const big = chunk(3, 250);
    const c = chunk(4, 10);
    for (const x of [a, b, big, c]) expect(builder.add(x.id, x.data)).toBeUndefined();
    const sealed = builder.finish()!;
    expect(frameIds(sealed.index)).toEqual([[a.id, b.id], [big.id], [c.id]]);
    checkPackBytes(sealed, new Map([a, b, big, c].map((x) => [x.id, x.data])));
  });

  it("endFrame() seals a partial frame, and never makes an empty one", () => {
    const builder = new PackBuilder(rawEncoder, { frameTargetBytes: 1000, packTargetBytes: 1_000_000 });
    const chunks = Array.from({ length: 5 }, (_, i) => chunk(10 + i, 30));
    expect(builder.endFrame()).toBeUndefined(); // nothing yet: no frame
    builder.add(chunks[0]!.id, chunks[0]!.data);
    builder.add(chunks[1]!.id, chunks[1]!.data);
    expect(builder.endFrame()).toBeUndefined();
    expect(builder.endFrame()).toBeUndefined(); // a second call adds nothing
    builder.add(chunks[2]!.id, chunks[2]!.data);
    expect(builder.endFrame()).toBeUndefined();
    builder.add(chunks[3]!.id, chunks[3]!.data);
    builder.add(chunks[4]!.id, chunks[4]!.data);
    const sealed = builder.finish()!;
    expect(frameIds(sealed.index)).toEqual([
      [chunks[0]!.id, chunks[1]!.id],
      [chunks[2]!.id],
      [chunks[3]!.id, chunks[4]!.id],
    ]);
    expect(sealed.index.frames.every((f) => f.length > 0 && f.chunks.length > 0)).toBe(true);
    checkPackBytes(sealed, new Map(chunks.map((c) => [c.id, c.data])));
  });

  it("hands out a pack as soon as the pack target is reached, from add() or endFrame(), each with a new id", () => {
    const builder = new PackBuilder(rawEncoder, { frameTargetBytes: 100, packTargetBytes: 250 });
    const chunks = Array.from({ length: 12 }, (_, i) => chunk(100 + i, 50));
    const plain = new Map(chunks.map((c) => [c.id, c.data]));
    const packs: SealedPack[] = [];
    const handedAt: number[] = [];
    for (const [i, c] of chunks.entries()) {
      const sealed = builder.add(c.id, c.data);
      if (sealed) {
        packs.push(sealed);
        handedAt.push(i);
      }
    }
    // Frames of 2 chunks (100 bytes); a pack is full at 3 frames (300 ≥ 250): after chunks 5 and 11.
    expect(handedAt).toEqual([5, 11]);
    expect(frameIds(packs[0]!.index)).toEqual([
      [chunks[0]!.id, chunks[1]!.id],
      [chunks[2]!.id, chunks[3]!.id],
      [chunks[4]!.id, chunks[5]!.id],
    ]);
    expect(packs[1]!.index.frames.map((f) => f.offset)).toEqual([0, 100, 200]);
    expect(frameIds(packs[1]!.index).flat()).toEqual(chunks.slice(6).map((c) => c.id));
    expect(packs[0]!.id).not.toBe(packs[1]!.id);
    for (const p of packs) checkPackBytes(p, plain);
    expect(builder.empty).toBe(true);
    expect(builder.finish()).toBeUndefined();

    // endFrame() hands out a pack too once the sealed frame fills it.
    const fromEndFrame = new PackBuilder(rawEncoder, { frameTargetBytes: 1000, packTargetBytes: 250 });
    const parts = Array.from({ length: 3 }, (_, i) => chunk(300 + i, 90));
    for (const p of parts) expect(fromEndFrame.add(p.id, p.data)).toBeUndefined();
    const sealed = fromEndFrame.endFrame();
    expect(sealed).toBeDefined();
    expect(frameIds(sealed!.index)).toEqual([parts.map((p) => p.id)]);
    expect(fromEndFrame.empty).toBe(true);
    expect(fromEndFrame.finish()).toBeUndefined();
  });

  it("a single chunk that fills both targets is handed out by add() itself", () => {
    const builder = new PackBuilder(rawEncoder, { frameTargetBytes: 100, packTargetBytes: 250 });
    const big = chunk(200, 260);
    const sealed = builder.add(big.id, big.data);
    expect(sealed).toBeDefined();
    expect(frameIds(sealed!.index)).toEqual([[big.id]]);
    expect(builder.empty).toBe(true);
    expect(builder.finish()).toBeUndefined();
  });

  it("finish() returns undefined for a builder that never got a chunk", () => {
    const builder = new PackBuilder(rawEncoder);
    expect(builder.empty).toBe(true);
    expect(builder.finish()).toBeUndefined();
    expect(builder.endFrame()).toBeUndefined();
  });

  it("zstd frames decode back to their chunks; the trailer describes the compressed lengths", () => {
    const builder = new PackBuilder(zstdEncoder, { frameTargetBytes: 64 * 1024, packTargetBytes: 1 << 30 });
    const chunks = Array.from({ length: 9 }, (_, i) => {
      const data = Buffer.from(`line ${i} of a compressible log\n`.repeat(500 + i * 37));
      return { id: sha(data), data };
    });
    for (const c of chunks) builder.add(c.id, c.data);
    const sealed = builder.finish()!;
    expect(sealed.index.frames.length).toBeGreaterThan(1);
    expect(sealed.index.frames.every((f) => f.encoding === "zstd")).toBe(true);
    const plainBytes = chunks.reduce((n, c) => n + c.data.length, 0);
    expect(sealed.bytes).toBeLessThan(plainBytes / 5);
    expect(frameIds(sealed.index).flat()).toEqual(chunks.map((c) => c.id));
    checkPackBytes(sealed, new Map(chunks.map((c) => [c.id, c.data])));
  });

  it("with the chunk store's encoder, compressible frames are zstd and random ones raw", () => {
    const store = new ChunkStore(new LocalBackend(path.join(dir, "unused")));
    const builder = new PackBuilder((plain) => store.encodeFrame(plain), { packTargetBytes: 1 << 30 });
    const text = Buffer.from("compressible text, over and over. ".repeat(3000));
    const random = createHash("sha512").update("seed").digest();
    const noise = Buffer.concat(
      Array.from({ length: 2000 }, (_, i) => createHash("sha512").update(random).update(String(i)).digest()),
    );
    builder.add(sha(text), text);
    builder.endFrame();
    builder.add(sha(noise), noise);
    const sealed = builder.finish()!;
    expect(sealed.index.frames.map((f) => f.encoding)).toEqual(["zstd", "raw"]);
    expect(sealed.index.frames[1]!.length).toBe(noise.length);
    checkPackBytes(
      sealed,
      new Map([
        [sha(text), text],
        [sha(noise), noise],
      ]),
    );
  });

  it("putPack writes the pack and its index; both read back, and the trailer rebuilds the same index", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const builder = new PackBuilder(zstdEncoder, { frameTargetBytes: 4096, packTargetBytes: 1 << 30 });
    const chunks = Array.from({ length: 20 }, (_, i) => {
      const data = Buffer.from(`chunk ${i}: ${"abc".repeat(300 + i)}`);
      return { id: sha(data), data };
    });
    for (const [i, c] of chunks.entries()) {
      builder.add(c.id, c.data);
      if (i % 6 === 5) builder.endFrame();
    }
    const sealed = builder.finish()!;
    const { bytes, indexSize } = await putPack(backend, sealed);
    await backend.flush();

    const packFile = path.join(dir, "repo", ...packKey(sealed.id).split("/"));
    const indexFile = path.join(dir, "repo", ...packIndexKey(sealed.id).split("/"));
    const packBytes = await fs.readFile(packFile);
    const indexBytes = await fs.readFile(indexFile);
    expect(packBytes.equals(bodyOf(sealed))).toBe(true);
    expect(indexBytes.length).toBe(indexSize);
    expect(bytes).toBe(packBytes.length + indexBytes.length);
    // The index object is zstd-compressed JSON of the index.
    expect(JSON.parse(decompress(indexBytes).toString("utf8"))).toEqual(sealed.index);
    expect(decodePackIndex(indexBytes, sealed.id)).toEqual(sealed.index);
    expect(() => decodePackIndex(indexBytes, "f".repeat(32))).toThrow(/not a version-1 pack index/);
    // A chunk entry that is not [64 hex digits, size] makes the index unreadable (the
    // catalog then rebuilds it from the pack) rather than entering the chunk table.
    const [firstId] = sealed.index.frames[0]!.chunks[0]!;
    for (const entry of [
      [firstId.toUpperCase(), 1],
      [firstId, -1],
      [firstId],
      ["x", 1],
      [firstId, 2 ** 32],
    ]) {
      const bad = structuredClone(sealed.index) as { frames: { chunks: unknown[] }[] };
      bad.frames[0]!.chunks[0] = entry;
      const body = compress(Buffer.from(JSON.stringify(bad)));
      expect(() => decodePackIndex(body, sealed.id)).toThrow(/malformed frame entry/);
    }

    // The trailer copy, with ids recomputed from the frames, is the same index.
    expect(await rebuildIndex(backend, sealed.id, packBytes.length)).toEqual(sealed.index);
    checkPackBytes(sealed, new Map(chunks.map((c) => [c.id, c.data])));
  });

  it("addRef seals the frame being filled and adds a zstd-ref frame that the trailer rebuilds with its ref and id", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const store = new ChunkStore(backend);
    const builder = new PackBuilder(zstdEncoder, { frameTargetBytes: 1 << 20, packTargetBytes: 1 << 30 });
    const base = Buffer.from("the previous version of a piece of a file\n".repeat(100));
    const next = Buffer.from(base.toString().replace("previous", "next"));
    builder.add(sha(base), base);
    const body = store.encodeRef(next, base);
    expect(body.length * 8).toBeLessThan(next.length);
    expect(builder.addRef(sha(next), next.length, body, sha(base))).toBeUndefined();
    const sealed = builder.finish()!;
    expect(sealed.index.frames.map((f) => [f.encoding, f.ref, f.chunks])).toEqual([
      ["zstd", undefined, [[sha(base), base.length]]],
      ["zstd-ref", sha(base), [[sha(next), next.length]]],
    ]);
    const packBytes = bodyOf(sealed);
    await putPack(backend, sealed);
    await backend.flush();
    expect(await rebuildIndex(backend, sealed.id, packBytes.length)).toEqual(sealed.index);
  });

  it("rebuildIndex refuses a pack whose trailer is gone, and leaves out a frame that no longer decodes", async () => {
    const backend = new LocalBackend(path.join(dir, "repo"));
    const builder = new PackBuilder(zstdEncoder, { frameTargetBytes: 1 << 20, packTargetBytes: 1 << 30 });
    const chunks = Array.from({ length: 3 }, (_, i) => {
      const data = Buffer.from(`frame ${i} `.repeat(2000));
      return { id: sha(data), data };
    });
    for (const c of chunks) {
      builder.add(c.id, c.data);
      builder.endFrame();
    }
    const sealed = builder.finish()!;
    await putPack(backend, sealed);
    await backend.flush();
    const packFile = path.join(dir, "repo", ...packKey(sealed.id).split("/"));
    const good = await fs.readFile(packFile);

    // Damage the middle frame: the other two are still rebuilt.
    const damaged = Buffer.from(good);
    const middle = sealed.index.frames[1]!;
    damaged.fill(0xff, middle.offset, middle.offset + middle.length);
    await fs.writeFile(packFile, damaged);
    const rebuilt = await rebuildIndex(backend, sealed.id, damaged.length);
    expect(rebuilt.frames).toEqual([sealed.index.frames[0], sealed.index.frames[2]]);

    // Cut off the magic: no trailer.
    await fs.writeFile(packFile, good.subarray(0, good.length - 1));
    await expect(rebuildIndex(backend, sealed.id, good.length - 1)).rejects.toThrow(/has no trailer/);
  });
});

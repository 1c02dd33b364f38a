import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { ChunkTable, type ChunkLocation } from "./chunk-table.js";
import type { PackFrame, PackIndex } from "./pack-format.js";

/** A seeded generator of numbers in [0, 1) (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha = (n: number) => createHash("sha256").update(`chunk ${n}`).digest("hex");

/** The plain model the table replaces: first location of each id, packs kept as given. */
function modelOf(indexes: PackIndex[]): Map<string, ChunkLocation> {
  const model = new Map<string, ChunkLocation>();
  for (const index of indexes) {
    for (const frame of index.frames) {
      let start = 0;
      for (const [id, size] of frame.chunks) {
        if (!model.has(id)) {
          model.set(id, {
            frame: {
              pack: index.pack,
              offset: frame.offset,
              length: frame.length,
              encoding: frame.encoding,
              ...(frame.ref !== undefined ? { ref: frame.ref } : {}),
            },
            start,
            size,
          });
        }
        start += size;
      }
    }
  }
  return model;
}

/** Random packs over a pool of ids small enough that many chunks are stored twice. */
function randomPacks(seed: number, packs: number, idPool: number): PackIndex[] {
  const random = seeded(seed);
  const indexes: PackIndex[] = [];
  for (let p = 0; p < packs; p += 1) {
    const frames: PackFrame[] = [];
    let offset = 0;
    const frameCount = 1 + Math.floor(random() * 12);
    for (let f = 0; f < frameCount; f += 1) {
      const kind = random();
      const length = 1 + Math.floor(random() * 5_000_000);
      if (kind < 0.1) {
        const frame: PackFrame = {
          offset,
          length,
          encoding: "zstd-ref",
          ref: sha(Math.floor(random() * idPool)),
          chunks: [[sha(Math.floor(random() * idPool)), Math.floor(random() * 0xffffffff)]],
        };
        frames.push(frame);
      } else {
        const chunks: [string, number][] = [];
        const chunkCount = Math.floor(random() * 40); // empty frames too
        for (let c = 0; c < chunkCount; c += 1) {
          chunks.push([sha(Math.floor(random() * idPool)), Math.floor(random() * 300_000)]);
        }
        frames.push({ offset, length, encoding: kind < 0.55 ? "zstd" : "raw", chunks });
      }
      offset += length;
    }
    indexes.push({ version: 1, pack: p.toString(16).padStart(32, "0"), frames });
  }
  return indexes;
}

describe("ChunkTable", () => {
  it("finds each chunk where it was added, and nothing else", () => {
    const table = new ChunkTable();
    const [a, b, c] = [sha(1), sha(2), sha(3)];
    table.addPack({
      version: 1,
      pack: "p".repeat(32),
      frames: [
        {
          offset: 0,
          length: 100,
          encoding: "zstd",
          chunks: [
            [a, 10],
            [b, 20],
          ],
        },
        { offset: 100, length: 50, encoding: "zstd-ref", ref: a, chunks: [[c, 30]] },
      ],
    });
    expect(table.size).toBe(3);
    expect(table.get(b)).toEqual({
      frame: { pack: "p".repeat(32), offset: 0, length: 100, encoding: "zstd" },
      start: 10,
      size: 20,
    });
    expect(table.get(c)?.frame).toEqual({
      pack: "p".repeat(32),
      offset: 100,
      length: 50,
      encoding: "zstd-ref",
      ref: a,
    });
    expect(table.has(sha(4))).toBe(false);
    expect(table.get(sha(4))).toBeUndefined();
    // Not ids at all: never found, never mistaken for one.
    for (const odd of ["", "zz", a.slice(0, 63), `${a}0`, `${a.slice(0, 62)}zz`, "0".repeat(64)]) {
      expect(table.has(odd)).toBe(false);
    }
  });

  it("refuses a malformed id when adding", () => {
    const table = new ChunkTable();
    const bad: PackIndex = {
      version: 1,
      pack: "p".repeat(32),
      frames: [{ offset: 0, length: 1, encoding: "raw", chunks: [["not-an-id", 1]] }],
    };
    expect(() => table.addPack(bad)).toThrow(/not a chunk id/);
  });

  it("agrees with a Map of first locations over random packs with many repeated ids", () => {
    for (const seed of [1, 2, 3]) {
      const indexes = randomPacks(seed, 300, 4_000);
      const table = new ChunkTable();
      for (const index of indexes) table.addPack(index);
      const model = modelOf(indexes);
      expect(table.size).toBe(model.size);
      for (const [id, location] of model) expect(table.get(id)).toEqual(location);
      for (let n = 4_000; n < 6_000; n += 1) expect(table.has(sha(n))).toBe(false);
      // Iteration: each distinct id once, in the order first added, at its first location.
      expect([...table]).toEqual([...model]);
    }
  });

  it("gives each pack's index back exactly as it was added, repeated chunks included", () => {
    const indexes = randomPacks(7, 200, 1_000);
    const table = new ChunkTable();
    const numbers = indexes.map((index) => table.addPack(index));
    indexes.forEach((index, i) => expect(table.packIndex(numbers[i]!)).toEqual(index));
    expect(() => table.packIndex(indexes.length)).toThrow(/no pack number/);
  });

  it("keeps finding chunks as it grows past its first sizes", () => {
    const table = new ChunkTable();
    const ids = Array.from({ length: 50_000 }, (_, n) => sha(n));
    for (let p = 0; p < ids.length / 500; p += 1) {
      const chunks = ids.slice(p * 500, (p + 1) * 500).map((id, i): [string, number] => [id, i]);
      table.addPack({
        version: 1,
        pack: p.toString(16).padStart(32, "0"),
        frames: [{ offset: 0, length: 1, encoding: "raw", chunks }],
      });
    }
    expect(table.size).toBe(ids.length);
    let start = 0;
    ids.forEach((id, n) => {
      if (n % 500 === 0) start = 0;
      expect(table.get(id)?.start).toBe(start);
      start += n % 500;
    });
  });
});

describe("ChunkTable.toBytes / fromBytes", () => {
  it("gives back the same table, which then grows as one built pack by pack", () => {
    const indexes = randomPacks(11, 240, 3_000);
    const first = indexes.slice(0, 200);
    const table = new ChunkTable();
    for (const index of first) table.addPack(index);
    const loaded = ChunkTable.fromBytes(table.toBytes());
    expect(loaded.size).toBe(table.size);
    expect(loaded.packIds).toEqual(first.map((i) => i.pack));
    expect([...loaded]).toEqual([...table]);
    first.forEach((index, i) => expect(loaded.packIndex(i)).toEqual(index));
    // Packs added after loading land as they would have in one table.
    for (const index of indexes.slice(200)) loaded.addPack(index);
    const model = modelOf(indexes);
    expect(loaded.size).toBe(model.size);
    for (const [id, location] of model) expect(loaded.get(id)).toEqual(location);
    for (let n = 3_000; n < 3_500; n += 1) expect(loaded.has(sha(n))).toBe(false);
  });

  it("an empty table and a one-pack table load and grow past their first sizes", () => {
    const empty = ChunkTable.fromBytes(new ChunkTable().toBytes());
    expect(empty.size).toBe(0);
    const ids = Array.from({ length: 5_000 }, (_, n) => sha(n));
    empty.addPack({
      version: 1,
      pack: "a".repeat(32),
      frames: [{ offset: 0, length: 1, encoding: "raw", chunks: ids.map((id): [string, number] => [id, 1]) }],
    });
    const again = ChunkTable.fromBytes(empty.toBytes());
    again.addPack({
      version: 1,
      pack: "b".repeat(32),
      frames: [{ offset: 0, length: 1, encoding: "zstd", chunks: [[sha(9_999), 7]] }],
    });
    for (const id of ids) expect(again.has(id)).toBe(true);
    expect(again.get(sha(9_999))?.size).toBe(7);
    expect(again.size).toBe(5_001);
  });

  it("refuses bytes that are cut short, too long, or of another byte order", () => {
    const table = new ChunkTable();
    for (const index of randomPacks(3, 5, 100)) table.addPack(index);
    const bytes = table.toBytes();
    expect(() => ChunkTable.fromBytes(bytes.subarray(0, bytes.length - 4))).toThrow(/cut short/);
    expect(() => ChunkTable.fromBytes(Buffer.concat([bytes, Buffer.alloc(4)]))).toThrow(/wrong length/);
    const swapped = Buffer.from(bytes);
    swapped.writeUInt32BE(swapped.readUInt32LE(0), 0);
    expect(() => ChunkTable.fromBytes(swapped)).toThrow(/byte order/);
  });
});

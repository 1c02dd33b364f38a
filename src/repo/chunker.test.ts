import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Chunker, chunkStream, chunkerMasks, DEFAULT_CHUNKER_PARAMS, type ChunkerParams } from "./chunker.js";

const SMALL: ChunkerParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

function pseudoRandom(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function* pieces(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}

async function cut(data: Buffer, pieceSize: number, params = SMALL): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunkStream(toAsync(pieces(data, pieceSize)), params))
    out.push(Buffer.from(chunk));
  return out;
}

const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("chunkStream", () => {
  it("cuts where the repository format says: these sizes are pinned (changing them loses dedup)", () => {
    const sizes = (params: ChunkerParams, data: Buffer) => {
      const chunker = new Chunker(params);
      return [...chunker.push(data), chunker.finish()].flatMap((c) => (c ? [c.length] : []));
    };
    expect(sizes(SMALL, pseudoRandom(200_000, 7)).slice(0, 12)).toEqual([
      5828, 5873, 5009, 4567, 4221, 4295, 4105, 4140, 5721, 6491, 4607, 5189,
    ]);
    expect(sizes(DEFAULT_CHUNKER_PARAMS, pseudoRandom(12 << 20, 11))).toEqual([
      1300557, 1178136, 1246417, 2164421, 1345412, 1049853, 1229212, 804273, 840759, 844069, 579803,
    ]);
  });

  it("reassembles to the input and respects min/max sizes", async () => {
    const data = pseudoRandom(300_000, 7);
    const chunks = await cut(data, 10_000);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(c.length).toBeLessThanOrEqual(SMALL.maxSize);
    }
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize / 2);
    expect(mean).toBeLessThan(SMALL.avgSize * 2);
  });

  it("cuts at the same places whatever the input buffer sizes", async () => {
    const data = pseudoRandom(200_000, 3);
    const a = (await cut(data, 1)).map(digest);
    const b = (await cut(data, 65_536)).map(digest);
    const c = (await cut(data, 777)).map(digest);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it("keeps most chunks after an insertion near the start", async () => {
    const data = pseudoRandom(400_000, 11);
    const edited = Buffer.concat([
      data.subarray(0, 5000),
      Buffer.from("inserted bytes"),
      data.subarray(5000),
    ]);
    const before = new Set((await cut(data, 8192)).map(digest));
    const after = (await cut(edited, 8192)).map(digest);
    const shared = after.filter((d) => before.has(d)).length;
    expect(shared / after.length).toBeGreaterThan(0.9);
  });

  it("cuts zero-entropy input at the max size and handles empty input", async () => {
    const zeros = Buffer.alloc(50_000);
    const chunks = await cut(zeros, 4096);
    expect(chunks.slice(0, -1).every((c) => c.length === SMALL.maxSize)).toBe(true);
    expect(await cut(Buffer.alloc(0), 10)).toEqual([]);
  });

  it("pushSizes finds the same chunks as push, whatever the input buffer sizes", () => {
    const data = Buffer.concat([pseudoRandom(150_000, 5), Buffer.alloc(40_000), pseudoRandom(60_001, 6)]);
    const whole = new Chunker(SMALL);
    const expected = [...whole.push(data), whole.finish()].flatMap((c) => (c ? [c.length] : []));
    for (const pieceSize of [1, 999, 65_536, data.length]) {
      const chunker = new Chunker(SMALL);
      const sizes = [...pieces(data, pieceSize)].flatMap((p) => chunker.pushSizes(p));
      const last = chunker.finishSize();
      if (last > 0) sizes.push(last);
      expect(sizes).toEqual(expected);
      expect(chunker.finishSize()).toBe(0);
    }
  });

  it("rejects parameters that are not min < avg < max with avg a power of two", () => {
    expect(() => chunkerMasks({ minSize: 10, avgSize: 3000, maxSize: 9000 })).toThrow(/power of two/);
    expect(() => chunkerMasks({ minSize: 8192, avgSize: 4096, maxSize: 9000 })).toThrow(/min < avg < max/);
  });
});

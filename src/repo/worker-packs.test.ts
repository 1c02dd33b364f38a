import { describe, expect, it } from "vitest";
import type { PackFrame } from "./pack-format.js";
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

import { createHash, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StorePool } from "./store-pool.js";

let pool: StorePool;
beforeEach(() => {
  pool = new StorePool(1, 3);
});
afterEach(async () => {
  await pool.close();
});

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("StorePool", () => {
  it("sends a raw frame that fills its read buffer exactly back intact, and reads the next job of that size", async () => {
    // 64 KiB of random bytes: one chunk, stored raw, the whole of a 64 KiB read buffer.
    for (const round of [1, 2, 3]) {
      const data = randomBytes(64 * 1024);
      const job = pool.job();
      const read = await pool.read(job, [{ bytes: data }], [data.length]);
      expect(read.ids).toEqual([sha(data)]);
      const encoded = await pool.encode(job, [true]);
      expect(encoded.frames, `round ${round}`).toHaveLength(1);
      const [frame] = encoded.frames;
      expect(frame!.encoding).toBe("raw");
      expect(Buffer.from(frame!.body).equals(data)).toBe(true);
    }
  });
});

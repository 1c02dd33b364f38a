import { describe, expect, it } from "vitest";
import { Decompressor } from "zstd-napi";
import { seeded as random } from "../../test/helpers/repo.js";
import { FrameEncoder, isWorthDelta } from "./frame-encoder.js";

describe("FrameEncoder", () => {
  it("a zstd-ref body as the very first call (empty scratch buffer) decodes with its base", () => {
    const base = random("base", 256 * 1024);
    const changed = Buffer.from(base);
    changed[1000] = changed[1000]! ^ 1;
    const body = new FrameEncoder(3).encodeRef(changed, base);
    expect(isWorthDelta(body.length, changed.length)).toBe(true);
    const d = new Decompressor();
    d.loadDictionary(base);
    expect(d.decompress(body).equals(changed)).toBe(true);
  });

  it("frames: zstd when it shrinks the data (also as the scratch buffer grows), raw when it does not", () => {
    const encoder = new FrameEncoder(3);
    const d = new Decompressor();
    for (const size of [100, 70_000, 3 << 20]) {
      const text = Buffer.from("a line of log text\n".repeat(Math.ceil(size / 19)).slice(0, size));
      const frame = encoder.encodeFrame(text);
      expect(frame.encoding).toBe("zstd");
      expect(d.decompress(frame.body).equals(text)).toBe(true);
    }
    const noise = random("noise", 200_000);
    expect(encoder.encodeFrame(noise)).toEqual({ encoding: "raw", body: noise });
  });
});

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GEAR } from "./chunker.js";
import { GearScanner } from "./gear-scan.js";

/** The loop the WebAssembly function implements, in plain JavaScript. */
function scanJs(buf: Uint8Array, from: number, to: number, h: number, mask: number): [number, number] {
  for (let i = from; i < to; i++) {
    h = ((h << 1) + GEAR[buf[i]!]!) | 0;
    if ((h & mask) === 0) return [i + 1, h];
  }
  return [-1, h];
}

describe("GearScanner", () => {
  const scanner = new GearScanner(GEAR);

  it("finds the same cuts and hash as the JavaScript loop, across window boundaries", () => {
    const data = randomBytes(600_000);
    for (const bits of [4, 9, 13, 17, 31]) {
      const mask = ((0xffffffff << (32 - bits)) >>> 0) | 0;
      let from = 0;
      let h = 0x1234567;
      let cuts = 0;
      while (from < data.length) {
        const to = Math.min(data.length, from + 1 + Math.floor(Math.random() * 200_000));
        const [cut, hash] = scanJs(data, from, to, h, mask);
        expect(scanner.scan(data, from, to, h, mask)).toBe(cut);
        expect(scanner.hash).toBe(hash);
        if (cut >= 0) cuts++;
        from = cut >= 0 ? cut : to;
        h = hash;
      }
      if (bits <= 13) expect(cuts).toBeGreaterThan(10);
    }
  });

  it("returns -1 and leaves the hash unchanged for an empty range", () => {
    expect(scanner.scan(Buffer.alloc(10), 5, 5, 42, -1)).toBe(-1);
    expect(scanner.hash).toBe(42);
  });
});

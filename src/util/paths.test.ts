import { describe, expect, it } from "vitest";
import { comparePaths } from "./paths.js";

/** The definition: component by component, each compared as a string. */
function byComponents(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

describe("comparePaths", () => {
  it("orders a directory before what it holds, and that before its next sibling", () => {
    const sorted = ["/a", "/a/b", "/a/b/c", "/a/b-c", "/a/b.d", "/a/bc", "/a-b", "/ab"];
    expect([...sorted].reverse().sort(comparePaths)).toEqual(sorted);
    expect(comparePaths("/a/b", "/a/b")).toBe(0);
  });

  it("agrees with comparing component by component, for any paths", () => {
    // Characters around "/" (0x2f) in code-unit order, and multi-unit ones.
    const alphabet = ["/", "/", "-", ".", "0", "a", "b", "é", "日", "😀"];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const path = (): string =>
      Array.from({ length: 1 + random(8) }, () => alphabet[random(alphabet.length)]).join("");
    for (let i = 0; i < 20_000; i++) {
      const a = path();
      const b = random(4) === 0 ? a + path() : path();
      expect([a, b, Math.sign(comparePaths(a, b))]).toEqual([a, b, Math.sign(byComponents(a, b))]);
    }
  });
});

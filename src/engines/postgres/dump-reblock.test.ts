import { describe, expect, it } from "vitest";
import {
  archive,
  archiveContents,
  reblockInPieces,
  SAMPLE_BLOBS,
  SAMPLE_TABLES,
} from "../../../test/helpers/pg-archive.js";

const TABLES = SAMPLE_TABLES;
const BLOBS = SAMPLE_BLOBS;

/** Feeds a copy of `bytes` in pieces; returns the output and whether the copy stayed as it was. */
function reblock(bytes: Buffer, piece: number, owned: boolean): { output: Buffer; inputKept: boolean } {
  const input = Buffer.from(bytes);
  const output = reblockInPieces(input, piece, owned);
  return { output, inputKept: input.equals(bytes) };
}

describe("DumpReblocker", () => {
  it.each([14, 15, 16])(
    "keeps every table's and large object's bytes, in fewer blocks (archive version 1.%i), whatever the pieces",
    (minor) => {
      const bytes = archive({ minor, tables: TABLES, blobs: BLOBS });
      const before = archiveContents(bytes, minor);
      for (const piece of [bytes.length, 1, 2, 3, 5, 6, 7, 64, 4099, 70_001]) {
        for (const owned of [false, true]) {
          const { output, inputKept } = reblock(bytes, piece, owned);
          const after = archiveContents(output, minor);
          expect(after.header.equals(before.header), `pieces of ${piece}`).toBe(true);
          expect(after.sections, `pieces of ${piece}`).toEqual(before.sections);
          if (!owned) expect(inputKept).toBe(true);
          if (piece >= 4099) expect(after.blocks).toBeLessThan(before.blocks / 20);
        }
      }
    },
  );

  it("merges a piece's rows into one block per table", () => {
    const bytes = archive({ tables: TABLES });
    const { output } = reblock(bytes, bytes.length, true);
    // One block per table with data (the marker merges into it), large objects untouched.
    expect(archiveContents(output).blocks).toBe(4);
    expect(output.length).toBeLessThan(bytes.length);
  });

  it.each([
    ["a compressed archive", { compressed: true }],
    ["an archive version it does not know", { minor: 13 }],
    ["something else", { magic: "PGDMQ" }],
  ])("passes %s through unchanged", (_, options) => {
    const bytes = archive({ tables: TABLES, ...options });
    for (const piece of [7, 1000, bytes.length])
      expect(reblock(bytes, piece, true).output.equals(bytes)).toBe(true);
  });

  it("passes through a stream that ends inside its header, and one with an unknown block type from there on", () => {
    const bytes = archive({ tables: TABLES });
    expect(reblock(bytes.subarray(0, 100), 7, true).output.equals(bytes.subarray(0, 100))).toBe(true);
    const headerLength = archiveContents(bytes).header.length;
    const odd = Buffer.concat([
      bytes.subarray(0, headerLength),
      Buffer.from([7, 1, 2, 3]),
      bytes.subarray(headerLength),
    ]);
    expect(reblock(odd, 333, true).output.subarray(headerLength).equals(odd.subarray(headerLength))).toBe(
      true,
    );
  });
});

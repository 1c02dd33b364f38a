import { describe, expect, it } from "vitest";
import { basisFrom, ChunkMapBuilder, type TarChunkMap } from "./chunk-map.js";
import { TAR_CHUNK_BYTES, type TarChunk } from "./tar-chunker.js";

const piece = (member: string, k: number): TarChunk => ({
  data: Buffer.alloc(1),
  member,
  offset: k * TAR_CHUNK_BYTES,
});
const loose: TarChunk = { data: Buffer.alloc(1) };

describe("chunk map", () => {
  it("finds the previous chunk by file and offset although the tar stream's order and offsets moved", () => {
    // Parent: small files, then a (3 chunks), then b (2 chunks).
    const parent = new ChunkMapBuilder();
    const parentChunks = ["s0", "a0", "a1", "a2", "s1", "b0", "b1"];
    [loose, piece("a", 0), piece("a", 1), piece("a", 2), loose, piece("b", 0), piece("b", 1)].forEach(
      (c, i) => parent.note(i, c),
    );
    expect(parent.toJSON()).toEqual({ chunkBytes: TAR_CHUNK_BYTES, members: { a: [1, 3], b: [5, 2] } });
    const basis = basisFrom(JSON.parse(JSON.stringify(parent.toJSON())) as TarChunkMap, parentChunks)!;
    expect(basis(piece("b", 1))).toBe("b1");
    expect(basis(piece("a", 0))).toBe("a0");
    expect(basis(piece("a", 2))).toBe("a2");
    // Grown past its previous end, a new file, or not a relation piece: nothing to store against.
    expect(basis(piece("a", 3))).toBeUndefined();
    expect(basis(piece("c", 0))).toBeUndefined();
    expect(basis(loose)).toBeUndefined();
  });

  it("is not used when the parent was cut at another chunk size", () => {
    expect(basisFrom({ chunkBytes: TAR_CHUNK_BYTES * 4, members: { a: [0, 1] } }, ["a0"])).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { archive, byte, int, MARKER, rows, type Table } from "../../../test/helpers/pg-archive.js";
import { DumpRowCounter } from "./dump-rows.js";

function count(bytes: Buffer, piece = bytes.length): ReturnType<DumpRowCounter["result"]> {
  const counter = new DumpRowCounter();
  for (let i = 0; i < bytes.length; i += piece) counter.push(bytes.subarray(i, i + piece));
  return counter.result();
}

const TABLES: Table[] = [
  { id: 10, schema: "app", name: "users", blocks: [...rows(3000), MARKER] },
  { id: 11, schema: "app", name: "empty", blocks: [MARKER] },
  {
    id: 12,
    schema: 'odd "schema',
    name: "Tab.le",
    // An escaped backslash starting a row, escaped newlines, a long row, an empty row.
    blocks: ["\\\\.\n", "line1\\nline2\n", `${"x".repeat(70_000)}\n`, "\n", "\\N\n", MARKER],
  },
];

describe("DumpRowCounter", () => {
  it.each([14, 15, 16])("counts one row per block in archive version 1.%i, whatever the pieces", (minor) => {
    const bytes = archive({ minor, tables: TABLES });
    for (const piece of [bytes.length, 1, 2, 3, 5, 7, 64, 4099]) {
      const result = count(bytes, piece);
      expect(result, `pieces of ${piece}`).toEqual({
        tables: new Map([
          ["app.users", 3000],
          ["app.empty", 0],
          ['odd "schema.Tab.le', 5],
        ]),
        doubtful: [],
      });
    }
  });

  it("skips large objects, whose blocks are not rows", () => {
    const blobs = new Map([
      [16500, ["binary\nwith\nnewlines", "more"]],
      [16501, ["x"]],
    ]);
    for (const piece of [1, 6, 1 << 20]) {
      expect(count(archive({ tables: TABLES, blobs }), piece).tables.get("app.empty")).toBe(0);
      expect(count(archive({ tables: TABLES, blobs }), piece).tables.get("app.users")).toBe(3000);
    }
  });

  it("leaves a table whose blocks are not one row each to be counted another way", () => {
    const tables: Table[] = [
      // Enough rows first that the header is read early and the rest comes in pieces.
      { id: 9, schema: "app", name: "filler", blocks: [...rows(1000), MARKER] },
      {
        id: 10,
        schema: "app",
        name: "packed",
        blocks: ["1\ta\n2\tb\n", "3\tc\n4\td\n", "5\te\n6\tf\n", MARKER],
      },
      { id: 11, schema: "app", name: "split", blocks: ["1\tpart", "ial\n", MARKER] },
      { id: 12, schema: "app", name: "unterminated", blocks: ["1\ta\n"] },
      { id: 13, schema: "app", name: "after_marker", blocks: ["1\ta\n", MARKER, "2\tb\n"] },
      { id: 14, schema: "app", name: "fine", blocks: [...rows(2), MARKER] },
    ];
    for (const piece of [64, 1000, 1 << 20]) {
      const result = count(archive({ tables }), piece);
      expect(result.doubtful, `pieces of ${piece}`).toEqual([
        "app.packed",
        "app.split",
        "app.unterminated",
        "app.after_marker",
      ]);
      expect(result.tables).toEqual(
        new Map([
          ["app.filler", 1000],
          ["app.fine", 2],
        ]),
      );
    }
  });

  it("never miscounts a stream buffered as pg_dump 19 does, even when it claims an older version", () => {
    // pg_dump 19 copies rows and the end marker into a buffer and writes it out when full.
    const buffered = (text: string, size: number): string[] =>
      Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));
    const tables: Table[] = [
      { id: 9, schema: "app", name: "filler", blocks: [...rows(1000), MARKER] },
      { id: 10, schema: "app", name: "big", blocks: buffered([...rows(5000), MARKER].join(""), 4096) },
      { id: 11, schema: "app", name: "small", blocks: buffered([...rows(20), MARKER].join(""), 4096) },
      // Rows that happen to fill each buffer exactly, so every block ends in a newline.
      {
        id: 12,
        schema: "app",
        name: "aligned",
        blocks: buffered(rows(64, () => "x".repeat(63) + "\n").join("") + MARKER, 1024),
      },
    ];
    for (const piece of [1000, 65536, 1 << 22]) {
      const result = count(archive({ tables, dumpVersion: "18.1" }), piece);
      expect(result.doubtful, `pieces of ${piece}`).toEqual(["app.big", "app.small", "app.aligned"]);
      expect(result.tables).toEqual(new Map([["app.filler", 1000]]));
    }
  });

  it("notices rows packed into blocks later in a table (every 1024th block is checked)", () => {
    const blocks = [...rows(1024), "a\nb\n", ...rows(10), MARKER];
    for (const piece of [100, 1 << 20]) {
      expect(
        count(archive({ tables: [{ id: 10, schema: "s", name: "t", blocks }] }), piece).doubtful,
      ).toEqual(["s.t"]);
    }
    const fine = [...rows(1024), "a\n", ...rows(10), MARKER];
    expect(
      count(archive({ tables: [{ id: 10, schema: "s", name: "t", blocks: fine }] }), 100).tables.get("s.t"),
    ).toBe(1035);
  });

  it.each([
    [
      "pg_dump 19, which buffers rows into larger blocks",
      { dumpVersion: "19.1" },
      /pg_dump 19\.1 may put several rows/,
    ],
    ["a compressed archive (level)", { compressed: true }, /compressed/],
    ["a compressed archive (algorithm)", { compressed: true, minor: 15 }, /compressed/],
    ["an archive version it does not know", { minor: 13 }, /archive version 1\.13/],
    ["a newer archive version", { minor: 17 }, /archive version 1\.17/],
    ["something else", { magic: "PGDMQ" }, /not a pg_dump custom-format archive/],
  ])("gives up on %s", (_, options, reason) => {
    const result = count(archive({ tables: TABLES, ...options }), 1000);
    expect(result.tables.size).toBe(0);
    expect(result.unusable).toMatch(reason);
  });

  it("gives up on a stream that ends inside its header, or holds an unknown block type", () => {
    const bytes = archive({ tables: TABLES });
    expect(count(bytes.subarray(0, 100)).unusable).toMatch(/ended inside its header/);
    const tocEnd = bytes.indexOf(Buffer.concat([byte(1), int(10), int(Buffer.byteLength("0\tvalue 0\n"))]));
    const bad = Buffer.from(bytes);
    bad[tocEnd] = 7;
    expect(count(bad, 512).unusable).toMatch(/unexpected data block type 7/);
  });

  it("never throws: a failure inside the counter leaves the counting to count(*)", () => {
    const counter = new DumpRowCounter();
    counter.push(archive({ tables: TABLES }).subarray(0, 5000));
    expect(() => counter.push(null as unknown as Uint8Array)).not.toThrow();
    expect(counter.result()).toMatchObject({
      tables: new Map(),
      unusable: /internal error in the row counter/,
    });
  });

  it("ignores the data of entries that are not tables and counts nothing twice", () => {
    const bytes = archive({ tables: TABLES });
    const counter = new DumpRowCounter();
    counter.push(bytes);
    const first = counter.result();
    expect(counter.result()).toEqual(first);
    expect([...first.tables.keys()]).toEqual(["app.users", "app.empty", 'odd "schema.Tab.le']);
  });
});

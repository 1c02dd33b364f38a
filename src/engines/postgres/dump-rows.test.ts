import { describe, expect, it } from "vitest";
import { DumpRowCounter } from "./dump-rows.js";

/**
 * A small writer of custom-format archives as pg_dump lays them out (header, table of
 * contents, then data blocks), so the counter can be tested on layouts a real pg_dump 15
 * does not produce: other archive versions, several rows in one block, large objects.
 * The real thing is tested in test/integration/postgres/dump-rows.slow.test.ts.
 */
const int = (value: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = value < 0 ? 1 : 0;
  b.writeUInt32LE(Math.abs(value), 1);
  return b;
};
const str = (s: string | null): Buffer =>
  s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
const byte = (b: number): Buffer => Buffer.from([b]);

const MARKER = "\\.\n\n\n";

interface Table {
  id: number;
  schema: string;
  name: string;
  /** The data blocks, end-of-copy marker included when wanted. */
  blocks: string[];
}

interface ArchiveOptions {
  minor?: number;
  dumpVersion?: string;
  compressed?: boolean;
  magic?: string;
  tables: Table[];
  /** Large objects (oid → blocks), written as a BLOBS entry between the tables' data. */
  blobs?: Map<number, string[]>;
}

function archive(o: ArchiveOptions): Buffer {
  const minor = o.minor ?? 14;
  const head = [Buffer.from(o.magic ?? "PGDMP"), byte(1), byte(minor), byte(0), byte(4), byte(8), byte(1)];
  head.push(minor >= 15 ? byte(o.compressed ? 1 : 0) : int(o.compressed ? 6 : 0));
  for (let i = 0; i < 7; i++) head.push(int(i));
  head.push(str("prs"), str("15.10"), str(o.dumpVersion ?? "15.10 (Debian 15.10-1.pgdg120+1)"));
  const entry = (id: number, tag: string, desc: string, schema: string | null): Buffer[] => [
    int(id),
    int(desc === "TABLE DATA" ? 1 : 0),
    str("1259"),
    str(String(16384 + id)),
    str(tag),
    str(desc),
    int(desc === "TABLE DATA" ? 3 : 2),
    str(desc === "TABLE" ? `CREATE TABLE ${tag} (a text);\n` : ""),
    str(""),
    str(desc === "TABLE DATA" ? `COPY ${schema}.${tag} (a) FROM stdin;\n` : ""),
    str(schema),
    str(""),
    str("heap"),
    ...(minor >= 16 ? [int(114)] : []),
    str("postgres"),
    str("false"),
    str("1"),
    str(null),
    byte(1),
    Buffer.alloc(8),
  ];
  const toc: Buffer[] = [];
  let count = 0;
  for (const t of o.tables) {
    toc.push(
      ...entry(t.id + 1000, t.name, "TABLE", t.schema),
      ...entry(t.id, t.name, "TABLE DATA", t.schema),
    );
    count += 2;
  }
  if (o.blobs) {
    toc.push(...entry(999, "BLOBS", "BLOBS", null));
    count++;
  }
  const data: Buffer[] = [];
  const blocks = (list: string[]): void => {
    for (const b of list) data.push(int(Buffer.byteLength(b)), Buffer.from(b));
    data.push(int(0));
  };
  o.tables.forEach((t, i) => {
    if (i === 1 && o.blobs) {
      data.push(byte(3), int(999));
      for (const [oid, list] of o.blobs) {
        data.push(int(oid));
        blocks(list);
      }
      data.push(int(0));
    }
    data.push(byte(1), int(t.id));
    blocks(t.blocks);
  });
  return Buffer.concat([...head, int(count), ...toc, ...data]);
}

function count(bytes: Buffer, piece = bytes.length): ReturnType<DumpRowCounter["result"]> {
  const counter = new DumpRowCounter();
  for (let i = 0; i < bytes.length; i += piece) counter.push(bytes.subarray(i, i + piece));
  return counter.result();
}

const rows = (n: number, make = (i: number): string => `${i}\tvalue ${i}\n`): string[] =>
  Array.from({ length: n }, (_, i) => make(i));

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

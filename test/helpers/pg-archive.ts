/**
 * A small writer of custom-format archives as pg_dump lays them out (header, table of
 * contents, then data blocks), so the counter can be tested on layouts a real pg_dump 15
 * does not produce: other archive versions, several rows in one block, large objects.
 * The real thing is tested in test/integration/postgres/dump-rows.slow.test.ts.
 */
import { DumpReblocker } from "../../src/engines/postgres/dump-reblock.js";

export const int = (value: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = value < 0 ? 1 : 0;
  b.writeUInt32LE(Math.abs(value), 1);
  return b;
};
const str = (s: string | null): Buffer =>
  s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
export const byte = (b: number): Buffer => Buffer.from([b]);

export const MARKER = "\\.\n\n\n";

export interface Table {
  id: number;
  schema: string;
  name: string;
  /** The data blocks, end-of-copy marker included when wanted. */
  blocks: string[];
}

export interface ArchiveOptions {
  minor?: number;
  dumpVersion?: string;
  compressed?: boolean;
  magic?: string;
  tables: Table[];
  /** Large objects (oid → blocks), written as a BLOBS entry between the tables' data. */
  blobs?: Map<number, string[]>;
}

export function archive(o: ArchiveOptions): Buffer {
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

/** Rows in COPY text format. */
export const rows = (n: number, make = (i: number): string => `${i}\tvalue ${i}\n`): string[] =>
  Array.from({ length: n }, (_, i) => make(i));

/**
 * Tables with what a stream reader must get right: many rows, none, an escaped `\.` starting
 * a row, an escaped newline, a row longer than most pieces, an empty row.
 */
export const SAMPLE_TABLES: Table[] = [
  { id: 10, schema: "app", name: "users", blocks: [...rows(3000), MARKER] },
  { id: 11, schema: "app", name: "empty", blocks: [MARKER] },
  {
    id: 12,
    schema: "s",
    name: "t",
    blocks: ["\\\\.\n", "line1\\nline2\n", `${"x".repeat(70_000)}\n`, "\n", MARKER],
  },
  { id: 13, schema: "app", name: "more", blocks: [...rows(500), MARKER] },
];
/** Large objects, written between the first two tables' data. */
export const SAMPLE_BLOBS = new Map([
  [16500, ["binary\nwith\nnewlines", "more bytes"]],
  [16501, ["x"]],
]);

/**
 * What a custom-format archive says, block boundaries aside: its header and table of
 * contents, and each data entry's bytes (large objects with their oids), in order; and
 * how many data blocks it took. Two archives with equal contents restore the same.
 */
export function archiveContents(
  bytes: Buffer,
  minor = 14,
): { header: Buffer; sections: string[]; blocks: number } {
  let pos = 5 + 3;
  const intSize = bytes[pos++]!;
  const offSize = bytes[pos++]!;
  pos++;
  const rint = (): number => {
    let v = 0;
    for (let i = intSize; i >= 1; i--) v = v * 256 + bytes[pos + i]!;
    const negative = bytes[pos] !== 0;
    pos += 1 + intSize;
    return negative ? -v : v;
  };
  const rstr = (): string | null => {
    const n = rint();
    if (n < 0) return null;
    pos += n;
    return bytes.toString("utf8", pos - n, pos);
  };
  if (minor >= 15) pos++;
  else rint();
  for (let i = 0; i < 7; i++) rint();
  rstr();
  rstr();
  rstr();
  const entries = rint();
  for (let i = 0; i < entries; i++) {
    rint();
    rint();
    for (let k = 0; k < 4; k++) rstr();
    rint();
    for (let k = 0; k < 6; k++) rstr();
    if (minor >= 16) rint();
    rstr();
    rstr();
    while (rstr() !== null);
    pos += 1 + offSize;
  }
  const header = bytes.subarray(0, pos);
  const sections: string[] = [];
  let blocks = 0;
  const blockList = (): string => {
    const parts: Buffer[] = [];
    for (let len = rint(); len !== 0; len = rint()) {
      parts.push(bytes.subarray(pos, pos + len));
      pos += len;
      blocks++;
    }
    return Buffer.concat(parts).toString("latin1");
  };
  while (pos < bytes.length) {
    const type = bytes[pos++]!;
    const id = rint();
    if (type === 1) sections.push(`data ${id}: ${blockList()}`);
    else {
      for (let oid = rint(); oid !== 0; oid = rint()) sections.push(`blob ${id}/${oid}: ${blockList()}`);
    }
  }
  return { header, sections, blocks };
}

/** `bytes` through a DumpReblocker in pieces of `piece` bytes (see DumpReblocker.push for `owned`). */
export function reblockInPieces(bytes: Buffer, piece: number, owned: boolean): Buffer {
  const reblocker = new DumpReblocker();
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece)
    out.push(...reblocker.push(bytes.subarray(i, i + piece), owned));
  out.push(...reblocker.end());
  return Buffer.concat(out);
}

import { describe, expect, it } from "vitest";
import {
  archive,
  archiveContents,
  MARKER,
  rows,
  SAMPLE_BLOBS,
  SAMPLE_TABLES,
  type Table,
} from "../../../test/helpers/pg-archive.js";
import { ArchiveUnusable } from "./custom-archive.js";
import { DumpReblocker } from "./dump-reblock.js";
import { DumpSplitter } from "./dump-split.js";

const TABLES: Table[] = [
  ...SAMPLE_TABLES,
  // Single-column rows that are empty lines, right before the marker's empty lines.
  { id: 14, schema: "app", name: "blank", blocks: [...rows(40, () => "\n"), MARKER] },
];
const BLOBS = SAMPLE_BLOBS;

type Chooser = (way: number, calls: number) => number;

/**
 * `bytes` merged by a DumpReblocker, then split `ways` ways in pieces of `piece` bytes; each
 * way's stream starts with the header and table of contents, as a session's does.
 */
function split(bytes: Buffer, o: { piece: number; ways: number; choose: Chooser; shareBytes: number }) {
  const reblocker = new DumpReblocker();
  const merged = Buffer.concat([...reblocker.push(Buffer.from(bytes), true), ...reblocker.end()]);
  const header = reblocker.header!;
  const outs: Buffer[][] = Array.from({ length: o.ways }, () => [merged.subarray(0, header.length)]);
  let calls = 0;
  let way = 0;
  const splitter = new DumpSplitter({
    intSize: header.intSize,
    ways: o.ways,
    shareBytes: o.shareBytes,
    choose: () => (way = o.choose(way, calls++)),
    emit: (w, b) => outs[w]!.push(Buffer.from(b)),
  });
  const rest = merged.subarray(header.length);
  for (let i = 0; i < rest.length; i += o.piece) splitter.push(rest.subarray(i, i + o.piece));
  splitter.end();
  return outs.map((parts) => Buffer.concat(parts));
}

/** Each table's lines, sorted (a parallel load keeps no order), and where its marker went. */
function tablesOf(streams: Buffer[]): Map<string, { lines: string[]; markers: number }> {
  const tables = new Map<string, { lines: string[]; markers: number }>();
  for (const stream of streams) {
    for (const section of archiveContents(stream).sections) {
      const [, key, data] = /^(\S+ \d+(?:\/\d+)?): ([\s\S]*)$/.exec(section)!;
      const table = tables.get(key!) ?? { lines: [], markers: 0 };
      tables.set(key!, table);
      if (key!.startsWith("blob")) {
        table.lines.push(data!);
        continue;
      }
      let text = data!;
      // The marker is a line of its own: `\\.` at the start or after a newline.
      if (text.endsWith(MARKER) && (text === MARKER || text.endsWith(`\n${MARKER}`))) {
        text = text.slice(0, -MARKER.length);
        table.markers++;
      }
      // Whole lines only, and nothing after a marker.
      expect(text === "" || text.endsWith("\n")).toBe(true);
      const lines = text === "" ? [] : text.slice(0, -1).split("\n");
      expect(lines).not.toContain("\\.");
      table.lines.push(...lines);
    }
  }
  for (const table of tables.values()) table.lines.sort();
  return tables;
}

const CHOOSERS: Record<string, Chooser> = {
  "always the next": (way) => (way + 1) % 3,
  "always the first": () => 0,
  "at random": (_way, calls) => (calls * 7919) % 3,
};

describe("DumpSplitter", () => {
  const bytes = archive({ tables: TABLES, blobs: BLOBS });
  const whole = tablesOf(split(bytes, { piece: 1 << 20, ways: 1, choose: () => 0, shareBytes: 1 }));

  it("gives one session the dump as it was, rows and large objects alike", () => {
    const reblocker = new DumpReblocker();
    const merged = Buffer.concat([...reblocker.push(Buffer.from(bytes), true), ...reblocker.end()]);
    const [only] = split(bytes, { piece: 1 << 20, ways: 1, choose: () => 0, shareBytes: 64 });
    expect(archiveContents(only!).sections).toEqual(archiveContents(merged).sections);
    expect(whole.get("data 10")!.lines).toHaveLength(3000);
    expect(whole.get("data 10")!.markers).toBe(1);
  });

  it.each(Object.keys(CHOOSERS))(
    "shares every table's rows as whole lines, each exactly once, the marker once (%s)",
    (name) => {
      for (const piece of [1, 2, 5, 7, 64, 4099, 1 << 20]) {
        for (const shareBytes of [1, 100, 50_000]) {
          const streams = split(bytes, { piece, ways: 3, choose: CHOOSERS[name]!, shareBytes });
          // Every session reads the same table of contents and every data entry.
          for (const s of streams) {
            expect(archiveContents(s).header.equals(archiveContents(bytes).header)).toBe(true);
          }
          expect(tablesOf(streams)).toEqual(whole);
        }
      }
    },
  );

  it("shares a large table among the sessions, and large objects go to one", () => {
    const streams = split(bytes, {
      piece: 4096,
      ways: 3,
      choose: CHOOSERS["always the next"]!,
      shareBytes: 100,
    });
    const perSession = streams.map((s) => tablesOf([s]));
    for (const session of perSession) expect(session.get("data 10")!.lines.length).toBeGreaterThan(500);
    const blobSessions = perSession.filter((s) => s.has("blob 999/16500"));
    expect(blobSessions).toHaveLength(1);
    expect(blobSessions[0]!.get("blob 999/16500")!.lines).toEqual(["binary\nwith\nnewlinesmore bytes"]);
    expect(blobSessions[0]!.get("blob 999/16501")!.lines).toEqual(["x"]);
  });

  it("refuses a dump that ends inside a table's data, or holds an unknown block", () => {
    const reblocker = new DumpReblocker();
    const merged = Buffer.concat([...reblocker.push(Buffer.from(bytes), true), ...reblocker.end()]);
    const header = reblocker.header!;
    const make = () =>
      new DumpSplitter({ intSize: header.intSize, ways: 2, choose: () => 0, emit: () => undefined });
    const truncated = make();
    truncated.push(merged.subarray(header.length, merged.length - 100));
    expect(() => truncated.end()).toThrow(ArchiveUnusable);
    expect(() => make().push(Buffer.from([7, 0, 1, 0, 0, 0]))).toThrow(/unexpected block type 7/);
  });
});

import { execa } from "execa";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DumpReblocker } from "../../../src/engines/postgres/dump-reblock.js";
import { DumpRowCounter } from "../../../src/engines/postgres/dump-rows.js";
import { DumpSplitter } from "../../../src/engines/postgres/dump-split.js";
import { countRows } from "../../../src/engines/postgres/inventory.js";
import { ScratchCluster } from "../../../src/engines/postgres/scratch-cluster.js";
import { reblockInPieces } from "../../helpers/pg-archive.js";
import { PG_BIN } from "../../helpers/postgres.js";

/**
 * The row counter, the re-blocker and the splitter against the real pg_dump 15 and pg_restore: every
 * awkward kind of row and table, large objects between the tables' data, and the stream
 * cut into pieces of every size.
 */
const SCHEMA = String.raw`
CREATE SCHEMA "odd ""schema";
CREATE TABLE "odd ""schema"."Tab.le" (a text, b text);
INSERT INTO "odd ""schema"."Tab.le" VALUES (E'\\.', 'backslash dot'), (E'\\.\n', 'and newline'),
  (E'line1\nline2\r\n', E'tab\there'), ('', NULL), (NULL, NULL), ('ünïcødé', repeat('x', 100000));
CREATE TABLE empty_table (a int);
CREATE TABLE wide (id int, payload bytea);
INSERT INTO wide SELECT g, decode(repeat(md5(g::text), 6000), 'hex') FROM generate_series(1, 40) g;
CREATE TABLE many AS SELECT g AS id, md5(g::text) AS t, jsonb_build_object('g', g, 'nl', E'a\nb') AS j
  FROM generate_series(1, 120000) g;
CREATE TABLE parted (a int, note text) PARTITION BY RANGE (a);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (500);
CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (500) TO (1000);
INSERT INTO parted SELECT g, 'n' || g FROM generate_series(0, 899) g;
CREATE TABLE parent (a int);
CREATE TABLE child () INHERITS (parent);
INSERT INTO parent VALUES (1), (2);
INSERT INTO child VALUES (3);
CREATE UNLOGGED TABLE scratch_unlogged (a int);
INSERT INTO scratch_unlogged SELECT generate_series(1, 77);
CREATE MATERIALIZED VIEW summary AS SELECT count(*) AS n FROM many;
SELECT lo_from_bytea(0, decode(repeat('0a', 200000), 'hex'));
SELECT lo_from_bytea(0, 'small');
`;

let cluster: ScratchCluster;
/** The scratch server, as a client tool's arguments. */
const server = (): string[] => ["-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres"];
let dump: Buffer;
let expected: Record<string, number>;

beforeAll(async () => {
  cluster = await ScratchCluster.start({ settings: { fsync: "off" } });
  await cluster.query("CREATE DATABASE rows_test");
  await cluster.query(SCHEMA, [], "rows_test");
  const client = new pg.Client(cluster.connection("rows_test"));
  await client.connect();
  try {
    expected = await countRows(client);
  } finally {
    await client.end();
  }
  const result = await execa(
    `${PG_BIN}/pg_dump`,
    [...server(), "--format=custom", "--compress=0", "rows_test"],
    { encoding: "buffer", stripFinalNewline: false },
  );
  dump = Buffer.from(result.stdout);
});

afterAll(async () => {
  await cluster?.close();
});

function countIn(bytes: Buffer, piece: number): ReturnType<DumpRowCounter["result"]> {
  const counter = new DumpRowCounter();
  for (let i = 0; i < bytes.length; i += piece) counter.push(bytes.subarray(i, i + piece));
  return counter.result();
}

describe("counting rows in a real pg_dump 15 stream", () => {
  it("matches count(*) for every table, whatever the sizes of the pieces", () => {
    expect(Object.keys(expected)).toHaveLength(9);
    expect(expected).toMatchObject({
      "public.many": 120000,
      'odd "schema.Tab.le': 6,
      "public.empty_table": 0,
    });
    for (const piece of [dump.length, 1, 7, 4096, 65536, 65537]) {
      const result = countIn(dump, piece);
      expect(result.unusable, `pieces of ${piece}`).toBeUndefined();
      expect(result.doubtful).toEqual([]);
      expect(Object.fromEntries(result.tables), `pieces of ${piece}`).toEqual(expected);
    }
  });

  it("gives up, rather than guess, when the archive says a later pg_dump wrote it", () => {
    // The header holds the server's version, then pg_dump's: patch the second.
    const versions = [...dump.toString("latin1", 0, 300).matchAll(/15\.\d+ \(/g)];
    expect(versions).toHaveLength(2);
    const patched = Buffer.from(dump);
    patched.write("19", versions[1]!.index, "latin1");
    const result = countIn(patched, 65536);
    expect(result.tables.size).toBe(0);
    expect(result.unusable).toMatch(/pg_dump 19\.\d+ .*may put several rows in one block/);
  });
});

describe("merging a real pg_dump 15 stream's blocks", () => {
  async function digest(database: string): Promise<string> {
    const client = new pg.Client(cluster.connection(database));
    await client.connect();
    try {
      const parts = [JSON.stringify(await countRows(client))];
      for (const q of [
        "SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS d FROM many t",
        `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM "odd ""schema"."Tab.le" t`,
        "SELECT md5(string_agg(md5(payload), '' ORDER BY id)) AS d FROM wide",
        "SELECT string_agg(md5(lo_get(oid)), ',' ORDER BY oid) AS d FROM pg_largeobject_metadata",
      ]) {
        parts.push((await client.query<{ d: string }>(q)).rows[0]!.d);
      }
      return parts.join("\n");
    } finally {
      await client.end();
    }
  }

  it("restores with pg_restore to the same rows and large objects, whatever the pieces", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-reblock-"));
    try {
      const original = await digest("rows_test");
      for (const [piece, owned] of [
        [65536, true],
        [7, false],
      ] as const) {
        const merged = reblockInPieces(Buffer.from(dump), piece, owned);
        // Tiny pieces each get a block of their own (still correct); real pieces are chunks.
        if (piece === 65536) expect(merged.length).toBeLessThan(dump.length);
        const file = path.join(dir, `merged-${piece}.dump`);
        await fs.writeFile(file, merged);
        const database = `rows_merged_${piece}`;
        await cluster.query(`CREATE DATABASE ${database}`);
        await execa(`${PG_BIN}/pg_restore`, [...server(), "--exit-on-error", "-d", database, file]);
        expect(await digest(database)).toBe(original);
        // The counter no longer sees one row per block in the merged archive.
        const counted = countIn(merged, 65536);
        expect(counted.doubtful.length).toBeGreaterThan(0);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("shares a real stream among two pg_restore sessions: the same rows and large objects", async () => {
    const original = await digest("rows_test");
    for (const piece of [65536, 7]) {
      // Merged as a restore merges it, then shared out, switching sessions as often as it may.
      const reblocker = new DumpReblocker();
      const merged: Buffer[] = [];
      for (let i = 0; i < dump.length; i += piece) {
        merged.push(...reblocker.push(Buffer.from(dump.subarray(i, i + piece)), true));
      }
      merged.push(...reblocker.end());
      const all = Buffer.concat(merged);
      const header = reblocker.header!;
      const definitions = all.subarray(0, header.length);
      const streams: Buffer[][] = [[definitions], [definitions]];
      let turn = 0;
      const splitter = new DumpSplitter({
        intSize: header.intSize,
        ways: 2,
        shareBytes: 1000,
        choose: () => (turn = 1 - turn),
        emit: (way, bytes) => streams[way]!.push(Buffer.from(bytes)),
      });
      const rest = all.subarray(header.length);
      for (let i = 0; i < rest.length; i += piece) splitter.push(rest.subarray(i, i + piece));
      splitter.end();
      const database = `rows_shared_${piece}`;
      await cluster.query(`CREATE DATABASE ${database}`);
      const restore = (section: string, input: Buffer) =>
        execa(
          `${PG_BIN}/pg_restore`,
          [...server(), "--exit-on-error", `--section=${section}`, "-d", database],
          {
            input,
          },
        );
      await restore("pre-data", definitions);
      await Promise.all(streams.map((parts) => restore("data", Buffer.concat(parts))));
      await restore("post-data", definitions);
      expect(await digest(database)).toBe(original);
      // Both sessions loaded rows of the large table.
      for (const parts of streams)
        expect(Buffer.concat(parts).length).toBeGreaterThan(header.length + 1_000_000);
    }
  });
});

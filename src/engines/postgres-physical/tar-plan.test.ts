import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDirs } from "../../../test/helpers/temp-dir.js";
import { TAR_CHUNK_BYTES, TarChunker } from "./tar-chunker.js";
import { tarHeader, type TarMemberHeader } from "./tar-header.js";
import { RepoCorruptError } from "../../errors.js";
import { TarExtractor } from "./tar-extract.js";
import { TarPlanner, type PlannedChunk } from "./tar-plan.js";

afterAll(removeTempDirs);

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE(((i + seed) * 2654435761) >>> 0, i);
  return b;
}

const base = { mode: 0o600, uid: 1234, gid: 2345, mtime: 1_790_000_000 };
const dir = (p: string): TarMemberHeader => ({ ...base, mode: 0o700, path: p, type: "directory", size: 0 });
const file = (p: string, size: number): TarMemberHeader => ({ ...base, path: p, type: "file", size });

/** A data directory's worth of members: small and large files, an empty one, a long path, a symlink. */
const members: [TarMemberHeader, Buffer?][] = [
  [dir("base")],
  [dir("base/16384")],
  [file("base/16384/1259", 90_112), pattern(90_112, 1)],
  [file("base/16384/16390", 3 * TAR_CHUNK_BYTES + 8192), pattern(3 * TAR_CHUNK_BYTES + 8192, 2)],
  [file("base/16384/16390_fsm", 24_576), pattern(24_576, 3)],
  [file("base/16384/empty", 0), Buffer.alloc(0)],
  [file("PG_VERSION", 3), Buffer.from("15\n")],
  [file("odd-size", 1001), pattern(1001, 4)],
  [file(`${"deep/".repeat(25)}file-with-a-long-path`, 7), Buffer.from("content")],
  [file("exactly-one-chunk", TAR_CHUNK_BYTES), pattern(TAR_CHUNK_BYTES, 5)],
  [{ ...base, mode: 0o777, path: "link", type: "symlink", size: 0, linkTarget: "PG_VERSION" }],
  [file("backup_label", 200), pattern(200, 6)],
];

function plan(): PlannedChunk<Buffer>[] {
  const planner = new TarPlanner<Buffer>();
  const out: PlannedChunk<Buffer>[] = [];
  for (const [header, content] of members)
    out.push(...planner.add(header.path, tarHeader(header), header.size, content));
  out.push(...planner.finish());
  return out;
}

/** The bytes a planned chunk stands for (as a worker thread reads them). */
function bytesOf(chunk: PlannedChunk<Buffer>): Buffer {
  return Buffer.concat(
    chunk.pieces.map((p) => ("bytes" in p ? p.bytes : p.file.subarray(p.position, p.position + p.length))),
  );
}

describe("TarPlanner", () => {
  it("plans the chunks TarChunker cuts from the same tar stream", () => {
    const chunks = plan();
    const stream = Buffer.concat(chunks.map(bytesOf));
    const chunker = new TarChunker();
    const cut = [...chunker.push(stream)];
    const last = chunker.finish();
    if (last) cut.push(last);
    expect(chunks.map((c) => [c.size, c.member, c.offset])).toEqual(
      cut.map((c) => [c.data.length, c.member, c.offset]),
    );
    expect(chunks.map(bytesOf)).toEqual(cut.map((c) => c.data));
    // The large file is cut at each 256 KiB of its own content.
    expect(chunks.filter((c) => c.member === "base/16384/16390").map((c) => c.offset)).toEqual([
      0,
      TAR_CHUNK_BYTES,
      2 * TAR_CHUNK_BYTES,
      3 * TAR_CHUNK_BYTES,
    ]);
  });

  it.each([
    ["tar -x", 0],
    ["TarExtractor, fed in 509-byte pieces", 509],
    ["TarExtractor, fed in 64 KiB pieces", 65536],
  ])("writes a tar that %s extracts with every path, mode, owner, time and byte", async (_how, piece) => {
    const stream = Buffer.concat(plan().map(bytesOf));
    const to = await makeTempDir("prs-tarplan-");
    if (piece === 0) {
      execFileSync("tar", ["-x", "-f", "-", "--same-owner", "-C", to], { input: stream });
    } else {
      const extractor = new TarExtractor(to, { chown: process.getuid?.() === 0 });
      for (let at = 0; at < stream.length; at += piece) await extractor.push(stream.subarray(at, at + piece));
      await extractor.finish();
    }
    for (const [header, content] of members) {
      const p = path.join(to, header.path);
      const st = await fs.lstat(p);
      expect([header.path, st.uid, st.gid, st.mode & 0o7777]).toEqual([header.path, 1234, 2345, header.mode]);
      if (header.type === "file") {
        expect(Math.floor(st.mtimeMs / 1000)).toBe(base.mtime);
        expect((await fs.readFile(p)).equals(content!)).toBe(true);
      }
      if (header.type === "symlink") expect(await fs.readlink(p)).toBe("PG_VERSION");
    }
    const listed = execFileSync("tar", ["-t", "-f", "-"], { input: stream }).toString().trim().split("\n");
    expect(listed).toHaveLength(members.length);
  });

  it("TarExtractor refuses a path that leaves the directory, and a tar cut short", async () => {
    const to = await makeTempDir("prs-tarplan-");
    const escaping = new TarExtractor(to, { chown: false });
    await expect(escaping.push(tarHeader(file("base/../../evil", 0)))).rejects.toThrow(RepoCorruptError);
    const short = new TarExtractor(path.join(to, "short"), { chown: false });
    await short.push(Buffer.concat([tarHeader(file("PG_VERSION", 3)), Buffer.from("15\n")]));
    await expect(short.finish()).rejects.toThrow(/ends before/);
    await short.abort();
  });
});

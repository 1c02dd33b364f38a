import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TAR_CHUNK_BYTES, TarChunker, type TarChunk } from "./tar-chunker.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

async function tarOf(files: Record<string, Buffer>): Promise<Buffer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-tarchunk-"));
  dirs.push(dir);
  for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(dir, name), data);
  return execFileSync("tar", ["-c", "-f", "-", "--mtime=2026-01-01", "-C", dir, ...Object.keys(files)], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

function cutLabelled(tar: Buffer, piece: number): TarChunk[] {
  const c = new TarChunker();
  const out: TarChunk[] = [];
  for (let i = 0; i < tar.length; i += piece) out.push(...c.push(tar.subarray(i, i + piece)));
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

const cut = (tar: Buffer, piece: number): Buffer[] => cutLabelled(tar, piece).map((c) => c.data);

const id = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("TarChunker", () => {
  const big = Buffer.alloc(3.5 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);

  it("loses no byte and cuts the same way however the stream is split", async () => {
    const tar = await tarOf({ a: Buffer.from("small"), big, c: Buffer.alloc(700_000, 7) });
    const one = cut(tar, 65_536);
    expect(Buffer.concat(one).equals(tar)).toBe(true);
    expect(cut(tar, 777).map(id)).toEqual(one.map(id));
    expect(one.every((c) => c.length <= TAR_CHUNK_BYTES + 512)).toBe(true);
  });

  it("cuts a large file at 256 KiB offsets of its own content, so it dedups when files before it change", async () => {
    const before = cut(await tarOf({ a: Buffer.from("small"), big }), 65_536).map(id);
    const after = cut(await tarOf({ a: Buffer.from("a different, longer small file"), big }), 65_536).map(id);
    const shared = after.filter((c) => before.includes(c));
    expect(shared.length).toBeGreaterThanOrEqual(3);
  });

  it("labels each aligned piece of a large file with its member path and offset, and nothing else", async () => {
    const tar = await tarOf({ a: Buffer.from("small"), big, c: Buffer.alloc(700_000, 7) });
    const chunks = cutLabelled(tar, 100_000);
    const labelled = chunks.filter((c) => c.member !== undefined);
    const expectedBig = Array.from(
      { length: Math.ceil(big.length / TAR_CHUNK_BYTES) },
      (_, k) => k * TAR_CHUNK_BYTES,
    );
    expect(labelled.filter((c) => c.member === "big").map((c) => c.offset)).toEqual(expectedBig);
    expect(labelled.filter((c) => c.member === "c").map((c) => c.offset)).toEqual([
      0,
      TAR_CHUNK_BYTES,
      2 * TAR_CHUNK_BYTES,
    ]);
    expect(labelled.map((c) => c.member).filter((m) => m !== "big" && m !== "c")).toEqual([]);
    for (const c of labelled) {
      const source = c.member === "big" ? big : Buffer.alloc(700_000, 7);
      expect(c.data.equals(source.subarray(c.offset, c.offset! + TAR_CHUNK_BYTES))).toBe(true);
    }
  });
});

import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { TarScanner } from "./tar-scan.js";
import { WalArchive, WalArchiveError } from "./wal-archive.js";
import { checkWalChain } from "./wal-chain.js";
import { walFetch, walPush } from "./wal-commands.js";
import { lastSegnoBefore, parseLsn, parseSegmentName, segmentName, segnoOfLsn } from "./wal-names.js";
import { decodeWalObject, encodeWalObject, segmentSystemId } from "./wal-object.js";
import { planWalRetention } from "./wal-retention.js";

/** A fake 16 MiB-style segment: a long page header with `sysid`, then a fill byte. */
function segment(sysid: bigint, fill: number, size = 64 * 1024): Buffer {
  const b = Buffer.alloc(size, fill);
  b.writeUInt16LE(0xd110, 0);
  b.writeUInt16LE(0x0002, 2);
  b.writeBigUInt64LE(sysid, 24);
  return b;
}

let dir: string;
let archive: WalArchive;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-wal-"));
  await fs.mkdir(path.join(dir, "repo", "wal", "db"), { recursive: true });
  await fs.mkdir(path.join(dir, "pg_wal"));
  archive = new WalArchive(path.join(dir, "repo"), "db");
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

async function walFile(name: string, data: Buffer): Promise<string> {
  const file = path.join(dir, "pg_wal", name);
  await fs.writeFile(file, data);
  return file;
}

describe("WAL names", () => {
  it("maps LSNs to segments and back", () => {
    expect(segmentName({ timeline: 1, segno: segnoOfLsn(parseLsn("0/2000028")) })).toBe(
      "000000010000000000000002",
    );
    expect(segmentName({ timeline: 3, segno: segnoOfLsn(parseLsn("1/FF000000")) })).toBe(
      "0000000300000001000000FF",
    );
    expect(parseSegmentName("0000000200000001000000FF.partial")).toEqual({ timeline: 2, segno: 0x1ffn });
    expect(lastSegnoBefore(parseLsn("0/3000000"))).toBe(2n);
  });
});

describe("WAL objects", () => {
  it("round-trips and detects damage", () => {
    const plain = segment(42n, 7);
    const body = encodeWalObject(plain);
    expect(body.subarray(0, 8).toString()).toBe("PRSWAL01");
    expect(decodeWalObject(body).equals(plain)).toBe(true);
    body[body.length - 1]! ^= 0xff;
    expect(() => decodeWalObject(body)).toThrow();
    expect(segmentSystemId(plain)).toBe("42");
  });
});

describe("WalArchive", () => {
  it("stores, accepts an identical re-push, refuses different content", async () => {
    const name = "000000010000000000000003";
    expect(await archive.push(await walFile(name, segment(42n, 1)))).toBe("stored");
    expect(await archive.push(await walFile(name, segment(42n, 1)))).toBe("already-archived");
    const r = await walPush(archive, await walFile(name, segment(42n, 2)));
    expect(r.exitCode).toBe(1);
    expect(r.message).toMatch(/REFUSED: .*different content/);
    const dest = path.join(dir, "out");
    await archive.fetch(name, dest);
    expect((await fs.readFile(dest)).equals(segment(42n, 1))).toBe(true);
  });

  it("never overwrites a history file", async () => {
    await archive.push(await walFile("00000002.history", Buffer.from("1\t0/3000000\tno recovery target\n")));
    await expect(archive.push(await walFile("00000002.history", Buffer.from("other\n")))).rejects.toThrow(
      /never overwritten/,
    );
  });

  it("refuses a segment of another system unless allowed", async () => {
    await archive.push(await walFile("000000010000000000000003", segment(42n, 1)));
    expect(await archive.systemId()).toBe("42");
    const other = await walFile("000000010000000000000004", segment(43n, 1));
    await expect(archive.push(other)).rejects.toMatchObject({ kind: "system-mismatch" });
    expect(await archive.push(other, { allowSystemChange: true })).toBe("stored");
  });

  it("fetch: exit 1 for a missing file, 126 for a damaged one, never a partial destination", async () => {
    const dest = path.join(dir, "pg_wal", "RECOVERYXLOG");
    expect((await walFetch(archive, "000000010000000000000009", dest)).exitCode).toBe(1);
    await fs.writeFile(path.join(archive.dir, "00000001000000000000000A"), Buffer.from("PRSWAL01garbage"));
    const r = await walFetch(archive, "00000001000000000000000A", dest, { retryMs: 1 });
    expect(r.exitCode).toBe(126);
    expect(await fs.readdir(path.join(dir, "pg_wal"))).toEqual([]);
    expect((await walFetch(archive, "../../etc/passwd", dest)).exitCode).toBe(126);
  });

  it("rejects names that are not WAL files", async () => {
    await expect(archive.push(await walFile("evil", Buffer.from("x")))).rejects.toBeInstanceOf(
      WalArchiveError,
    );
  });
});

describe("TarScanner", () => {
  it("captures named members across buffer boundaries", async () => {
    const src = path.join(dir, "tree");
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, "big"), Buffer.alloc(100_000, 3));
    await fs.writeFile(path.join(src, "backup_label"), "START WAL LOCATION: 0/2000028\n");
    const tar = execFileSync("tar", ["-c", "-f", "-", "-C", src, "big", "backup_label"]);
    const scanner = new TarScanner(["backup_label"]);
    for (let i = 0; i < tar.length; i += 777) scanner.push(tar.subarray(i, i + 777));
    expect(scanner.captured.get("backup_label")?.toString()).toBe("START WAL LOCATION: 0/2000028\n");
    expect(scanner.members).toBe(2);
  });
});

function snap(id: string, startWal: string, stopWal: string, stopTime: string): SnapshotManifest {
  return {
    id,
    metadata: { startWal, stopWal, timeline: parseSegmentName(startWal)!.timeline, stopTime },
  } as unknown as SnapshotManifest;
}

describe("WAL chain and retention", () => {
  const names = (tl: number, from: number, to: number): string[] =>
    Array.from({ length: to - from + 1 }, (_, i) => segmentName({ timeline: tl, segno: BigInt(from + i) }));

  it("names gaps", () => {
    const s = snap("s1", "000000010000000000000003", "000000010000000000000004", "2026-01-01T00:00:00Z");
    expect(checkWalChain(s, names(1, 1, 9))).toEqual([]);
    const problems = checkWalChain(s, [...names(1, 3, 5), ...names(1, 7, 9)]);
    expect(problems.join()).toContain("000000010000000000000006");
    expect(checkWalChain(s, names(1, 4, 9)).join()).toContain("000000010000000000000003");
  });

  it("keeps WAL from the oldest kept base backup's start, and history files", async () => {
    for (const n of [...names(1, 1, 8), "00000002.history", "000000010000000000000002.00000028.backup"]) {
      await fs.writeFile(path.join(archive.dir, n), "x");
    }
    const plan = await planWalRetention(path.join(dir, "repo"), "db", [
      snap("a", "000000010000000000000005", "000000010000000000000005", "2026-01-02T00:00:00Z"),
      snap("b", "000000010000000000000003", "000000010000000000000003", "2026-01-01T00:00:00Z"),
    ]);
    expect(plan.deletable.sort()).toEqual(
      [...names(1, 1, 2), "000000010000000000000002.00000028.backup"].sort(),
    );
    expect(plan.windowStart).toBe("2026-01-01T00:00:00Z");
    expect((await planWalRetention(path.join(dir, "repo"), "db", [])).deletable).toEqual([]);
  });
});

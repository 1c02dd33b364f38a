import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseKeyspace } from "./info.js";
import { checkRdb } from "./rdb-check.js";
import { compareCounts } from "./restore-in-place.js";
import { ScratchRedis } from "./scratch-server.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

describe("parseKeyspace", () => {
  it("reads keys and expires per database", () => {
    expect(
      parseKeyspace({ db0: "keys=2,expires=1,avg_ttl=99694", db3: "keys=1,expires=0,avg_ttl=0", x: "1" }),
    ).toEqual({
      db0: { keys: 2, expires: 1 },
      db3: { keys: 1, expires: 0 },
    });
  });
});

describe("compareCounts", () => {
  const snapshot = { db0: { keys: 10, expires: 3 }, db1: { keys: 2, expires: 0 } };
  it("accepts an exact match, and keys with a TTL that expired since the backup", () => {
    expect(
      compareCounts(snapshot, { db0: { keys: 10, expires: 3 }, db1: { keys: 2, expires: 0 } }, 0),
    ).toBeUndefined();
    expect(
      compareCounts(snapshot, { db0: { keys: 8, expires: 1 }, db1: { keys: 2, expires: 0 } }, 2),
    ).toBeUndefined();
  });
  it("rejects missing keys without a TTL, extra keys and a missing database", () => {
    expect(
      compareCounts(snapshot, { db0: { keys: 10, expires: 3 }, db1: { keys: 1, expires: 0 } }, 1),
    ).toMatch(/db1 has 1 keys, the snapshot 2/);
    expect(
      compareCounts(snapshot, { db0: { keys: 11, expires: 3 }, db1: { keys: 2, expires: 0 } }, 0),
    ).toMatch(/db0 has 11/);
    expect(compareCounts(snapshot, { db0: { keys: 10, expires: 3 } }, 0)).toMatch(/db1 has 0 keys/);
  });
});

describe("checkRdb (real redis-check-rdb)", () => {
  it("reports version and per-database counts of a real RDB, and rejects a damaged one", async () => {
    const server = await ScratchRedis.start();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-rdb-"));
    dirs.push(dir);
    try {
      const { Redis } = await import("ioredis");
      const db5 = new Redis({ host: "127.0.0.1", port: server.port, db: 5 });
      await db5.set("a", "1");
      await db5.set("b", "2", "EX", 1000);
      await db5.save();
      db5.disconnect();
      const good = path.join(dir, "good.rdb");
      await fs.copyFile(path.join(server.dir, "dump.rdb"), good);
      const report = await checkRdb(good, {});
      expect(report).toMatchObject({
        rdbVersion: expect.any(Number) as unknown,
        keysRead: 2,
        keyspace: { db5: { keys: 2, expires: 1 } },
      });
      const bytes = await fs.readFile(good);
      bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0xff; // inside the last value / checksum
      const bad = path.join(dir, "bad.rdb");
      await fs.writeFile(bad, bytes);
      await expect(checkRdb(bad, { label: "bad.rdb" })).rejects.toThrow(
        /^bad\.rdb is not a valid RDB \(redis-check-rdb: /,
      );
    } finally {
      await server.close();
    }
  });
});

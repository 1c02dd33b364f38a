/**
 * The Redis part of the demo: a throwaway Redis with sample keys of every type is backed up
 * through the real CLI, changed, restored with `restore --to FILE`, and the file is loaded
 * into a fresh throwaway Redis whose keys are compared with the data at backup time.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Redis } from "ioredis";
import { parse, stringify } from "yaml";
import { ScratchRedis } from "../src/engines/redis/scratch-server.js";

const TARGET = "redis-demo";
const PASSWORD = randomBytes(12).toString("hex");

export interface DemoRedisOptions {
  /** The demo folder; its `prs-backup.yaml` gets a `redis-demo` target. */
  dir: string;
  /** Runs the CLI with the demo's config. */
  cli: (args: string[]) => { out: string; seconds: number };
}

function connect(port: number, db = 0, password?: string): Redis {
  return new Redis({
    host: "127.0.0.1",
    port,
    db,
    ...(password ? { password } : {}),
    maxRetriesPerRequest: 1,
  });
}

async function fill(port: number): Promise<void> {
  const r = connect(port, 0, PASSWORD);
  const p = r.pipeline();
  for (let i = 0; i < 500; i++) {
    p.set(`session:${i}`, JSON.stringify({ user: i, cart: [i, i + 1] }), "EX", 86400);
    p.set(Buffer.from(`blob:${i}\x00`), randomBytes(64));
    p.hset(`user:${i}`, { name: `user ${i}`, visits: String(i) });
    p.rpush(`queue:${i % 20}`, `job ${i}`);
    p.sadd(`tags:${i % 50}`, `t${i}`);
    p.zadd("leaderboard", i * 1.5, `player${i}`);
  }
  await p.exec();
  r.disconnect();
  const db1 = connect(port, 1, PASSWORD);
  await db1.set("cache:config", "in database 1");
  db1.disconnect();
}

/** Every key of databases 0 and 1 with type, value and TTL (to the hour). */
async function snapshotKeys(port: number, password?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const db of [0, 1]) {
    const r = connect(port, db, password);
    for (const key of await r.keysBuffer("*")) {
      const type = await r.type(key);
      const value =
        type === "string"
          ? (await r.getBuffer(key))?.toString("hex")
          : type === "hash"
            ? JSON.stringify(Object.entries(await r.hgetall(key)).sort())
            : type === "list"
              ? JSON.stringify(await r.lrange(key, 0, -1))
              : type === "set"
                ? JSON.stringify((await r.smembers(key)).sort())
                : JSON.stringify(await r.zrange(key, 0, -1, "WITHSCORES"));
      const ttl = await r.pttl(key);
      out.set(`${db}:${key.toString("hex")}`, `${type} ${value} ${ttl < 0 ? ttl : Math.round(ttl / 3.6e6)}`);
    }
    r.disconnect();
  }
  return out;
}

/** Adds the demo's redis target to the config file (password from a 0600 file). */
async function addTarget(dir: string, url: string): Promise<void> {
  const config = path.join(dir, "prs-backup.yaml");
  const passwordFile = path.join(dir, "redis-demo.password");
  await fs.writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const doc = parse(await fs.readFile(config, "utf8")) as { targets?: Record<string, unknown> };
  doc.targets = { ...doc.targets, [TARGET]: { type: "redis", url, passwordFile } };
  await fs.writeFile(config, stringify(doc));
}

/**
 * Runs the Redis demo and returns the lines to print. Throws when the restored data differs
 * from the data at backup time. Scratch servers are stopped and removed in every case.
 */
export async function demoRedis(opts: DemoRedisOptions): Promise<string[]> {
  const lines: string[] = [];
  const source = await ScratchRedis.start({ tempDirectory: opts.dir, password: PASSWORD });
  let fresh: ScratchRedis | undefined;
  try {
    await fill(source.port);
    await addTarget(opts.dir, source.url);
    const atBackup = await snapshotKeys(source.port, PASSWORD);
    lines.push(
      `scratch Redis on port ${source.port}: ${atBackup.size} keys (strings, binary, hashes, lists, sets, a sorted set, TTLs; dbs 0 and 1)`,
    );

    const backup = opts.cli(["backup", TARGET, "--json"]);
    const [snap] = JSON.parse(backup.out) as { id: string; sourceBytes: number; storedBytes: number }[];
    lines.push(
      `backup: snapshot ${snap!.id}, RDB ${snap!.sourceBytes} bytes, ${snap!.storedBytes} stored, ${backup.seconds.toFixed(2)}s`,
    );

    const r = connect(source.port, 0, PASSWORD);
    await r.set("session:1", "changed after the backup");
    await r.del("user:2", "leaderboard");
    await r.set("new:key", "added after the backup");
    r.disconnect();
    lines.push("changed 1 key, deleted 2, added 1 on the live server");

    const file = path.join(opts.dir, "redis-restore", "dump.rdb");
    const restore = opts.cli(["restore", TARGET, "--to", file]);
    lines.push(`restore --to ${file}: ${restore.seconds.toFixed(2)}s`);
    fresh = await ScratchRedis.start({ tempDirectory: opts.dir, rdb: file });
    const restored = await snapshotKeys(fresh.port);
    const differing =
      [...atBackup].filter(([k, v]) => restored.get(k) !== v).length +
      Math.abs(atBackup.size - restored.size);
    lines.push(
      `fresh Redis loaded from the restored RDB vs backup time: ${atBackup.size} keys, ${differing} differing`,
    );
    if (differing !== 0) throw new Error(`redis demo: ${differing} keys differ after the restore`);
    lines.push("redis demo ok");
    return lines;
  } finally {
    await fresh?.close();
    await source.close();
  }
}

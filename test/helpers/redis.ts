import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort } from "../../src/util/free-port.js";

/** A client for a test server (password optional). */
export function client(port: number, options: { password?: string; db?: number } = {}): Redis {
  const c = new Redis({
    host: "127.0.0.1",
    port,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    ...options,
  });
  c.on("error", () => undefined);
  return c;
}

/**
 * Fills db0 and db2 with every kind of value the acceptance criteria name: text and binary
 * strings, hashes, lists, sets, sorted sets, and keys with TTLs.
 */
export async function fillSample(port: number, password?: string, n = 200): Promise<void> {
  const db0 = client(port, { ...(password ? { password } : {}), db: 0 });
  const db2 = client(port, { ...(password ? { password } : {}), db: 2 });
  try {
    const p = db0.pipeline();
    for (let i = 0; i < n; i++) {
      p.set(`str:${i}`, `value ${i} ${"x".repeat(i % 50)}`);
      p.set(Buffer.from(`bin:${i}\x00\xff`, "latin1"), randomBytes(16 + (i % 100)));
      p.hset(`hash:${i}`, { name: `user ${i}`, n: String(i), blob: randomBytes(8) });
      p.rpush(`list:${i}`, "a", "b", String(i), randomBytes(4));
      p.sadd(`set:${i}`, "x", "y", String(i));
      p.zadd(`zset:${i}`, 1.5, "one", -2.25, "minus", i, "i");
      p.set(`ttl:${i}`, `expiring ${i}`, "EX", 3600 + i);
      p.hset(`ttlhash:${i}`, "f", "v");
      p.expire(`ttlhash:${i}`, 7200);
    }
    p.rpush("biglist", ...Array.from({ length: 1000 }, (_, i) => `element ${i}`));
    p.hset("bighash", Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`f${i}`, randomBytes(20)])));
    await p.exec();
    await db2.set("db2:only", "in db 2");
    await db2.zadd("db2:zset", 3, "c");
  } finally {
    db0.disconnect();
    db2.disconnect();
  }
}

/** Every key of every database with its type, value and TTL (to the hour), as comparable strings. */
export async function dumpAll(port: number, password?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const admin = client(port, password ? { password } : {});
  const dbs = Object.keys(parseInfoKeyspace(await admin.info("keyspace")));
  admin.disconnect();
  for (const db of dbs) {
    const c = client(port, { ...(password ? { password } : {}), db: Number(db.slice(2)) });
    try {
      for (const key of await c.keysBuffer("*")) {
        const type = await c.type(key);
        let value: unknown;
        if (type === "string") value = (await c.getBuffer(key))!.toString("hex");
        else if (type === "hash")
          value = Object.entries(await c.hgetallBuffer(key))
            .map(([k, v]) => `${k}=${v.toString("hex")}`)
            .sort();
        else if (type === "list") value = (await c.lrangeBuffer(key, 0, -1)).map((b) => b.toString("hex"));
        else if (type === "set") value = (await c.smembersBuffer(key)).map((b) => b.toString("hex")).sort();
        else if (type === "zset") value = await c.zrange(key, 0, -1, "WITHSCORES");
        else value = `unsupported ${type}`;
        const pttl = await c.pttl(key);
        const ttl = pttl < 0 ? String(pttl) : `~${Math.round(pttl / 3_600_000)}h`;
        out.set(`${db}:${key.toString("hex")}`, JSON.stringify({ type, value, ttl }));
      }
    } finally {
      c.disconnect();
    }
  }
  return out;
}

function parseInfoKeyspace(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => /^db\d+:/.test(l))
      .map((l) => l.split(":") as [string, string]),
  );
}

/**
 * A daemonized redis-server driven by a config file, as an in-place restore meets it in
 * production: `start` (its argv) and `stop()` are what a test puts in startCommand/stopCommand.
 */
export interface ManagedRedis {
  port: number;
  dataDir: string;
  start: string[];
  stop: () => Promise<void>;
}

export async function managedRedis(
  dir: string,
  options: { aof: boolean; password?: string },
): Promise<ManagedRedis> {
  const port = await freePort();
  const dataDir = path.join(dir, "redis-data");
  await fs.mkdir(dataDir, { recursive: true });
  const conf = path.join(dir, "redis.conf");
  const pidfile = path.join(dir, "redis.pid");
  await fs.writeFile(
    conf,
    [
      "bind 127.0.0.1",
      `port ${port}`,
      `dir ${dataDir}`,
      "daemonize yes",
      `pidfile ${pidfile}`,
      `logfile ${path.join(dir, "redis.log")}`,
      'save ""',
      `appendonly ${options.aof ? "yes" : "no"}`,
      ...(options.password ? [`requirepass ${options.password}`] : []),
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const start = ["redis-server", conf];
  execFileSync(start[0]!, start.slice(1));
  await waitUp(port, options.password);
  const stop = async () => {
    const pid = Number(await fs.readFile(pidfile, "utf8").catch(() => "0"));
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await fs.rm(pidfile, { force: true });
  };
  return { port, dataDir, start, stop };
}

async function waitUp(port: number, password?: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const c = new Redis({
      host: "127.0.0.1",
      port,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      ...(password ? { password } : {}),
    });
    c.on("error", () => undefined);
    try {
      await c.connect();
      if ((await c.ping()) === "PONG") return;
    } catch {
      // not yet
    } finally {
      c.disconnect();
    }
    await sleep(100);
  }
  throw new Error(`redis on ${port} did not come up`);
}

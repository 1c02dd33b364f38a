import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { client, fillSample } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, type Workspace } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function workspace(lines: string[]): Promise<Workspace> {
  const ws = await redisWorkspace(lines);
  cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
  expect((await prs(ws, ["init"])).exitCode).toBe(0);
  return ws;
}

async function server(options: Parameters<typeof ScratchRedis.start>[0] = {}): Promise<ScratchRedis> {
  const s = await ScratchRedis.start(options);
  cleanups.push(() => s.close());
  return s;
}

/** exit 1, exactly one `error:` line naming the problem, and no snapshot written. */
async function expectCleanFailure(
  ws: Workspace,
  env: Record<string, string>,
  pattern: RegExp,
): Promise<string> {
  const r = await prs(ws, ["backup", "redis"], env);
  expect(r.exitCode, r.stderr).toBe(1);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(pattern);
  expect(await prsJson<unknown[]>(ws, ["list"])).toEqual([]);
  return r.stderr;
}

describe("redis backup failures: exit 1, one line, no snapshot", () => {
  it("unreachable server", async () => {
    const s = await server();
    const port = s.port;
    await s.close();
    const ws = await workspace([`url: redis://127.0.0.1:${port}`]);
    await expectCleanFailure(ws, {}, /cannot connect to Redis at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it("wrong password, and a missing one", async () => {
    const s = await server({ password: "right-password" });
    const ws = await workspace([`url: ${s.url}`, "passwordEnv: TEST_REDIS_PW"]);
    const stderr = await expectCleanFailure(
      ws,
      { TEST_REDIS_PW: "wrong-password" },
      /refused the password for user "default"/,
    );
    expect(stderr).not.toContain("wrong-password");
    const ws2 = await workspace([`url: ${s.url}`]);
    await expectCleanFailure(ws2, {}, /requires a password: set targets\.redis\.passwordEnv/);
  });

  it("BGSAVE failure (Redis cannot write its data directory), then the MISCONF state", async () => {
    const s = await server({ config: ["save 3600 1", "enable-protected-configs yes"] });
    await fillSample(s.port, undefined, 10);
    const gone = path.join(s.dir, "gone");
    await fs.mkdir(gone);
    const c = client(s.port);
    await c.config("SET", "dir", gone);
    await fs.rm(gone, { recursive: true });
    const ws = await workspace([`url: ${s.url}`]);
    await expectCleanFailure(
      ws,
      {},
      /could not write its RDB snapshot \(rdb_last_bgsave_status:err\).*MISCONF/,
    );
    // Redis now refuses writes (MISCONF); a second backup still fails cleanly and says so.
    await expect(c.set("k", "v")).rejects.toThrow(/MISCONF/);
    const r = await prs(ws, ["backup", "redis"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/last background save failed.*MISCONF/);
    c.disconnect();
  });

  it("a server that stops answering times out", async () => {
    const s = await server();
    const ws = await workspace([`url: ${s.url}`]);
    process.kill(s.pid!, "SIGSTOP");
    try {
      await expectCleanFailure(ws, {}, /did not answer in time/);
    } finally {
      process.kill(s.pid!, "SIGCONT");
    }
  });

  it("timeoutSeconds stops a backup that runs too long", async () => {
    const s = await server({ config: ["rdb-key-save-delay 2000"] });
    await fillSample(s.port, undefined, 200);
    const ws = await workspace([`url: ${s.url}`, `dataDirectory: ${s.dir}`, "timeoutSeconds: 1"]);
    await expectCleanFailure(ws, {}, /ran longer than timeoutSeconds \(1s\).*no snapshot was written/);
  });
});

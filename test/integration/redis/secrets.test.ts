import fs from "node:fs/promises";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { dumpAll, fillSample } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, type SnapshotSummary } from "./support.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A binDir whose redis tools record their argv (and whether REDISCLI_AUTH was set), then run the real ones. */
async function recordingBinDir(dir: string): Promise<{ binDir: string; calls: () => Promise<string> }> {
  const binDir = path.join(dir, "bin");
  const log = path.join(dir, "calls.log");
  await fs.mkdir(binDir);
  for (const tool of ["redis-cli", "redis-check-rdb", "redis-server"]) {
    const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
    await fs.writeFile(
      path.join(binDir, tool),
      `#!/bin/sh\necho "${tool} auth=\${REDISCLI_AUTH:+set} argv=$*" >> ${log}\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
  }
  return { binDir, calls: () => fs.readFile(log, "utf8").catch(() => "") };
}

async function grepTree(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const name of await fs.readdir(dir, { recursive: true })) {
    const full = path.join(dir, name);
    if ((await fs.lstat(full)).isFile() && (await fs.readFile(full)).includes(needle)) hits.push(full);
  }
  return hits;
}

describe("redis secrets and the replication fetch", () => {
  it("never shows the password; fetches with redis-cli --rdb when the data directory is unknown", async () => {
    const password = "Sup3r-s3cret-Redis-pw";
    // No CONFIG command (as hardened setups do) and no dataDirectory: the RDB cannot be found
    // on disk, so it is fetched over the replication protocol.
    const src = await ScratchRedis.start({ password, config: ['rename-command CONFIG ""'] });
    cleanups.push(() => src.close());
    await fillSample(src.port, password, 100);
    const expected = await dumpAll(src.port, password);
    const ws = await redisWorkspace([]);
    cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
    const { binDir, calls } = await recordingBinDir(ws.dir);
    const pwFile = path.join(ws.dir, "redis.pw");
    await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    await fs.appendFile(
      ws.config,
      [
        `    url: ${src.url}`,
        `    passwordFile: ${pwFile}`,
        `    binDir: ${binDir}`,
        "log:",
        `  file: ${ws.dir}/prs.log`,
        "  level: debug",
        "",
      ].join("\n"),
    );
    const outputs: string[] = [];
    const run = async (args: string[]) => {
      const r = await prs(ws, [...args, "--debug"]);
      outputs.push(r.stdout, r.stderr);
      expect(r.exitCode, r.stderr).toBe(0);
      return r;
    };
    await run(["init"]);
    const backup = await run(["backup", "redis", "--json"]);
    const [snap] = JSON.parse(backup.stdout) as SnapshotSummary[];
    const shown = await prsJson<{ metadata: Record<string, unknown> }>(ws, ["show", snap!.id]);
    expect(shown.metadata.rdbSource).toBe("replication");
    const file = path.join(ws.dir, "out.rdb");
    await run(["restore", "redis", "--to", file, "--json"]);
    await run(["verify", "--deep", "--json"]);
    await run(["list", "--json"]);
    await run(["config", "check", "--json"]);

    const fresh = await ScratchRedis.start({ rdb: file });
    cleanups.push(() => fresh.close());
    expect(await dumpAll(fresh.port)).toEqual(expected);

    const recorded = await calls();
    expect(recorded).toMatch(/redis-cli auth=set argv=.*--rdb/);
    expect(recorded).toContain("redis-check-rdb");
    expect(recorded).toContain("redis-server");
    expect(recorded).not.toContain(password);
    for (const out of outputs) expect(out).not.toContain(password);
    expect(await grepTree(path.join(ws.dir, "repo"), password)).toEqual([]);
    expect(await fs.readFile(path.join(ws.dir, "prs.log"), "utf8")).not.toContain(password);
  });
});

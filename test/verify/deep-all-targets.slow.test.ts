import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScratchCluster } from "../../src/engines/postgres/scratch-cluster.js";
import { ScratchRedis } from "../../src/engines/redis/scratch-server.js";
import { SAMPLE_SCHEMA, startSource } from "../helpers/postgres.js";
import { fillSample } from "../helpers/redis.js";
import { cli, cliJson } from "../support/cli.js";

interface Drill {
  snapshot: string;
  target: string;
  ok: boolean;
  seconds: number;
  compared: Record<string, unknown>;
}

/** One config with a postgres, a redis and a files target: `verify --deep` drills each one. */
describe("verify --deep over every target type", () => {
  let dir: string;
  let pg: ScratchCluster;
  let redis: ScratchRedis;
  let config: string;
  const env = { PRS_TEST_PG_PASSWORD: "pw-deep-verify" };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-deep-"));
    pg = await startSource(env.PRS_TEST_PG_PASSWORD);
    await pg.query(SAMPLE_SCHEMA);
    redis = await ScratchRedis.start();
    await fillSample(redis.port);
    await fs.mkdir(path.join(dir, "uploads"));
    for (let i = 0; i < 5; i++)
      await fs.writeFile(path.join(dir, "uploads", `f${i}.txt`), `file ${i}\n`.repeat(100));
    config = path.join(dir, "prs-backup.yaml");
    await fs.writeFile(
      config,
      [
        "repository:",
        `  path: ${dir}/repo`,
        "targets:",
        "  database:",
        "    type: postgres",
        `    connection: {host: 127.0.0.1, port: ${pg.port}, user: postgres, database: postgres, passwordEnv: PRS_TEST_PG_PASSWORD}`,
        "  redis:",
        "    type: redis",
        `    url: redis://127.0.0.1:${redis.port}`,
        "  uploads:",
        "    type: files",
        `    paths: [${dir}/uploads]`,
        "",
      ].join("\n"),
    );
    Object.assign(process.env, env);
  });

  afterAll(async () => {
    for (const key of Object.keys(env)) Reflect.deleteProperty(process.env, key);
    await redis?.close().catch(() => undefined);
    await pg?.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("reports one successful drill per target, each compared with its manifest", async () => {
    await cliJson(config, "init");
    const made = await cliJson<{ target: string; status: string }[]>(config, "backup");
    expect(made.map((m) => [m.target, m.status]).sort()).toEqual([
      ["database", "complete"],
      ["redis", "complete"],
      ["uploads", "complete"],
    ]);
    // Plain verify runs the engines' checks too (redis-check-rdb on the stored RDB).
    const plain = await cli(config, "verify", "--all");
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toContain("✓ redis: 1 snapshot(s) intact");
    const report = await cliJson<{ ok: boolean; problems: unknown[]; drills: Drill[] }>(
      config,
      "verify",
      "--deep",
    );
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    const byTarget = new Map(report.drills.map((d) => [d.target, d]));
    expect([...byTarget.keys()].sort()).toEqual(["database", "redis", "uploads"]);
    for (const d of report.drills) expect(d.ok, JSON.stringify(d)).toBe(true);
    expect(byTarget.get("uploads")!.compared).toMatchObject({ files: 5 });
    expect(Number(byTarget.get("redis")!.compared.keys)).toBeGreaterThan(0);
    expect(Number(byTarget.get("database")!.compared.tables)).toBeGreaterThan(0);
  });
});

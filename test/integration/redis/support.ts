import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { CLI } from "../../support/cli.js";
import { fillSample } from "../../helpers/redis.js";

export interface Workspace {
  dir: string;
  config: string;
  repo: string;
}

/** A temp dir with a repository and a config holding one redis target (extra YAML lines allowed). */
export async function redisWorkspace(targetYaml: string[]): Promise<Workspace> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-redis-test-"));
  const config = path.join(dir, "prs-backup.yaml");
  const repo = path.join(dir, "repo");
  await fs.writeFile(
    config,
    [
      "repository:",
      `  path: ${repo}`,
      "  lockTimeoutSeconds: 60",
      "targets:",
      "  redis:",
      "    type: redis",
      ...targetYaml.map((l) => `    ${l}`),
      "",
    ].join("\n"),
  );
  return { dir, config, repo };
}

export interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; never throws on a non-zero exit. */
export async function prs(ws: Workspace, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await execa(process.execPath, [CLI, "--config", ws.config, ...args], {
    reject: false,
    env,
    timeout: 120_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI with --json and parses stdout; fails loudly on a non-zero exit. */
export async function prsJson<T>(
  ws: Workspace,
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const r = await prs(ws, [...args, "--json"], env);
  if (r.exitCode !== 0) throw new Error(`prs-backup ${args.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface SnapshotSummary {
  id: string;
  status: string;
  sourceBytes: number;
  storedBytes: number;
}

/**
 * A scratch Redis holding `keys` sample keys, and an initialised workspace that backs it up
 * from its data directory (extra target YAML lines allowed); both are removed by `cleanups`.
 */
export async function sampleRedisWorkspace(
  cleanups: (() => Promise<unknown>)[],
  keys: number,
  extraYaml: string[] = [],
): Promise<{ server: ScratchRedis; ws: Workspace }> {
  const server = await ScratchRedis.start();
  cleanups.push(() => server.close());
  await fillSample(server.port, undefined, keys);
  const ws = await redisWorkspace([`url: ${server.url}`, `dataDirectory: ${server.dir}`, ...extraYaml]);
  cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
  expect((await prs(ws, ["init"])).exitCode).toBe(0);
  return { server, ws };
}

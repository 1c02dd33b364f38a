import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { CLI } from "../../support/cli.js";

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

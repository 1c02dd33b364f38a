import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";

export const CLI = path.resolve(import.meta.dirname, "../../dist/bin/prs-backup.js");

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI with a config file; never throws on a non-zero exit. */
export async function cli(config: string, ...args: string[]): Promise<CliResult> {
  const r = await execa(process.execPath, [CLI, "--config", config, ...args], { reject: false });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI and parses its --json output, failing loudly on a non-zero exit. */
export async function cliJson<T>(config: string, ...args: string[]): Promise<T> {
  const r = await cli(config, ...args, "--json");
  if (r.exitCode !== 0) throw new Error(`prs-backup ${args.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A scratch folder with a source tree, a repository and a config for one files target. */
export async function workspace(retention: string): Promise<{ dir: string; src: string; config: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-test-"));
  const src = path.join(dir, "src");
  await fs.mkdir(src);
  const config = path.join(dir, "prs-backup.yaml");
  await fs.writeFile(
    config,
    `repository:\n  path: ${dir}/repo\n  lockTimeoutSeconds: 120\ntargets:\n  uploads:\n    type: files\n    paths: [${src}]\n    retention: ${retention}\n`,
  );
  return { dir, src, config };
}

/** Relative path → content of every file below `dir`. */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await fs.readdir(dir, { recursive: true })) {
    const full = path.join(dir, name);
    if ((await fs.lstat(full)).isFile()) out.set(name, await fs.readFile(full, "latin1"));
  }
  return out;
}

/** Every file under `dir` with its size and mtime: changes show up as a different string. */
export async function listing(dir: string): Promise<string> {
  const names = (await fs.readdir(dir, { recursive: true })).sort();
  const rows = await Promise.all(
    names.map(async (n) => {
      const st = await fs.lstat(path.join(dir, n));
      return `${n} ${st.size} ${st.mtimeMs}`;
    }),
  );
  return rows.join("\n");
}

import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runCli, type CliResult } from "../../helpers/cli.js";
import { PG_BIN } from "../../helpers/postgres.js";

export const PASSWORD_ENV = "TEST_PG_PASSWORD";

export interface PgWorkspace {
  dir: string;
  config: string;
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
}

export interface TargetOptions {
  port: number;
  database: string;
  /** Default: postgres. */
  user?: string;
  binDir?: string;
  exec?: string[];
  /** Default: the config's default (1, streamed). */
  jobs?: number;
  /** Default: the config's default (2). */
  restoreSessions?: number;
  services?: { stop: string[]; start: string[] };
}

/** A temp dir holding a repository and a config with one `postgres` target named `database`. */
export async function pgWorkspace(options: TargetOptions, env: NodeJS.ProcessEnv): Promise<PgWorkspace> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pg-test-"));
  const config = path.join(dir, "prs-backup.yaml");
  const list = (items: string[]): string => `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;
  const lines = [
    "repository:",
    `  path: ${path.join(dir, "repo")}`,
    `  tempDirectory: ${dir}`,
    ...(options.services
      ? ["services:", `  stop: ${list(options.services.stop)}`, `  start: ${list(options.services.start)}`]
      : []),
    "targets:",
    "  database:",
    "    type: postgres",
    `    connection: {host: 127.0.0.1, port: ${options.port}, user: ${options.user ?? "postgres"}, database: ${options.database}, passwordEnv: ${PASSWORD_ENV}}`,
    `    binDir: ${options.binDir ?? PG_BIN}`,
    ...(options.jobs ? [`    jobs: ${options.jobs}`] : []),
    ...(options.restoreSessions ? [`    restoreSessions: ${options.restoreSessions}`] : []),
    ...(options.exec ? [`    exec: ${list(options.exec)}`] : []),
    "",
  ];
  await fs.writeFile(config, lines.join("\n"));
  return {
    dir,
    config,
    run: (args, extra = {}) => runCli(["--config", config, ...args], { env: { ...env, ...extra } }),
  };
}

#!/usr/bin/env node
/**
 * A lean entry point for `archive_command` and `restore_command`: the same `wal push` /
 * `wal fetch` as the full CLI, but it loads only the WAL archive code (and the config
 * loader when no --repository is given), so one call costs ~0.1 s instead of ~0.6 s of
 * start-up — what keeps archiving ahead of a busy server (docs/pitr.md).
 *
 *   node …/wal-main.js push PATH [--repository DIR --target NAME | --config FILE [--target NAME]] [--allow-system-change]
 *   node …/wal-main.js fetch NAME DEST [same options]
 */
import { parseArgs } from "node:util";
import { WalArchive } from "./wal-archive.js";
import { FETCH_FATAL_EXIT, walFetch, walPush } from "./wal-commands.js";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      repository: { type: "string" },
      target: { type: "string" },
      config: { type: "string" },
      "allow-system-change": { type: "boolean" },
    },
  });
  const [command, ...args] = positionals;
  const fatal = command === "fetch" ? FETCH_FATAL_EXIT : 1;
  let archive: WalArchive;
  try {
    archive = await openArchive(values);
  } catch (err) {
    process.stderr.write(`error: wal ${command ?? ""}: ${(err as Error).message}\n`);
    return fatal;
  }
  if (command === "push" && args.length === 1) {
    return report(
      await walPush(archive, args[0]!, { allowSystemChange: values["allow-system-change"] === true }),
    );
  }
  if (command === "fetch" && args.length === 2) {
    return report(
      await walFetch(archive, args[0]!, args[1]!, {
        onRetry: (m) => process.stderr.write(`warning: ${m}\n`),
      }),
    );
  }
  process.stderr.write(
    "usage: wal-main.js push PATH | fetch NAME DEST [--repository DIR --target NAME | --config FILE]\n",
  );
  return command === "fetch" ? FETCH_FATAL_EXIT : 2;
}

function report(result: { exitCode: number; message?: string }): number {
  if (result.message) process.stderr.write(`error: ${result.message}\n`);
  return result.exitCode;
}

async function openArchive(values: {
  repository?: string;
  target?: string;
  config?: string;
}): Promise<WalArchive> {
  if (values.repository !== undefined) {
    if (values.target === undefined) throw new Error("--repository needs --target NAME");
    return new WalArchive(values.repository, values.target);
  }
  const { loadConfig } = await import("../../config/load.js");
  const { walArchiveFor } = await import("./wal-target.js");
  const { config } = await loadConfig({ configPath: values.config, env: process.env, cwd: process.cwd() });
  return walArchiveFor(config, values.target);
}

process.exitCode = await main(process.argv.slice(2));

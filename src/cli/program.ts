import { Command, CommanderError } from "commander";
import { ExitCode, toPrsBackupError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerBackup } from "./backup.js";
import { registerConfig } from "./config-check.js";
import { registerDaemon } from "./daemon.js";
import { registerDoctor } from "./doctor.js";
import { registerInit } from "./init.js";
import { createRuntime, type CliIO, type CommandRuntime, type GlobalOptions } from "./io.js";
import { registerList } from "./list.js";
import { registerPrune } from "./prune.js";
import { registerRestore } from "./restore.js";
import { registerSchedule } from "./schedule.js";
import { registerShow } from "./show.js";
import { registerStatus } from "./status.js";
import { registerVerify } from "./verify.js";
import { registerWal } from "./wal.js";

/**
 * Runs one command line and returns the exit code (DESIGN.md): 0 ok, 1 failed, 2 bad
 * usage or config, 3 verification problem. Errors are printed as one `error: …` line
 * each; the stack only with --debug. Only the entry point calls process.exit.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const program = new Command("prs-backup")
    .description("Backup and recovery for the PRS stack: PostgreSQL, Redis, files")
    .option(
      "--config <file>",
      "config file (default: $PRS_BACKUP_CONFIG, ./prs-backup.yaml, /etc/prs-backup/prs-backup.yaml)",
    )
    .option("--json", "print one JSON document on stdout")
    .option("--debug", "verbose logs and stack traces")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showSuggestionAfterError(true);

  let runtime: CommandRuntime | undefined;
  const getRuntime = (): CommandRuntime => (runtime ??= createRuntime(io, program.opts<GlobalOptions>()));
  for (const register of [
    registerInit,
    registerConfig,
    registerBackup,
    registerList,
    registerShow,
    registerRestore,
    registerVerify,
    registerPrune,
    registerWal,
    registerStatus,
    registerDoctor,
    registerDaemon,
    registerSchedule,
  ]) {
    register(program, getRuntime);
  }
  for (const cmd of program.commands)
    cmd.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return ExitCode.ok;
      // Commander has already printed its one-line "error: …".
      return ExitCode.usage;
    }
    const error = toPrsBackupError(err);
    for (const line of error.message.split("\n")) io.stderr(`error: ${line}\n`);
    if (program.opts<GlobalOptions>().debug) io.stderr(`${(err as Error).stack ?? String(err)}\n`);
    return error.exitCode;
  }
}

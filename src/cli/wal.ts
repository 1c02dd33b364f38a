import type { Command } from "commander";
import { PrsBackupError, UsageError, toPrsBackupError, type ExitCode } from "../errors.js";
import { WalArchive } from "../engines/postgres-physical/wal-archive.js";
import { walArchiveFor } from "../engines/postgres-physical/wal-target.js";
import {
  FETCH_FATAL_EXIT,
  walFetch,
  walPush,
  type WalCommandResult,
} from "../engines/postgres-physical/wal-commands.js";
import type { CommandRuntime } from "./io.js";

interface WalFlags {
  target?: string;
  repository?: string;
  allowSystemChange?: boolean;
}

/** A `wal` failure with its own exit status (1: push failed or not found; 126: fetch must abort recovery). */
class WalCommandError extends PrsBackupError {
  constructor(code: string, message: string, exitCode: number) {
    super(code, message, exitCode as ExitCode);
  }
}

function check(result: WalCommandResult, code: string): void {
  if (result.exitCode !== 0)
    throw new WalCommandError(code, result.message ?? "wal: failed", result.exitCode);
}

/** `wal push PATH` (archive_command, %p) and `wal fetch NAME DEST` (restore_command, %f %p). */
export function registerWal(program: Command, runtime: () => CommandRuntime): void {
  const wal = program
    .command("wal")
    .description("WAL archive commands for archive_command and restore_command");
  wal
    .command("push")
    .description(
      "archive one WAL file (archive_command = 'prs-backup wal push %p'); exit 0 once it is durable",
    )
    .argument("<path>", "the WAL file (PostgreSQL's %p)")
    .option("--target <name>", "postgres-physical target (default: the only one in the config)")
    .option("--repository <path>", "repository directory; with --target, no config file is read")
    .option(
      "--allow-system-change",
      "accept segments of a different database system (after a deliberate replacement)",
    )
    .action(async (file: string, flags: WalFlags) => {
      const rt = runtime();
      const archive = await openArchive(rt, flags);
      check(
        await walPush(archive, file, { allowSystemChange: flags.allowSystemChange === true }),
        "E_WAL_PUSH",
      );
    });
  wal
    .command("fetch")
    .description(
      "restore one WAL file (restore_command = 'prs-backup wal fetch %f %p'); exit 1 when it is not archived",
    )
    .argument("<name>", "WAL file name (PostgreSQL's %f)")
    .argument("<dest>", "where to write it (PostgreSQL's %p)")
    .option("--target <name>", "postgres-physical target (default: the only one in the config)")
    .option("--repository <path>", "repository directory; with --target, no config file is read")
    .action(async (name: string, dest: string, flags: WalFlags) => {
      const rt = runtime();
      let archive: WalArchive;
      try {
        archive = await openArchive(rt, flags);
      } catch (err) {
        // A config problem must stop recovery, not look like the end of the archive.
        throw new WalCommandError(
          "E_WAL_FETCH",
          `wal fetch: ${toPrsBackupError(err).message}`,
          FETCH_FATAL_EXIT,
        );
      }
      check(await walFetch(archive, name, dest, { onRetry: (m) => rt.logger.warn(m) }), "E_WAL_FETCH");
    });
}

/** The archive from `--repository` + `--target`, or from the config. */
async function openArchive(rt: CommandRuntime, flags: WalFlags): Promise<WalArchive> {
  if (flags.repository !== undefined) {
    if (flags.target === undefined) throw new UsageError("--repository needs --target NAME");
    return new WalArchive(flags.repository, flags.target);
  }
  const { config } = await rt.loadConfig();
  return walArchiveFor(config, flags.target);
}

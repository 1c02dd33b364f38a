import type { Command } from "commander";
import { formatBytes, formatDuration } from "../util/format.js";
import type { CommandRuntime } from "./io.js";

interface RestoreFlags {
  snapshot?: string;
  time?: string;
  lsn?: string;
  xid?: string;
  name?: string;
  to?: string;
  database?: string;
  force?: boolean;
  dryRun?: boolean;
}

/** `restore TARGET [--snapshot ID|latest] [--time ISO8601] [--to PATH] [--database NAME] [--force] [--dry-run]`. */
export function registerRestore(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("restore")
    .description("restore a target from a snapshot (the newest complete one by default)")
    .argument("<target>", "target name from the config")
    .option("--snapshot <id>", "snapshot id, unique prefix, or latest", "latest")
    .option("--time <iso8601>", "point in time to recover to, with a time zone (postgres-physical)")
    .option("--lsn <lsn>", "recover to this WAL position, e.g. 0/3000028 (postgres-physical)")
    .option("--xid <xid>", "recover to the commit of this transaction (postgres-physical)")
    .option("--name <restore-point>", "recover to a pg_create_restore_point() name (postgres-physical)")
    .option("--to <path>", "restore into this directory or file instead of in place")
    .option("--database <name>", "restore into this new database (postgres)")
    .option("--force", "allow in-place restores and non-empty destinations (live data is moved aside)")
    .option("--dry-run", "print what would be done, change nothing")
    .action(async (target: string, flags: RestoreFlags) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { runRestore } = await import("../ops/restore.js");
      const outcome = await runRestore(rt.opContext(config), {
        target,
        snapshot: flags.snapshot,
        to: flags.to,
        time: flags.time,
        lsn: flags.lsn,
        xid: flags.xid,
        name: flags.name,
        database: flags.database,
        force: flags.force === true,
        dryRun: flags.dryRun === true,
      });
      if (rt.options.json) {
        const { snapshot, ...rest } = outcome;
        return rt.printJson({ target, snapshot: snapshot.id, ...rest });
      }
      const verb = outcome.dryRun ? "would restore" : "restored";
      const lines = [
        ...outcome.steps.map((s) => `${outcome.dryRun ? "plan" : "done"}: ${s.action} ${s.detail}`),
        `${verb} snapshot ${outcome.snapshot.id} of ${target} to ${outcome.location}: ${outcome.entries} entries, ${formatBytes(outcome.bytes)}${outcome.dryRun ? "" : ` in ${formatDuration(outcome.seconds)}`}`,
        ...outcome.movedAside.map(
          (p) => `kept the previous data at ${p} (delete it yourself once satisfied)`,
        ),
        ...outcome.notes,
      ];
      rt.print(lines.join("\n"));
    });
}

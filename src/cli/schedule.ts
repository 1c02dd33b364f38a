import type { Command } from "commander";
import { UsageError } from "../errors.js";
import type { CommandRuntime } from "./io.js";

/** `schedule --crontab | --systemd`: the daemon's schedule for another scheduler. */
export function registerSchedule(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("schedule")
    .description(
      "print the daemon's schedule as crontab lines (--crontab) or systemd timer units (--systemd)",
    )
    .option("--crontab", "an /etc/cron.d file")
    .option("--systemd", "a .service and a .timer unit per job")
    .option("--bin <path>", "prs-backup as the entries should call it", "/usr/local/bin/prs-backup")
    .option("--user <name>", "user the jobs run as", "root")
    .action(async (flags: { crontab?: boolean; systemd?: boolean; bin: string; user: string }) => {
      if (flags.crontab === flags.systemd)
        throw new UsageError("schedule: give exactly one of --crontab or --systemd");
      const rt = runtime();
      const { file, config } = await rt.loadConfig();
      const { buildJobs } = await import("../daemon/jobs.js");
      const { crontabEntries, systemdUnits } = await import("../daemon/schedule-export.js");
      const spec = {
        jobs: buildJobs(config),
        bin: flags.bin,
        configFile: file,
        user: flags.user,
        timeZone: config.daemon.timeZone,
      };
      if (flags.crontab) {
        const text = crontabEntries(spec);
        return rt.options.json ? rt.printJson({ crontab: text }) : rt.print(text);
      }
      const units = systemdUnits(spec);
      if (rt.options.json) return rt.printJson(units);
      rt.print(units.map((u) => `# ---- ${u.name}\n${u.content}`).join("\n"));
    });
}

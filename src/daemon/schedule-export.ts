import { shellQuote } from "../util/shell-quote.js";
import type { JobSpec } from "./jobs.js";

export interface ExportSpec {
  jobs: readonly JobSpec[];
  /** The prs-backup executable the entries call. */
  bin: string;
  configFile: string;
  user: string;
  timeZone?: string | undefined;
}

/** The command line that runs one job, as the CLI takes it. */
export function jobCommand(job: JobSpec, spec: ExportSpec): string[] {
  const base = [spec.bin, "--config", spec.configFile];
  switch (job.kind) {
    case "backup":
      return [...base, "backup", job.target ?? job.name];
    case "verify":
      return [...base, "verify"];
    case "drill":
      return [...base, "verify", "--deep"];
    case "prune":
      return [...base, "prune"];
  }
}

/** A cron.d file; six-field (seconds) schedules cannot be expressed and are flagged. */
export function crontabEntries(spec: ExportSpec): string {
  const lines = [
    "# prs-backup schedule; install as /etc/cron.d/prs-backup (the daemon does the same by itself: run one or the other).",
    "# Exit codes: 0 ok, 1 failed, 2 bad usage/config, 3 verification found a problem. Logs: log.file in the config.",
    "SHELL=/bin/sh",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  ];
  if (spec.timeZone) lines.push(`CRON_TZ=${spec.timeZone}`);
  for (const job of spec.jobs) {
    const fields = job.schedule.trim().split(/\s+/);
    const command = jobCommand(job, spec).map(shellQuote).join(" ");
    if (fields.length === 6) {
      lines.push(
        `# ${job.name}: "${job.schedule}" has seconds, which cron cannot express; every minute instead:`,
      );
      lines.push(`# ${fields.slice(1).join(" ")} ${spec.user} ${command}`);
      continue;
    }
    lines.push(`${fields.join(" ")} ${spec.user} ${command}`);
  }
  return `${lines.join("\n")}\n`;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** A systemd OnCalendar= expression equivalent to a cron schedule (5 or 6 fields). */
export function onCalendar(schedule: string, timeZone?: string): string {
  const fields = schedule.trim().split(/\s+/);
  const [sec, min, hour, dom, mon, dow] = fields.length === 6 ? fields : ["0", ...fields];
  const conv = (f: string): string =>
    f === "*"
      ? "*"
      : f
          .replace(/\*\/(\d+)/g, "00/$1")
          .replace(/(\d+)-(\d+)/g, "$1..$2")
          .replace(/(\d+)\/(\d+)/g, "$1/$2");
  const pad = (f: string): string => f.replace(/(?<![/\d])(\d)(?!\d)/g, "0$1");
  const weekday =
    dow === "*" || dow === undefined
      ? ""
      : `${dow
          .split(",")
          .map((part) =>
            part
              .split("-")
              .map((d) => WEEKDAYS[Number(d) % 7] ?? d)
              .join(".."),
          )
          .join(",")} `;
  const date = `*-${conv(mon!)}-${conv(dom!)}`;
  const time = `${pad(conv(hour!))}:${pad(conv(min!))}:${pad(conv(sec!))}`;
  return `${weekday}${date} ${time}${timeZone ? ` ${timeZone}` : ""}`;
}

/** A .service (oneshot) and a .timer per job, ready for /etc/systemd/system. */
export function systemdUnits(spec: ExportSpec): { name: string; content: string }[] {
  return spec.jobs.flatMap((job) => {
    const unit = `prs-backup-${job.kind === "backup" ? `backup-${job.name}` : job.kind}`;
    const exec = jobCommand(job, spec)
      .map((w) => (/[\s"'\\]/.test(w) ? JSON.stringify(w) : w))
      .join(" ");
    return [
      {
        name: `${unit}.service`,
        content:
          `[Unit]
Description=prs-backup ${job.kind} ${job.kind === "backup" ? job.name : ""}`.trimEnd() +
          `
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User=${spec.user}
ExecStart=${exec}
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
`,
      },
      {
        name: `${unit}.timer`,
        content: `[Unit]
Description=prs-backup ${job.name} schedule (${job.schedule})

[Timer]
OnCalendar=${onCalendar(job.schedule, spec.timeZone)}
Persistent=true

[Install]
WantedBy=timers.target
`,
      },
    ];
  });
}

import { describe, expect, it } from "vitest";
import { buildJobs } from "../../src/daemon/jobs.js";
import { crontabEntries, onCalendar, systemdUnits } from "../../src/daemon/schedule-export.js";
import { parseConfig } from "../../src/config/index.js";
import { schedulePeriodSeconds, staleMarginSeconds } from "../../src/ops/schedule-period.js";

const config = parseConfig(
  JSON.stringify({
    repository: { path: "/srv/repo" },
    targets: {
      database: { type: "postgres", connection: { user: "prs_admin", database: "prs_production" } },
      config: { type: "files", paths: ["/etc/nginx"] },
      fast: { type: "files", paths: ["/tmp/x"], schedule: "*/10 * * * * *" },
    },
    daemon: { timeZone: "Europe/Berlin" },
  }),
  { file: "/etc/prs-backup/prs-backup.yaml" },
);
const spec = {
  jobs: buildJobs(config),
  bin: "/usr/local/bin/prs-backup",
  configFile: "/etc/prs-backup/prs-backup.yaml",
  user: "root",
  timeZone: "Europe/Berlin",
};

describe("schedule periods", () => {
  it("takes the longest gap between runs", () => {
    expect(schedulePeriodSeconds("0 2 * * *")).toBe(86_400);
    expect(schedulePeriodSeconds("0 */6 * * *")).toBe(21_600);
    expect(schedulePeriodSeconds("* * * * * *")).toBe(1);
    expect(schedulePeriodSeconds("0 6 * * 0")).toBe(7 * 86_400);
    expect(schedulePeriodSeconds("0 6 * * 1-5")).toBe(3 * 86_400); // Friday → Monday
  });
  it("allows a margin of a quarter period, between 5 minutes and 6 hours", () => {
    expect(staleMarginSeconds(1)).toBe(300);
    expect(staleMarginSeconds(21_600)).toBe(5_400);
    expect(staleMarginSeconds(7 * 86_400)).toBe(21_600);
  });
});

describe("schedule --crontab / --systemd", () => {
  it("prints a cron.d file with one line per job, in the configured time zone", () => {
    const text = crontabEntries(spec);
    expect(text).toContain("CRON_TZ=Europe/Berlin\n");
    expect(text).toContain(
      "0 2 * * * root /usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml backup database\n",
    );
    expect(text).toContain(
      "0 6 * * 0 root /usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml backup config\n",
    );
    expect(text).toContain(
      "0 7 * * * root /usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml verify\n",
    );
    expect(text).toContain(
      "0 8 1 * * root /usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml verify --deep\n",
    );
    expect(text).toContain(
      "30 6 * * * root /usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml prune\n",
    );
    expect(text).toMatch(/# fast: "\*\/10 \* \* \* \* \*" has seconds/);
  });

  it("translates cron to OnCalendar", () => {
    expect(onCalendar("0 2 * * *")).toBe("*-*-* 02:00:00");
    expect(onCalendar("0 */6 * * *")).toBe("*-*-* 00/6:00:00");
    expect(onCalendar("0 6 * * 0")).toBe("Sun *-*-* 06:00:00");
    expect(onCalendar("30 6 * * 1-5", "UTC")).toBe("Mon..Fri *-*-* 06:30:00 UTC");
    expect(onCalendar("0 8 1 * *")).toBe("*-*-1 08:00:00");
    expect(onCalendar("*/10 * * * * *")).toBe("*-*-* *:*:00/10");
  });

  it("prints a oneshot service and a persistent timer per job", () => {
    const units = systemdUnits(spec);
    expect(units.map((u) => u.name)).toContain("prs-backup-backup-database.timer");
    const timer = units.find((u) => u.name === "prs-backup-prune.timer")!.content;
    expect(timer).toContain("OnCalendar=*-*-* 06:30:00 Europe/Berlin\n");
    expect(timer).toContain("Persistent=true");
    const service = units.find((u) => u.name === "prs-backup-drill.service")!.content;
    expect(service).toContain("Type=oneshot\n");
    expect(service).toContain(
      "ExecStart=/usr/local/bin/prs-backup --config /etc/prs-backup/prs-backup.yaml verify --deep\n",
    );
  });
});

describe("daemon configuration", () => {
  it("applies the defaults and names each bad field", () => {
    expect(config.daemon).toMatchObject({
      listen: "127.0.0.1:9377",
      verifySchedule: "0 7 * * *",
      drillSchedule: "0 8 1 * *",
      pruneSchedule: "30 6 * * *",
      heavyJobLimit: 1,
      retry: { attempts: 3, initialDelaySeconds: 60, factor: 2, maxDelaySeconds: 1800 },
      catchUp: true,
      notifications: { webhooks: [], repeatHours: 24 },
    });
    const bad = JSON.stringify({
      repository: { path: "/r" },
      targets: { t: { type: "files", paths: ["/t"] } },
      daemon: {
        listen: "nope",
        timeZone: "Mars/Base",
        verifySchedule: "61 * * * *",
        notifications: { webhooks: [{}] },
      },
    });
    expect(() => parseConfig(bad, { file: "/c.yaml" })).toThrow(
      /daemon\.timeZone: unknown time zone "Mars\/Base"[\s\S]*daemon\.listen: must be HOST:PORT[\s\S]*daemon\.verifySchedule: invalid cron expression "61 \* \* \* \*"[\s\S]*daemon\.notifications\.webhooks\[0\]: set exactly one of url or urlEnv/,
    );
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, runOk } from "../helpers/cli.js";
import { scratch, startDaemon, startReceiver, waitFor, type DaemonProcess } from "./harness.js";

interface WebhookBody {
  text: string;
  event: string;
  job: string;
  message: string;
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function metric(text: string, name: string, target: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{target="${target}"`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("prs-backup daemon (a files target every second, one with a missing path)", () => {
  let dir: string;
  let config: string;
  let missing: string;
  let logFile: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    dir = await scratch();
    const src = path.join(dir, "src");
    missing = path.join(dir, "missing");
    logFile = path.join(dir, "prs-backup.log");
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, "a.txt"), "hello");
    receiver = await startReceiver();
    config = path.join(dir, "prs-backup.yaml");
    const doc = {
      repository: { path: path.join(dir, "repo"), lockTimeoutSeconds: 30 },
      targets: {
        uploads: { type: "files", paths: [src], schedule: "* * * * * *", retention: { days: 1 } },
        broken: { type: "files", paths: [missing], schedule: "* * * * * *", retention: { days: 1 } },
      },
      log: { file: logFile },
      daemon: {
        verifySchedule: "off",
        drillSchedule: "off",
        pruneSchedule: "off",
        notifications: { webhooks: [{ url: `${receiver.url}/hook` }], pingUrl: `${receiver.url}/ping/{job}` },
      },
    };
    await fs.writeFile(config, JSON.stringify(doc, null, 2));
    await runOk(["--config", config, "init"]);
    daemon = await startDaemon(config);
  });

  afterAll(async () => {
    if (daemon.child.exitCode === null) daemon.child.kill("SIGKILL");
    await receiver.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const webhooks = (): WebhookBody[] =>
    receiver.requests.filter((r) => r.path === "/hook").map((r) => JSON.parse(r.body) as WebhookBody);

  it("shows the last success of the good target and the failure of the broken one in /metrics", async () => {
    const text = await waitFor("both targets in /metrics", async () => {
      const body = await (await fetch(`${daemon.url}/metrics`)).text();
      const ok = metric(body, "prs_backup_last_success_timestamp_seconds", "uploads");
      const failures = metric(body, "prs_backup_job_failures_total", "broken");
      return ok !== undefined && failures !== undefined && failures >= 3 ? body : undefined;
    });
    expect(metric(text, "prs_backup_last_success_timestamp_seconds", "uploads")!).toBeGreaterThan(
      Date.now() / 1000 - 30,
    );
    expect(metric(text, "prs_backup_last_success_timestamp_seconds", "broken")).toBeUndefined();
    expect(metric(text, "prs_backup_last_failure_timestamp_seconds", "broken")).toBeGreaterThan(0);
    expect(metric(text, "prs_backup_schedule_expected_interval_seconds", "uploads")).toBe(1);
    expect(metric(text, "prs_backup_snapshot_bytes", "uploads")).toBe(5);
    expect(text).toContain('prs_backup_daemon_state{state="running"} 1');
    // Never backed up: the first run is the start-up catch-up, then the schedule takes over.
    expect(daemon.stderr()).toMatch(/uploads: backup started \(catch-up\)/);
    expect(daemon.stderr()).toMatch(/uploads: backup started \(schedule\)/);
    expect(text).toMatch(/^prs_backup_repository_bytes \d+/m);
    expect(text).toMatch(/^prs_backup_repository_free_bytes \d+/m);
    expect(text).toMatch(
      /^prs_backup_job_duration_seconds_count\{target="uploads",kind="backup",outcome="success"\} \d+/m,
    );
  });

  it("answers /healthz with 503 naming the broken target", async () => {
    const res = await fetch(`${daemon.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ok: boolean; problems: { target: string; problem: string }[] };
    expect(body.ok).toBe(false);
    expect(body.problems.map((p) => p.target)).toContain("broken");
    expect(body.problems.map((p) => p.target)).not.toContain("uploads");
    expect(body.problems.filter((p) => p.target === "broken").map((p) => p.problem)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^last backup failed at .*does not exist/)]),
    );
  });

  it("shows both targets on the status page in a real browser (screenshot kept)", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      await page.goto(`${daemon.url}/`);
      expect(await page.locator('tr[data-target="uploads"]').getAttribute("data-light")).toBe("green");
      expect(await page.locator('tr[data-target="broken"]').getAttribute("data-light")).toBe("red");
      expect(await page.locator('tr[data-target="broken"]').innerText()).toMatch(/does not exist/);
      expect(await page.locator("#daemon-state").innerText()).toMatch(/running/i);
      expect(await page.locator("#chart-growth svg polyline").count()).toBe(1);
      expect(await page.locator("#chart-durations svg polyline").count()).toBeGreaterThanOrEqual(2);
      expect(await page.title()).toMatch(/^PROBLEM/);
      const shot = path.join(dir, "status-page.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect((await fs.stat(shot)).size).toBeGreaterThan(20_000);
      if (process.env["PRS_SCREENSHOT_DIR"])
        await fs.copyFile(shot, path.join(process.env["PRS_SCREENSHOT_DIR"], "status-page.png"));
    } finally {
      await browser.close();
    }
  });

  it("sends one failure notification for repeated failures, then one recovery", async () => {
    const failures = webhooks().filter((w) => w.job === "broken" && w.event === "failure");
    expect(failures).toHaveLength(1);
    expect(failures[0]!.text).toMatch(/broken.*FAILED.*does not exist/);
    // Pings go out for every run, not de-duplicated.
    expect(receiver.requests.filter((r) => r.path === "/ping/broken/fail").length).toBeGreaterThanOrEqual(3);
    expect(receiver.requests.some((r) => r.path === "/ping/uploads/start")).toBe(true);
    expect(receiver.requests.some((r) => r.path === "/ping/uploads")).toBe(true);

    await fs.mkdir(missing);
    await fs.writeFile(path.join(missing, "b.txt"), "back");
    await waitFor("a recovery notification", () =>
      webhooks().some((w) => w.job === "broken" && w.event === "recovery") ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 2500)); // more successful runs: still one recovery
    const broken = webhooks().filter((w) => w.job === "broken");
    expect(broken.map((w) => w.event)).toEqual(["failure", "recovery"]);
    expect(webhooks().filter((w) => w.job === "uploads")).toEqual([]);
    const health = await waitFor("healthz 200", async () => {
      const res = await fetch(`${daemon.url}/healthz`);
      return res.status === 200 ? ((await res.json()) as { ok: boolean }) : undefined;
    });
    expect(health.ok).toBe(true);
  });

  it("prints status --json as DESIGN.md says while the daemon runs", async () => {
    const r = await runOk(["--config", config, "status", "--json"]);
    const status = r.json<{
      targets: Record<string, unknown>[];
      repository: { bytes: number; freeBytes: number };
    }>();
    expect(status.targets.map((t) => t["name"])).toEqual(["uploads", "broken"]);
    for (const t of status.targets) {
      expect(Object.keys(t)).toEqual(
        expect.arrayContaining([
          "name",
          "type",
          "lastSuccess",
          "lastSnapshot",
          "ageSeconds",
          "stale",
          "problems",
        ]),
      );
      expect(t["type"]).toBe("files");
      expect(t["stale"]).toBe(false);
      expect(t["problems"]).toEqual([]);
      expect(t["lastSnapshot"]).toMatch(/^[0-9a-f]{16}$/);
      expect(Date.parse(t["lastSuccess"] as string)).toBeGreaterThan(Date.now() - 60_000);
      expect(t["ageSeconds"]).toBeLessThan(60);
    }
    expect(status.repository.bytes).toBeGreaterThan(0);
    expect(status.repository.freeBytes).toBeGreaterThan(0);
  });

  it("keeps logging after SIGHUP into a rotated log file, then stops cleanly on SIGTERM with exit 0", async () => {
    await fs.rename(logFile, `${logFile}.1`);
    daemon.child.kill("SIGHUP");
    const lines = await waitFor("new JSON lines in the reopened log", async () => {
      const text = await fs.readFile(logFile, "utf8").catch(() => "");
      const events = text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { event?: string; job?: string });
      return events.some((e) => e.event === "JobFinished") ? events : undefined;
    });
    expect(lines.some((e) => e.event === "LogReopened")).toBe(true);
    expect(daemon.child.exitCode).toBeNull();
    const old = await fs.readFile(`${logFile}.1`, "utf8");
    expect(old).toMatch(/"event":"JobFailed","job":"broken"/);

    daemon.child.kill("SIGTERM");
    const { code } = await daemon.exited;
    expect(code).toBe(0);
    expect(daemon.stderr()).toMatch(/daemon draining/);
    expect(daemon.stderr()).toMatch(/daemon stopped/);
  });
});

describe("prs-backup daemon at start-up", () => {
  it("refuses a --listen address that is not HOST:PORT with exit 2", async () => {
    const dir = await scratch();
    try {
      const config = path.join(dir, "c.yaml");
      await fs.writeFile(
        config,
        JSON.stringify({
          repository: { path: `${dir}/repo` },
          targets: { t: { type: "files", paths: [dir] } },
        }),
      );
      await runOk(["--config", config, "init"]);
      const r = await runCli(["--config", config, "daemon", "--listen", "nonsense"]);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^error: --listen: expected HOST:PORT/m);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { Daemon } from "../../src/daemon/daemon.js";
import type { DaemonEvent } from "../../src/daemon/events.js";
import type { StatusReport } from "../../src/ops/status.js";
import { initRepository } from "../../src/repo/open.js";
import { silentLogger } from "../../src/util/logger.js";
import { scratch, waitFor } from "./harness.js";

describe("daemon catch-up of verify, drill and prune (in process)", () => {
  let dir: string;
  let daemon: Daemon;
  const events: DaemonEvent[] = [];
  let url: string;

  beforeAll(async () => {
    dir = await scratch();
    await fs.mkdir(path.join(dir, "src"));
    await fs.writeFile(path.join(dir, "src", "f"), "data");
    const config = parseConfig(
      JSON.stringify({
        repository: { path: path.join(dir, "repo") },
        targets: { uploads: { type: "files", paths: [path.join(dir, "src")], schedule: "0 4 * * *" } },
        daemon: { heavyJobLimit: 2 },
      }),
      { file: path.join(dir, "c.yaml") },
    );
    await initRepository(config.repository);
    daemon = new Daemon({
      ctx: { config, logger: silentLogger, env: {} },
      listen: "127.0.0.1:0",
      onEvent: (e) => events.push(e),
    });
    const address = await daemon.start();
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await daemon.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("runs every never-run job once at start-up, then reports them healthy", async () => {
    const finished = await waitFor("four jobs to finish", () => {
      const names = events.flatMap((e) => (e.type === "JobFinished" ? [e.job.name] : []));
      return names.length >= 4 ? names : undefined;
    });
    expect(finished.sort()).toEqual(["drill", "prune", "uploads", "verify"]);
    expect(events.filter((e) => e.type === "JobFailed")).toEqual([]);
    expect(events.filter((e) => e.type === "JobStarted").every((e) => e.reason === "catch-up")).toBe(true);
    const status = (await (await fetch(`${url}/status.json`)).json()) as StatusReport & { state: string };
    expect(status.state).toBe("running");
    expect(status.jobs.map((j) => [j.name, j.lastRun?.outcome])).toEqual([
      ["verify", "success"],
      ["drill", "success"],
      ["prune", "success"],
    ]);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const job of ["verify", "drill", "prune"]) {
      expect(metrics).toMatch(
        new RegExp(`^prs_backup_last_success_timestamp_seconds\\{target="${job}"\\} \\d`, "m"),
      );
    }
    expect(metrics).toContain('prs_backup_schedule_expected_interval_seconds{target="drill"}');
  });

  it("goes running → draining → stopped", async () => {
    expect(await daemon.stop()).toBe(true);
    expect(daemon.state).toBe("stopped");
    const states = events.flatMap((e) => (e.type === "StateChanged" ? [e.to] : []));
    expect(states).toEqual(["running", "draining", "stopped"]);
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderStatus } from "../../src/cli/status.js";
import { parseConfig } from "../../src/config/index.js";
import { evaluateHealth } from "../../src/daemon/health.js";
import { repositorySeries } from "../../src/daemon/status-page.js";
import { runBackup } from "../../src/ops/backup.js";
import { collectStatus } from "../../src/ops/status.js";
import { initRepository } from "../../src/repo/open.js";
import { silentLogger } from "../../src/util/logger.js";
import { scratch } from "./harness.js";

describe("collectStatus", () => {
  let dir: string;
  let config: ReturnType<typeof parseConfig>;
  beforeAll(async () => {
    dir = await scratch();
    await fs.mkdir(path.join(dir, "src"));
    await fs.writeFile(path.join(dir, "src", "f"), "x".repeat(1000));
    config = parseConfig(
      JSON.stringify({
        repository: { path: path.join(dir, "repo") },
        targets: {
          uploads: { type: "files", paths: [path.join(dir, "src")], schedule: "0 4 * * *" },
          logs: { type: "files", paths: [path.join(dir, "nope")], schedule: "0 5 * * *" },
        },
      }),
      { file: path.join(dir, "c.yaml") },
    );
    await initRepository(config.repository);
    await runBackup({ config, logger: silentLogger, env: {} });
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("reports a fresh target, a failed one, and the repository", async () => {
    const { report, runs } = await collectStatus({ config, logger: silentLogger, env: {} });
    const [uploads, logs] = report.targets;
    expect(uploads).toMatchObject({
      name: "uploads",
      type: "files",
      stale: false,
      problems: [],
      periodSeconds: 86_400,
      snapshots: 1,
    });
    expect(uploads!.ageSeconds).toBeLessThan(30);
    expect(uploads!.lastSnapshotBytes).toBe(1000);
    expect(logs).toMatchObject({
      name: "logs",
      lastSuccess: null,
      lastSnapshot: null,
      ageSeconds: null,
      stale: true,
    });
    expect(logs!.problems[0]).toBe("no successful backup yet");
    expect(logs!.problems[1]).toMatch(/^last backup failed at .*does not exist/);
    expect(logs!.lastError?.code).toBe("E_SOURCE_MISSING");
    expect(report.repository.bytes).toBeGreaterThan(1000);
    expect(report.repository.freeBytes).toBeGreaterThan(0);
    expect(report.repository.growthBytesPerDay).toBeGreaterThan(0);
    expect(runs).toHaveLength(2);
    expect(evaluateHealth(report, "running").problems.map((p) => p.target)).toEqual(["logs", "logs"]);
    expect(renderStatus(report)).toMatch(/^✓ uploads .*\n✗ logs .*\n {4}no successful backup yet/);
  });

  it("calls a target stale once its period and margin have passed", async () => {
    const later = new Date(Date.now() + 86_400_000 + 7 * 3600_000);
    const { report } = await collectStatus({ config, logger: silentLogger, env: {}, now: () => later });
    const uploads = report.targets[0]!;
    expect(uploads.stale).toBe(true);
    expect(uploads.problems).toEqual([
      expect.stringMatching(
        /^stale: last success 31h0\dm ago, the schedule \(0 4 \* \* \*\) runs at least every 24h00m$/,
      ),
    ]);
    const almost = new Date(Date.now() + 86_400_000 + 5 * 3600_000);
    expect(
      (await collectStatus({ config, logger: silentLogger, env: {}, now: () => almost })).report.targets[0]!
        .stale,
    ).toBe(false);
  });

  it("rebuilds the repository size over time from the runs", async () => {
    const { report, runs } = await collectStatus({ config, logger: silentLogger, env: {} });
    const series = repositorySeries(report, runs);
    expect(series.at(-1)!.v).toBe(report.repository.bytes);
    expect(series[0]!.v).toBe(report.repository.bytes - runs[0]!.storedBytes!);
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DaemonEvent, JobRef } from "../../src/daemon/events.js";
import { Notifier, type Alert } from "../../src/daemon/notifier.js";
import { OperationError } from "../../src/errors.js";
import { silentLogger } from "../../src/util/logger.js";
import { scratch, startReceiver } from "./harness.js";

const job: JobRef = { name: "database", kind: "backup", target: "database" };
const failed = (final = true): DaemonEvent => ({
  type: "JobFailed",
  job,
  attempt: 1,
  seconds: 1,
  error: new OperationError("E_PG_CONNECT", "cannot connect", { retryable: true }),
  ...(final ? {} : { retryInSeconds: 60 }),
});
const finished: DaemonEvent = { type: "JobFinished", job, attempt: 1, seconds: 2 };
const stale: DaemonEvent = { type: "TargetStale", job, message: "last success 2d ago" };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(options: { repeatHours?: number; command?: string[]; now?: () => Date } = {}) {
  const receiver = await startReceiver();
  cleanups.push(receiver.close);
  const notifier = new Notifier({
    config: {
      webhooks: [{ url: `${receiver.url}/hook` }, { urlEnv: "HOOK_URL" }],
      pingUrl: `${receiver.url}/ping/{job}`,
      repeatHours: options.repeatHours ?? 24,
      ...(options.command ? { command: options.command } : {}),
    },
    env: { HOOK_URL: `${receiver.url}/from-env` },
    logger: silentLogger,
    ...(options.now ? { now: options.now } : {}),
  });
  const alerts = (): Alert[] =>
    receiver.requests.filter((r) => r.path === "/hook").map((r) => JSON.parse(r.body) as Alert);
  return { notifier, receiver, alerts };
}

describe("Notifier", () => {
  it("alerts once per failure streak, once on recovery, and pings every run", async () => {
    const { notifier, receiver, alerts } = await setup();
    notifier.observe(failed(false)); // a retry is coming: not final, no alert
    for (let i = 0; i < 5; i++) notifier.observe(failed());
    notifier.observe(stale); // stale while failing: the same problem
    notifier.observe(finished);
    notifier.observe(finished);
    await notifier.flush();
    expect(alerts().map((a) => a.event)).toEqual(["failure", "recovery"]);
    expect(alerts()[0]).toMatchObject({ job: "database", target: "database", message: "cannot connect" });
    expect(alerts()[0]!.text).toMatch(/database \(backup\) FAILED: cannot connect/);
    expect(receiver.requests.filter((r) => r.path === "/from-env")).toHaveLength(2);
    expect(receiver.requests.filter((r) => r.path === "/ping/database/fail")).toHaveLength(5);
    expect(receiver.requests.filter((r) => r.path === "/ping/database")).toHaveLength(2);
  });

  it("alerts on staleness once, and again after repeatHours", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const { notifier, alerts } = await setup({ repeatHours: 24, now: () => new Date(now) });
    notifier.observe(stale);
    notifier.observe(stale);
    now += 23 * 3_600_000;
    notifier.observe(stale);
    now += 2 * 3_600_000;
    notifier.observe(stale);
    notifier.observe(failed()); // a stale job that now fails: news
    await notifier.flush();
    expect(alerts().map((a) => a.event)).toEqual(["stale", "stale", "failure"]);
  });

  it("does not page again after a restart when the job was already failing", async () => {
    const { notifier, alerts } = await setup();
    notifier.seed("database", true);
    notifier.observe(failed());
    notifier.observe(finished);
    await notifier.flush();
    expect(alerts().map((a) => a.event)).toEqual(["recovery"]);
  });

  it("runs the command hook with the alert as JSON on stdin and in the environment", async () => {
    const dir = await scratch();
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const out = path.join(dir, "hook.out");
    const { notifier } = await setup({
      command: [
        "sh",
        "-c",
        `cat > ${out}; echo "$PRS_BACKUP_EVENT $PRS_BACKUP_JOB $PRS_BACKUP_TARGET" > ${out}.env`,
      ],
    });
    notifier.observe(failed());
    await notifier.flush();
    expect(JSON.parse(await fs.readFile(out, "utf8"))).toMatchObject({
      event: "failure",
      job: "database",
      message: "cannot connect",
    });
    expect(await fs.readFile(`${out}.env`, "utf8")).toBe("failure database database\n");
  });

  it("survives an unreachable webhook", async () => {
    const warnings: string[] = [];
    const notifier = new Notifier({
      config: { webhooks: [{ url: "http://127.0.0.1:9/hook" }], repeatHours: 0 },
      env: {},
      logger: { ...silentLogger, warn: (m: string) => warnings.push(m) },
    });
    notifier.observe(failed());
    await notifier.flush();
    expect(warnings.join("\n")).toMatch(/webhook to http:\/\/127\.0\.0\.1:9 failed/);
  });
});

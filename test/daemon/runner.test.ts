import { describe, expect, it } from "vitest";
import { buildJobs, type JobResult, type JobSpec } from "../../src/daemon/jobs.js";
import { EventBus, type DaemonEvent } from "../../src/daemon/events.js";
import { backoffSeconds, JobRunner, type RetryPolicy } from "../../src/daemon/runner.js";
import { OperationError } from "../../src/errors.js";
import type { OpContext } from "../../src/ops/context.js";
import { parseConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/util/logger.js";

const ctx = { logger: silentLogger, env: {} } as unknown as OpContext;
const fastRetry: RetryPolicy = { attempts: 3, initialDelaySeconds: 0.05, factor: 2, maxDelaySeconds: 1 };

function setup(heavyJobLimit = 1, retry = fastRetry): { runner: JobRunner; events: DaemonEvent[] } {
  const events: DaemonEvent[] = [];
  const bus = new EventBus((err) => {
    throw err;
  });
  bus.subscribe((e) => events.push(e));
  return { runner: new JobRunner({ ctx, bus, heavyJobLimit, retry }), events };
}

function job(name: string, run: () => JobResult | Promise<JobResult>, heavy = true): JobSpec {
  return { name, kind: "backup", target: name, schedule: "* * * * * *", heavy, run: async () => run() };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const retryable = (): JobResult => ({
  ok: false,
  error: new OperationError("E_PG_CONNECT", "refused", { retryable: true }),
});

describe("JobRunner", () => {
  it("retries only retryable errors, with backoff, and reports each attempt", async () => {
    const { runner, events } = setup();
    let calls = 0;
    runner.trigger(
      job("db", () => (++calls < 3 ? retryable() : { ok: true, bytes: 7 })),
      "schedule",
    );
    while (runner.active.length > 0) await delay(10);
    expect(calls).toBe(3);
    expect(events.map((e) => e.type)).toEqual([
      "JobStarted",
      "JobFailed",
      "JobStarted",
      "JobFailed",
      "JobStarted",
      "JobFinished",
    ]);
    const waits = events.flatMap((e) => (e.type === "JobFailed" ? [e.retryInSeconds] : []));
    expect(waits).toEqual([0.05, 0.1]);
    const reasons = events.flatMap((e) => (e.type === "JobStarted" ? [e.reason] : []));
    expect(reasons).toEqual(["schedule", "retry", "retry"]);

    const second = setup();
    let tries = 0;
    second.runner.trigger(
      job("files", () => {
        tries += 1;
        return { ok: false, error: new OperationError("E_SOURCE_MISSING", "gone") };
      }),
      "schedule",
    );
    while (second.runner.active.length > 0) await delay(10);
    expect(tries).toBe(1);
    const failed = second.events.find((e) => e.type === "JobFailed");
    expect(failed && "retryInSeconds" in failed).toBe(false);
  });

  it("gives up after the last attempt", async () => {
    const { runner, events } = setup();
    runner.trigger(
      job("db", () => retryable()),
      "schedule",
    );
    while (runner.active.length > 0) await delay(10);
    const failed = events.filter((e) => e.type === "JobFailed");
    expect(failed).toHaveLength(3);
    expect(failed.at(-1)).not.toHaveProperty("retryInSeconds");
  });

  it("skips a trigger while the same job is still running", async () => {
    const { runner, events } = setup();
    let release!: () => void;
    const spec = job("uploads", () => new Promise<JobResult>((r) => (release = () => r({ ok: true }))));
    expect(runner.trigger(spec, "schedule")).toBe(true);
    await delay(10);
    expect(runner.trigger(spec, "schedule")).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: "JobSkipped", reason: "the previous run has not finished" });
    release();
    while (runner.active.length > 0) await delay(10);
    expect(runner.trigger(spec, "schedule")).toBe(true);
  });

  it("runs at most heavyJobLimit heavy jobs at once; light jobs do not wait", async () => {
    const { runner } = setup(2);
    let running = 0;
    let most = 0;
    const track = async (): Promise<JobResult> => {
      running += 1;
      most = Math.max(most, running);
      await delay(40);
      running -= 1;
      return { ok: true };
    };
    for (const name of ["a", "b", "c", "d", "e"]) runner.trigger(job(name, track), "schedule");
    let lightRanAt = 0;
    const started = Date.now();
    runner.trigger(
      job(
        "light",
        () => {
          lightRanAt = Date.now() - started;
          return { ok: true };
        },
        false,
      ),
      "schedule",
    );
    while (runner.active.length > 0) await delay(5);
    expect(most).toBe(2);
    expect(lightRanAt).toBeLessThan(30);
  });

  it("drains: no new jobs, a pending retry is cancelled, running jobs finish", async () => {
    const { runner, events } = setup(1, { ...fastRetry, initialDelaySeconds: 30 });
    runner.trigger(
      job("db", () => retryable()),
      "schedule",
    );
    let finished = false;
    runner.trigger(
      job("slow", async () => {
        await delay(100);
        finished = true;
        return { ok: true };
      }),
      "schedule",
    );
    await delay(20);
    const t0 = Date.now();
    await runner.drain();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(finished).toBe(true);
    expect(events.filter((e) => e.type === "JobStarted" && e.job.name === "db")).toHaveLength(1);
    expect(
      runner.trigger(
        job("late", () => ({ ok: true })),
        "schedule",
      ),
    ).toBe(false);
  });

  it("computes capped exponential backoff", () => {
    const policy = { attempts: 5, initialDelaySeconds: 60, factor: 2, maxDelaySeconds: 300 };
    expect([1, 2, 3, 4].map((a) => backoffSeconds(policy, a))).toEqual([60, 120, 240, 300]);
  });
});

describe("buildJobs", () => {
  it("schedules each enabled target plus verify, drill and prune unless they are off", () => {
    const config = parseConfig(
      JSON.stringify({
        repository: { path: "/tmp/r" },
        targets: {
          uploads: { type: "files", paths: ["/tmp/u"] },
          old: { type: "files", paths: ["/tmp/o"], enabled: false },
        },
        daemon: { drillSchedule: "off" },
      }),
      { file: "/tmp/c.yaml" },
    );
    const jobs = buildJobs(config);
    expect(jobs.map((j) => [j.name, j.kind, j.schedule, j.heavy])).toEqual([
      ["uploads", "backup", "0 4 * * *", true],
      ["verify", "verify", "0 7 * * *", false],
      ["prune", "prune", "30 6 * * *", true],
    ]);
  });
});

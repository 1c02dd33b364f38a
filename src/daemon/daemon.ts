import os from "node:os";
import { Cron } from "croner";
import { toPrsBackupError } from "../errors.js";
import type { OpContext } from "../ops/context.js";
import { schedulePeriodSeconds } from "../ops/schedule-period.js";
import { collectStatus, type StatusData } from "../ops/status.js";
import { openRepository } from "../repo/open.js";
import type { Repository } from "../repo/repository.js";
import { EventBus, type DaemonEvent, type DaemonState } from "./events.js";
import { evaluateHealth } from "./health.js";
import { HttpServer, parseListen } from "./http-server.js";
import { buildJobs, type JobSpec } from "./jobs.js";
import { DaemonMetrics } from "./metrics.js";
import { Notifier } from "./notifier.js";
import { JobRunner } from "./runner.js";
import { renderStatusPage } from "./status-page.js";
import { logEvent } from "./log-events.js";

export interface DaemonOptions {
  ctx: OpContext;
  /** HOST:PORT; default `daemon.listen` of the config. */
  listen?: string;
  /** Extra event listeners (tests). */
  onEvent?: (event: DaemonEvent) => void;
}

/** Status older than this is recomputed when /metrics, /healthz or the page asks. */
const STATUS_MAX_AGE_MS = 15_000;

/**
 * The long-running service: a state machine starting → running → draining → stopped
 * (or failed when it cannot start). It schedules every job with croner, runs them through
 * the JobRunner, serves HTTP, and turns its typed events into log lines, metrics and alerts.
 */
export class Daemon {
  #state: DaemonState = "starting";
  readonly #ctx: OpContext;
  readonly #options: DaemonOptions;
  readonly #bus: EventBus;
  readonly #metrics = new DaemonMetrics();
  readonly #notifier: Notifier;
  readonly #runner: JobRunner;
  readonly #jobs: JobSpec[];
  readonly #server: HttpServer;
  #crons: Cron[] = [];
  #timer: NodeJS.Timeout | undefined;
  #repo: Repository | undefined;
  #status: { data: StatusData; at: number; dirty: boolean } | undefined;
  #refreshing: Promise<StatusData> | undefined;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#ctx = options.ctx;
    const { config, logger } = options.ctx;
    this.#bus = new EventBus((err) =>
      logger.error(`event listener failed: ${toPrsBackupError(err).message}`),
    );
    this.#notifier = new Notifier({ config: config.daemon.notifications, env: options.ctx.env, logger });
    this.#runner = new JobRunner({
      ctx: options.ctx,
      bus: this.#bus,
      heavyJobLimit: config.daemon.heavyJobLimit,
      retry: config.daemon.retry,
    });
    this.#jobs = buildJobs(config);
    this.#bus.subscribe((e) => logEvent(logger, e));
    this.#bus.subscribe((e) => this.#metrics.observe(e));
    this.#bus.subscribe((e) => this.#notifier.observe(e));
    this.#bus.subscribe((e) => {
      if ((e.type === "JobFinished" || e.type === "JobFailed") && this.#status) this.#status.dirty = true;
    });
    if (options.onEvent) this.#bus.subscribe(options.onEvent);
    this.#server = new HttpServer(
      {
        metrics: async () => {
          await this.status();
          return {
            contentType: this.#metrics.registry.contentType,
            body: await this.#metrics.registry.metrics(),
          };
        },
        health: async () => {
          const health = evaluateHealth((await this.status()).report, this.#state);
          return { ok: health.ok, body: health };
        },
        page: async () => {
          const data = await this.status();
          return renderStatusPage({
            ...data,
            state: this.#state,
            host: os.hostname(),
            active: this.#runner.active,
          });
        },
        statusJson: async () => ({
          state: this.#state,
          active: this.#runner.active,
          ...(await this.status()).report,
        }),
      },
      logger,
    );
  }

  get state(): DaemonState {
    return this.#state;
  }

  /** Opens the repository, listens, schedules every job and runs the catch-up; ends in `running` (or `failed`). */
  async start(): Promise<{ host: string; port: number }> {
    const { config, logger } = this.#ctx;
    try {
      this.#repo = await openRepository(config.repository);
      const { host, port } = parseListen(this.#options.listen ?? config.daemon.listen);
      const address = await this.#server.listen(host, port);
      logger.info(
        `listening on http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}/`,
        { event: "Listening", ...address },
      );
      const { report } = await this.status({ force: true });
      for (const t of report.targets) this.#notifier.seed(t.name, t.lastError !== null);
      for (const j of report.jobs)
        this.#notifier.seed(j.name, j.lastRun !== null && j.lastRun.outcome !== "success");
      const timeZone = config.daemon.timeZone;
      for (const job of this.#jobs) {
        this.#crons.push(
          new Cron(job.schedule, { ...(timeZone ? { timezone: timeZone } : {}) }, () => {
            this.#runner.trigger(job, "schedule");
          }),
        );
      }
      this.#setState("running");
      if (config.daemon.catchUp) this.#catchUp(report);
      this.#timer = setInterval(() => void this.#check(), config.daemon.checkIntervalSeconds * 1000);
      return address;
    } catch (err) {
      this.#setState("failed");
      await this.#server.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Drains: no new jobs, pending retries cancelled, running jobs given `gracePeriodSeconds`
   * to finish. Resolves true when everything finished in time (then the state is `stopped`).
   */
  async stop(): Promise<boolean> {
    if (this.#state === "draining" || this.#state === "stopped") return true;
    this.#setState("draining");
    for (const cron of this.#crons) cron.stop();
    clearInterval(this.#timer);
    const graceMs = this.#ctx.config.daemon.gracePeriodSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.#runner.drain().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      const names = this.#runner.active.map((a) => a.job.name).join(", ");
      this.#ctx.logger.error(`grace period of ${graceMs / 1000}s over; abandoning running job(s): ${names}`);
    }
    await Promise.race([this.#notifier.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.#server.close();
    this.#setState("stopped");
    return drained;
  }

  /** The current status, recomputed when a job has finished since or it is older than 15 s. */
  async status(options: { force?: boolean } = {}): Promise<StatusData> {
    const cached = this.#status;
    if (!options.force && cached && !cached.dirty && Date.now() - cached.at < STATUS_MAX_AGE_MS)
      return cached.data;
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<StatusData> {
    const data = await collectStatus(this.#ctx, this.#repo ? { repo: this.#repo } : {});
    this.#status = { data, at: Date.now(), dirty: false };
    const schedules = new Map(this.#jobs.map((j) => [j.name, j.schedule]));
    this.#metrics.update(data.report, schedules, this.#ctx.config.daemon.timeZone);
    return data;
  }

  #setState(to: DaemonState): void {
    const from = this.#state;
    this.#state = to;
    this.#bus.emit({ type: "StateChanged", from, to });
  }

  /**
   * Runs each job whose last success is older than its period (or that never succeeded):
   * the backups first, then verify, drill and prune, so those see the new snapshots.
   */
  #catchUp(report: StatusData["report"]): void {
    const now = Date.now();
    const timeZone = this.#ctx.config.daemon.timeZone;
    const due = this.#jobs.filter((job) => {
      const last =
        job.kind === "backup"
          ? report.targets.find((t) => t.name === job.name)?.lastSuccess
          : report.jobs.find((j) => j.name === job.name)?.lastSuccess;
      return !last || now - Date.parse(last) > schedulePeriodSeconds(job.schedule, timeZone) * 1000;
    });
    const backups = due.filter((job) => job.kind === "backup");
    for (const job of backups) this.#runner.trigger(job, "catch-up");
    void Promise.all(backups.map((job) => this.#runner.settled(job.name))).then(() => {
      if (this.#state !== "running") return;
      for (const job of due.filter((j) => j.kind !== "backup")) this.#runner.trigger(job, "catch-up");
    });
  }

  /** Periodic: refresh the status and raise staleness alerts. */
  async #check(): Promise<void> {
    try {
      const { report } = await this.status({ force: true });
      const busy = new Set(this.#runner.active.map((a) => a.job.name));
      for (const t of report.targets) {
        // A first backup that is still running is late, not stale.
        if (!t.stale || !t.enabled || busy.has(t.name)) continue;
        this.#bus.emit({
          type: "TargetStale",
          job: { name: t.name, kind: "backup", target: t.name },
          message: t.problems.join("; "),
        });
      }
    } catch (err) {
      this.#ctx.logger.warn(`status check failed: ${toPrsBackupError(err).message}`);
    }
  }
}

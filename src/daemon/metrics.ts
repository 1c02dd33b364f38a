import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StatusReport } from "../ops/status.js";
import { schedulePeriodSeconds } from "../ops/schedule-period.js";
import { DAEMON_STATES, type DaemonEvent, type DaemonState } from "./events.js";

const seconds = (iso: string | null | undefined): number | undefined =>
  iso ? Date.parse(iso) / 1000 : undefined;

/**
 * The Prometheus metrics. Per-target gauges come from the status (the run history), so
 * they are right from the first scrape after a restart; counters and the duration
 * histogram come from the daemon's events. Repository-wide jobs (verify, drill, prune)
 * appear with their job name in the `target` label, so one alert rule covers them too.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #lastSuccess = this.#gauge(
    "prs_backup_last_success_timestamp_seconds",
    "End of the newest successful run (Unix time)",
    ["target"],
  );
  readonly #lastFailure = this.#gauge(
    "prs_backup_last_failure_timestamp_seconds",
    "End of the newest failed run (Unix time)",
    ["target"],
  );
  readonly #interval = this.#gauge(
    "prs_backup_schedule_expected_interval_seconds",
    "Longest gap between two scheduled runs",
    ["target"],
  );
  readonly #stale = this.#gauge(
    "prs_backup_target_stale",
    "1 when the target has no success within its period plus a margin",
    ["target"],
  );
  readonly #snapshotBytes = this.#gauge("prs_backup_snapshot_bytes", "Source bytes of the newest snapshot", [
    "target",
  ]);
  readonly #walPush = this.#gauge(
    "prs_backup_wal_archive_last_push_timestamp_seconds",
    "Newest WAL file in the archive (Unix time)",
    ["target"],
  );
  readonly #repoBytes = this.#gauge("prs_backup_repository_bytes", "Bytes stored in the repository", []);
  readonly #repoFree = this.#gauge(
    "prs_backup_repository_free_bytes",
    "Free bytes on the repository's file system",
    [],
  );
  readonly #state = this.#gauge("prs_backup_daemon_state", "1 for the daemon's current state", ["state"]);
  readonly #running = this.#gauge("prs_backup_jobs_running", "Jobs running now", []);
  readonly #failures = new Counter({
    name: "prs_backup_job_failures_total",
    help: "Failed job attempts since the daemon started",
    labelNames: ["target", "kind"],
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: "prs_backup_job_duration_seconds",
    help: "Duration of job attempts",
    labelNames: ["target", "kind", "outcome"],
    buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "prs_backup_" });
    this.setState("starting");
    this.#running.set(0);
  }

  #gauge(name: string, help: string, labelNames: string[]): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  setState(state: DaemonState): void {
    for (const s of DAEMON_STATES) this.#state.set({ state: s }, s === state ? 1 : 0);
  }

  /** Feeds one daemon event. */
  observe(event: DaemonEvent): void {
    switch (event.type) {
      case "StateChanged":
        return this.setState(event.to);
      case "JobStarted":
        return this.#running.inc();
      case "JobFinished":
        this.#running.dec();
        this.#duration.observe(
          { target: event.job.name, kind: event.job.kind, outcome: "success" },
          event.seconds,
        );
        return;
      case "JobFailed":
        this.#running.dec();
        this.#failures.inc({ target: event.job.name, kind: event.job.kind });
        this.#duration.observe(
          { target: event.job.name, kind: event.job.kind, outcome: "failure" },
          event.seconds,
        );
        return;
      default:
        return;
    }
  }

  /** Sets every gauge derived from the status. */
  update(report: StatusReport, schedules: ReadonlyMap<string, string>, timeZone?: string): void {
    for (const g of [
      this.#lastSuccess,
      this.#lastFailure,
      this.#interval,
      this.#stale,
      this.#snapshotBytes,
      this.#walPush,
    ])
      g.reset();
    for (const t of report.targets) {
      if (!t.enabled) continue;
      const labels = { target: t.name };
      setIf(this.#lastSuccess, labels, seconds(t.lastSuccess));
      setIf(this.#lastFailure, labels, seconds(t.lastFailure));
      this.#interval.set(labels, t.periodSeconds);
      this.#stale.set(labels, t.stale ? 1 : 0);
      setIf(this.#snapshotBytes, labels, t.lastSnapshotBytes ?? undefined);
      setIf(this.#walPush, labels, seconds(t.pitr?.lastWalPush));
    }
    for (const j of report.jobs) {
      const schedule = schedules.get(j.name);
      if (schedule === undefined) continue;
      const labels = { target: j.name };
      setIf(this.#lastSuccess, labels, seconds(j.lastSuccess));
      setIf(this.#lastFailure, labels, seconds(j.lastFailure));
      this.#interval.set(labels, schedulePeriodSeconds(schedule, timeZone));
    }
    this.#repoBytes.set(report.repository.bytes);
    setIf(this.#repoFree, {}, report.repository.freeBytes ?? undefined);
  }
}

function setIf(gauge: Gauge, labels: Record<string, string>, value: number | undefined): void {
  if (value !== undefined) gauge.set(labels, value);
}

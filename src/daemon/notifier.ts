import os from "node:os";
import type { Config } from "../config/index.js";
import { toPrsBackupError } from "../errors.js";
import type { Logger } from "../util/logger.js";
import { runCommand } from "../util/subprocess.js";
import type { DaemonEvent, JobRef } from "./events.js";

/** What an alert is about. */
export type AlertKind = "failure" | "recovery" | "stale";

/** The JSON body of a webhook (and the command hook's stdin). `text` is for Slack and the like. */
export interface Alert {
  text: string;
  event: AlertKind;
  job: string;
  kind: string;
  target?: string;
  message: string;
  time: string;
  host: string;
}

type Health = "ok" | "failing" | "stale";

const SEND_TIMEOUT_MS = 10_000;

export interface NotifierOptions {
  config: Config["daemon"]["notifications"];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  now?: () => Date;
}

/**
 * Sends alerts, de-duplicated per job: the first failure (after retries are exhausted) and
 * the first staleness alert, then nothing more until the job recovers (one recovery alert)
 * or `repeatHours` have passed. Pings (Healthchecks style) go out for every run. Sending
 * never throws: a broken webhook is logged, it does not stop backups.
 */
export class Notifier {
  readonly #options: NotifierOptions;
  readonly #health = new Map<string, { health: Health; alertedAt: number }>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  /** The state a job is in at start-up (from the history), so a restart does not page again. */
  seed(job: string, failing: boolean): void {
    if (failing) this.#health.set(job, { health: "failing", alertedAt: this.#now() });
  }

  /** Feeds one daemon event. */
  observe(event: DaemonEvent): void {
    switch (event.type) {
      case "JobStarted":
        return this.#ping(event.job, "/start", `${event.job.name} started (${event.reason})`);
      case "JobFinished":
        this.#ping(event.job, "", `${event.job.name} succeeded in ${event.seconds.toFixed(1)}s`);
        return this.#transition(event.job, "ok", `${event.job.name} succeeded again`);
      case "JobFailed":
        if (event.retryInSeconds !== undefined) return; // not final yet
        this.#ping(event.job, "/fail", event.error.message);
        return this.#transition(event.job, "failing", event.error.message);
      case "TargetStale":
        return this.#transition(event.job, "stale", event.message);
      default:
        return;
    }
  }

  /** Waits for alerts and pings in flight (used when draining). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  #now(): number {
    return (this.#options.now?.() ?? new Date()).getTime();
  }

  #transition(job: JobRef, next: Health, message: string): void {
    const current = this.#health.get(job.name) ?? { health: "ok" as Health, alertedAt: 0 };
    const repeatMs = this.#options.config.repeatHours * 3_600_000;
    if (next === "ok") {
      this.#health.set(job.name, { health: "ok", alertedAt: 0 });
      if (current.health !== "ok") this.#alert("recovery", job, message);
      return;
    }
    // A failing job that also goes stale is still one problem; a stale one that fails is news.
    if (next === "stale" && current.health === "failing") return;
    const due = repeatMs > 0 && this.#now() - current.alertedAt >= repeatMs;
    if (current.health === next && !due) return;
    this.#health.set(job.name, { health: next, alertedAt: this.#now() });
    this.#alert(next === "failing" ? "failure" : "stale", job, message);
  }

  #alert(event: AlertKind, job: JobRef, message: string): void {
    const host = os.hostname();
    const headline = {
      failure: `:red_circle: prs-backup on ${host}: ${job.name} (${job.kind}) FAILED`,
      recovery: `:large_green_circle: prs-backup on ${host}: ${job.name} (${job.kind}) recovered`,
      stale: `:warning: prs-backup on ${host}: ${job.name} is STALE`,
    }[event];
    const alert: Alert = {
      text: `${headline}: ${message}`,
      event,
      job: job.name,
      kind: job.kind,
      ...(job.target ? { target: job.target } : {}),
      message,
      time: new Date(this.#now()).toISOString(),
      host,
    };
    this.#options.logger.info(`alert: ${event} ${job.name}: ${message.split("\n")[0] ?? ""}`, {
      event: "Alert",
      alert: event,
      job: job.name,
    });
    const { webhooks, command } = this.#options.config;
    for (const hook of webhooks) {
      const url = hook.url ?? (hook.urlEnv ? this.#options.env[hook.urlEnv] : undefined);
      if (!url) {
        this.#options.logger.warn(`alert: webhook environment variable ${hook.urlEnv ?? "?"} is not set`);
        continue;
      }
      this.#track(this.#post(url, JSON.stringify(alert), "application/json", "webhook"));
    }
    if (command) this.#track(this.#runHook(command, alert));
  }

  #ping(job: JobRef, suffix: string, body: string): void {
    const template = this.#options.config.pingUrl;
    if (!template) return;
    const url = template.replaceAll("{job}", encodeURIComponent(job.name)).replace(/\/+$/, "") + suffix;
    this.#track(this.#post(url, body.slice(0, 10_000), "text/plain; charset=utf-8", "ping"));
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  async #post(url: string, body: string, contentType: string, what: string): Promise<void> {
    const shown = new URL(url).origin; // the path of a webhook URL is often its secret
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      if (!res.ok) this.#options.logger.warn(`${what} to ${shown} answered HTTP ${res.status}`);
      await res.body?.cancel();
    } catch (err) {
      this.#options.logger.warn(`${what} to ${shown} failed: ${(err as Error).message}`);
    }
  }

  async #runHook(argv: readonly string[], alert: Alert): Promise<void> {
    try {
      const r = await runCommand(argv, {
        input: JSON.stringify(alert),
        timeoutMs: 30_000,
        env: {
          PRS_BACKUP_EVENT: alert.event,
          PRS_BACKUP_JOB: alert.job,
          PRS_BACKUP_TARGET: alert.target ?? "",
          PRS_BACKUP_MESSAGE: alert.message,
        },
      });
      if (r.exitCode !== 0) {
        this.#options.logger.warn(
          `alert command ${r.command} failed (exit ${r.exitCode ?? r.signal}): ${r.stderrTail.trim().split("\n").at(-1) ?? ""}`,
        );
      }
    } catch (err) {
      this.#options.logger.warn(`alert command failed: ${toPrsBackupError(err).message}`);
    }
  }
}

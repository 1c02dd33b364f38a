import type { Logger } from "../util/logger.js";
import type { DaemonEvent } from "./events.js";

/** Writes one daemon event as a log line; the JSON log gets the event's fields. */
export function logEvent(logger: Logger, event: DaemonEvent): void {
  switch (event.type) {
    case "StateChanged":
      return logger.info(`daemon ${event.to}`, { event: event.type, from: event.from, to: event.to });
    case "JobStarted":
      return logger.info(
        `${event.job.name}: ${event.job.kind} started (${event.reason}${event.attempt > 1 ? `, attempt ${event.attempt}` : ""})`,
        {
          event: event.type,
          job: event.job.name,
          kind: event.job.kind,
          attempt: event.attempt,
        },
      );
    case "JobFinished":
      return logger.info(`${event.job.name}: ${event.job.kind} finished in ${event.seconds.toFixed(1)}s`, {
        event: event.type,
        job: event.job.name,
        kind: event.job.kind,
        seconds: Number(event.seconds.toFixed(3)),
        ...(event.snapshot ? { snapshot: event.snapshot } : {}),
        ...(event.bytes !== undefined ? { bytes: event.bytes } : {}),
      });
    case "JobFailed": {
      const retry = event.retryInSeconds === undefined ? "" : `; retrying in ${event.retryInSeconds}s`;
      return logger.error(
        `${event.job.name}: ${event.job.kind} job failed (attempt ${event.attempt}): ${event.error.message}${retry}`,
        {
          event: event.type,
          job: event.job.name,
          kind: event.job.kind,
          attempt: event.attempt,
          seconds: Number(event.seconds.toFixed(3)),
          code: event.error.code,
          retryable: event.error.retryable,
        },
      );
    }
    case "JobSkipped":
      return logger.warn(`${event.job.name}: ${event.job.kind} not started: ${event.reason}`, {
        event: event.type,
        job: event.job.name,
      });
    case "TargetStale":
      return logger.warn(`${event.job.name}: stale: ${event.message}`, {
        event: event.type,
        job: event.job.name,
      });
  }
}

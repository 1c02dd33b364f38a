import type { PrsBackupError } from "../errors.js";

/** The daemon's lifecycle (STYLE.md point 9). `failed`: it could not start. */
export type DaemonState = "starting" | "running" | "draining" | "stopped" | "failed";
export const DAEMON_STATES: readonly DaemonState[] = ["starting", "running", "draining", "stopped", "failed"];

export type JobKind = "backup" | "verify" | "drill" | "prune";

/** Which job: `name` is the target for backups, else the kind (verify, drill, prune). */
export interface JobRef {
  name: string;
  kind: JobKind;
  target?: string;
}

/** Why a job was started. */
export type JobReason = "schedule" | "catch-up" | "retry";

/** Typed events: they feed the log, the metrics and the alerts, so those cannot disagree. */
export type DaemonEvent =
  | { type: "StateChanged"; from: DaemonState; to: DaemonState }
  | { type: "JobStarted"; job: JobRef; attempt: number; reason: JobReason }
  | { type: "JobFinished"; job: JobRef; attempt: number; seconds: number; bytes?: number; snapshot?: string }
  | {
      type: "JobFailed";
      job: JobRef;
      attempt: number;
      seconds: number;
      error: PrsBackupError;
      /** Seconds until the next attempt, when there is one. */
      retryInSeconds?: number;
    }
  | { type: "JobSkipped"; job: JobRef; reason: string }
  | { type: "TargetStale"; job: JobRef; message: string };

export type DaemonListener = (event: DaemonEvent) => void;

/** A synchronous event bus; a throwing listener is reported, never breaks the others. */
export class EventBus {
  readonly #listeners: DaemonListener[] = [];
  readonly #onListenerError: (err: unknown) => void;

  constructor(onListenerError: (err: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  subscribe(listener: DaemonListener): void {
    this.#listeners.push(listener);
  }

  emit(event: DaemonEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#onListenerError(err);
      }
    }
  }
}

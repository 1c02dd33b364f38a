import type { OpContext } from "../ops/context.js";
import type { EventBus, JobReason, JobRef } from "./events.js";
import type { JobResult, JobSpec } from "./jobs.js";

export interface RetryPolicy {
  attempts: number;
  initialDelaySeconds: number;
  factor: number;
  maxDelaySeconds: number;
}

export interface JobRunnerOptions {
  ctx: OpContext;
  bus: EventBus;
  heavyJobLimit: number;
  retry: RetryPolicy;
}

/** The wait before attempt `attempt + 1` (attempt counts from 1). */
export function backoffSeconds(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.initialDelaySeconds * policy.factor ** (attempt - 1), policy.maxDelaySeconds);
}

/** A counting semaphore, first come first served. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free += 1;
  }
}

/**
 * Runs jobs: one at a time per target (a trigger for a job already queued or running is
 * skipped, not stacked), at most `heavyJobLimit` heavy jobs at once, retries with
 * exponential backoff only for errors marked `retryable`. `drain` stops new work, cancels
 * pending retries and waits for running jobs.
 */
export class JobRunner {
  readonly #options: JobRunnerOptions;
  readonly #heavy: Slots;
  /** Jobs queued or running, by name. */
  readonly #active = new Map<string, { job: JobRef; running: boolean; done: Promise<void> }>();
  /** Per-target chains, so two jobs of one target never overlap. */
  readonly #targetTails = new Map<string, Promise<void>>();
  readonly #drain = new AbortController();

  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#heavy = new Slots(options.heavyJobLimit);
  }

  /** Jobs queued or running now. */
  get active(): { job: JobRef; running: boolean }[] {
    return [...this.#active.values()].map(({ job, running }) => ({ job, running }));
  }

  /** Starts a job unless it is queued or running already, or the runner is draining; true when started. */
  trigger(job: JobSpec, reason: JobReason): boolean {
    const ref: JobRef = { name: job.name, kind: job.kind, ...(job.target ? { target: job.target } : {}) };
    if (this.#drain.signal.aborted) {
      this.#options.bus.emit({ type: "JobSkipped", job: ref, reason: "the daemon is draining" });
      return false;
    }
    if (this.#active.has(job.name)) {
      this.#options.bus.emit({ type: "JobSkipped", job: ref, reason: "the previous run has not finished" });
      return false;
    }
    const key = job.target ?? job.name;
    const entry = { job: ref, running: false, done: Promise.resolve() };
    const previous = this.#targetTails.get(key) ?? Promise.resolve();
    entry.done = previous
      .then(() => this.#attempts(job, ref, reason, entry))
      .finally(() => this.#active.delete(job.name));
    this.#targetTails.set(
      key,
      entry.done.then(
        () => undefined,
        () => undefined,
      ),
    );
    this.#active.set(job.name, entry);
    return true;
  }

  /** Resolves when the named job is neither queued nor running (at once when it is not). */
  async settled(name: string): Promise<void> {
    await this.#active.get(name)?.done.catch(() => undefined);
  }

  /** Stops accepting jobs and retries; resolves when nothing runs any more. */
  async drain(): Promise<void> {
    this.#drain.abort();
    await Promise.allSettled([...this.#active.values()].map((e) => e.done));
  }

  async #attempts(job: JobSpec, ref: JobRef, reason: JobReason, entry: { running: boolean }): Promise<void> {
    const { bus, retry } = this.#options;
    for (let attempt = 1; ; attempt++) {
      if (this.#drain.signal.aborted) return;
      const result = await this.#runOnce(job, ref, attempt === 1 ? reason : "retry", attempt, entry);
      if (result.ok) return;
      const more = result.error.retryable && attempt < retry.attempts && !this.#drain.signal.aborted;
      const delay = backoffSeconds(retry, attempt);
      bus.emit({
        type: "JobFailed",
        job: ref,
        attempt,
        seconds: result.seconds,
        error: result.error,
        ...(more ? { retryInSeconds: delay } : {}),
      });
      if (!more) return;
      await sleep(delay * 1000, this.#drain.signal);
    }
  }

  async #runOnce(
    job: JobSpec,
    ref: JobRef,
    reason: JobReason,
    attempt: number,
    entry: { running: boolean },
  ): Promise<JobResult & { seconds: number }> {
    if (job.heavy) await this.#heavy.acquire();
    const started = performance.now();
    entry.running = true;
    try {
      this.#options.bus.emit({ type: "JobStarted", job: ref, attempt, reason });
      const result = await job.run(this.#options.ctx);
      const seconds = (performance.now() - started) / 1000;
      if (result.ok) {
        this.#options.bus.emit({
          type: "JobFinished",
          job: ref,
          attempt,
          seconds,
          ...(result.bytes !== undefined ? { bytes: result.bytes } : {}),
          ...(result.snapshot !== undefined ? { snapshot: result.snapshot } : {}),
        });
      }
      return { ...result, seconds };
    } finally {
      entry.running = false;
      if (job.heavy) this.#heavy.release();
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. Never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

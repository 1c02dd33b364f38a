import * as z from "zod";
import { argvSchema, checkedString, cronSchema, envVarNameSchema, httpUrlProblem } from "./fields.js";

/** A schedule that can be switched off with the word "off". */
const optionalCron = z.union([z.literal("off"), cronSchema]);

/** Why `zone` is not an IANA time zone, or undefined. */
function timeZoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(zone)}: use an IANA name such as "Europe/Berlin" or "UTC"`;
  }
}

/** Why `value` is not `HOST:PORT`, or undefined. */
function listenProblem(value: string): string | undefined {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  if (!m || m[1] === "" || Number(m[2]) > 65535)
    return `must be HOST:PORT, e.g. 127.0.0.1:9377, got ${JSON.stringify(value)}`;
  return undefined;
}

/** A JSON webhook (Slack-compatible: the body has a `text` field). Give `url` or `urlEnv`. */
export const webhookSchema = z
  .strictObject({
    /** The URL to POST to. Slack and similar URLs embed a secret: prefer `urlEnv`. */
    url: checkedString(httpUrlProblem).optional(),
    /** Environment variable holding the URL. */
    urlEnv: envVarNameSchema.optional(),
  })
  .refine((w) => (w.url === undefined) !== (w.urlEnv === undefined), {
    error: "set exactly one of url or urlEnv",
  });

/** Where alerts go. Failure, recovery and staleness alerts are de-duplicated per job. */
export const notificationsSchema = z.strictObject({
  /** JSON webhooks. Default: none. */
  webhooks: z.array(webhookSchema).default([]),
  /**
   * Healthchecks-style ping URL, `{job}` replaced by the job name (a target, `verify`, `drill`,
   * `prune`): pinged at `URL/start`, `URL` on success and `URL/fail` on failure, at every run.
   * Default: none.
   */
  pingUrl: checkedString(httpUrlProblem).optional(),
  /**
   * Command run for each alert, the event as JSON on stdin and in PRS_BACKUP_EVENT,
   * PRS_BACKUP_JOB, PRS_BACKUP_TARGET, PRS_BACKUP_MESSAGE. Default: none.
   */
  command: argvSchema.optional(),
  /** Alert again about a job that is still failing or stale after this many hours; 0: never. Default: 24. */
  repeatHours: z.number().min(0).default(24),
});

/** Retries of a failed job; only errors marked retryable are retried. */
export const retrySchema = z.strictObject({
  /** Attempts in all, the first included. Default: 3. */
  attempts: z.int().min(1).default(3),
  /** Wait before the first retry. Default: 60. */
  initialDelaySeconds: z.number().min(0).default(60),
  /** Each wait is this factor times the previous one. Default: 2. */
  factor: z.number().min(1).default(2),
  /** Longest wait between attempts. Default: 1800. */
  maxDelaySeconds: z.number().min(0).default(1800),
});

/** The `daemon` section: schedules beyond the targets' own, HTTP, alerts and limits. */
export const daemonSchema = z.strictObject({
  /** Time zone of every schedule (IANA name). Default: the system's. */
  timeZone: checkedString(timeZoneProblem).optional(),
  /** HOST:PORT of /metrics, /healthz and the status page (`--listen` overrides). Default: "127.0.0.1:9377". */
  listen: checkedString(listenProblem).default("127.0.0.1:9377"),
  /** Integrity verify of every snapshot (new and changed chunks read back), or "off". Default: "0 7 * * *" (daily 07:00). */
  verifySchedule: optionalCron.default("0 7 * * *"),
  /** Restore drill of each target's newest snapshot (`verify --deep`), or "off". Default: "0 8 1 * *" (monthly). */
  drillSchedule: optionalCron.default("0 8 1 * *"),
  /** Retention and garbage collection (`prune`), or "off". Default: "30 6 * * *" (daily, after the backups). */
  pruneSchedule: optionalCron.default("30 6 * * *"),
  /** Heavy jobs (backup, drill, prune) running at once, over all targets. Default: 1. */
  heavyJobLimit: z.int().min(1).default(1),
  /** Retries of retryable failures. */
  retry: retrySchema.prefault({}),
  /** At start-up, run each job whose last success is older than its period. Default: true. */
  catchUp: z.boolean().default(true),
  /** On SIGTERM/SIGINT, how long running jobs may take to finish before the daemon exits anyway. Default: 600. */
  gracePeriodSeconds: z.number().min(0).default(600),
  /** How often staleness is checked (alerts) and the status refreshed. Default: 60. */
  checkIntervalSeconds: z.number().positive().default(60),
  /** Alerts. */
  notifications: notificationsSchema.prefault({}),
});

export type DaemonConfig = z.output<typeof daemonSchema>;

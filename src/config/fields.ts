import { Cron } from "croner";
import * as z from "zod";
import { redactUrl } from "./redact.js";

/** A string that must not be empty (paths, names, argv words). */
export const nonEmptyString = z.string().min(1);

/**
 * A file-system path. Relative paths are resolved against the config file's directory later;
 * `~` is refused because nothing would expand it and `~/x` would quietly become `<dir>/~/x`.
 */
export const pathSchema = nonEmptyString.refine((value) => !value.startsWith("~"), {
  error: "~ is not expanded here; write the full path",
});

/** An argument vector: program first, then its arguments. Never a shell string. */
export const argvSchema = z.array(nonEmptyString).min(1);

/** The name of an environment variable holding a secret (not the secret itself). */
export const envVarNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be an environment variable name (letters, digits, _)" });

/**
 * Why `pattern` is not a usable schedule, or undefined when it is. Croner alone would also
 * accept nicknames such as `@daily` and 7-field patterns; the documented contract is five
 * fields, or six with seconds first, so anything else is refused before croner sees it.
 */
export function cronProblem(pattern: string): string | undefined {
  const quoted = JSON.stringify(pattern);
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `invalid cron expression ${quoted}: expected 5 fields (minute hour day month weekday), or 6 with seconds first`;
  }
  let job: Cron;
  try {
    job = new Cron(pattern, { paused: true });
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^CronPattern:\s*/, "") : String(err);
    return `invalid cron expression ${quoted}: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`;
  }
  try {
    // "0 2 31 2 *" parses but never fires; a target that silently never runs is worse than an error.
    if (job.nextRun() === null) return `invalid cron expression ${quoted}: it never matches a date`;
  } finally {
    job.stop();
  }
  return undefined;
}

/** Why `value` is not a Redis URL, or undefined. Echoes the value with any password redacted. */
export function redisUrlProblem(value: string): string | undefined {
  const shown = JSON.stringify(redactUrl(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be a redis:// or rediss:// URL, got ${shown}`;
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    return `must be a redis:// or rediss:// URL, got ${shown}`;
  }
  if (url.hostname === "") return `has no host: ${shown}`;
  return undefined;
}

/** Why `value` is not an http(s) endpoint URL, or undefined. */
export function httpUrlProblem(value: string): string | undefined {
  const shown = JSON.stringify(redactUrl(value));
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return undefined;
  } catch {
    // fall through: reported below
  }
  return `must be an http:// or https:// URL, got ${shown}`;
}

/** Wraps a `(value) => problem | undefined` check as a zod string schema. */
export function checkedString(check: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });
}

/** A cron expression checked by {@link cronProblem}. */
export const cronSchema = checkedString(cronProblem);

import type * as z from "zod";
import { redactUrl } from "./redact.js";

/** One configuration problem: where (a path into the config) and what. */
export interface Problem {
  path: readonly PropertyKey[];
  message: string;
}

// Keys people write by habit that would put a secret in the file, and what to write instead.
const INLINE_SECRETS: Readonly<Record<string, string>> = {
  password: "inline passwords are not allowed; use passwordEnv or passwordFile",
  accessKeyId: "inline credentials are not allowed; use accessKeyIdEnv",
  secretAccessKey: "inline credentials are not allowed; use secretAccessKeyEnv",
};

/** `["targets", "uploads", "paths", 0]` → `targets.uploads.paths[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** `<file>: <field.path>: <message>`, or `<file>: <message>` for the document as a whole. */
export function formatProblem(file: string, problem: Problem): string {
  const where = formatPath(problem.path);
  return where === "" ? `${file}: ${problem.message}` : `${file}: ${where}: ${problem.message}`;
}

/** Turns zod issues into problems; an issue about several unknown keys becomes one problem per key. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    if (issue.code !== "unrecognized_keys") return [{ path: issue.path, message: issue.message }];
    return issue.keys.map((key) => ({
      path: [...issue.path, key],
      message: INLINE_SECRETS[key] ?? "unknown key",
    }));
  });
}

/**
 * Messages for zod's built-in checks, worded for someone editing a YAML file (a "mapping",
 * not an "object"). Returning undefined keeps zod's own text; messages set on a schema win.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "required";
      if (issue.expected === "int") return `must be a whole number, got ${describe(issue.input)}`;
      return `expected ${KIND[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case "too_small":
      if (issue.origin === "string") return "must not be empty";
      if (issue.origin === "array") return `must list at least ${Number(issue.minimum)} item(s)`;
      return issue.inclusive === false
        ? `must be greater than ${Number(issue.minimum)}, got ${describe(issue.input)}`
        : `must be at least ${Number(issue.minimum)}, got ${describe(issue.input)}`;
    case "too_big":
      return `must be at most ${Number(issue.maximum)}, got ${describe(issue.input)}`;
    case "invalid_value":
      return `must be one of ${quoteAll(issue.values)}, got ${describe(issue.input)}`;
    case "invalid_union": {
      const listed: unknown = "options" in issue ? issue.options : undefined;
      if (issue.discriminator === undefined || !Array.isArray(listed)) return undefined;
      const options = quoteAll(listed);
      const value = (issue.input as Record<string, unknown> | undefined)?.[issue.discriminator];
      return value === undefined
        ? `required; one of ${options}`
        : `must be one of ${options}, got ${describe(value)}`;
    }
    case "invalid_key":
      return issue.issues[0]?.message;
    default:
      return undefined;
  }
};

const KIND: Readonly<Record<string, string>> = {
  object: "a mapping",
  record: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  boolean: "true or false",
};

/** A short description of a value for messages; long strings are cut so one problem stays one line. */
function describe(value: unknown): string {
  if (value === null) return "nothing (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    const shown = redactUrl(value);
    return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown);
  }
  return JSON.stringify(value) ?? typeof value;
}

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

/** What a redacted secret is printed as. */
export const REDACTED = "***";

// Names of keys whose string values are secrets themselves. The schema rejects such keys,
// but redaction must not depend on validation having run (it may print a half-valid object).
const SECRET_KEY = /(password|secret|token)$/i;

/**
 * Replaces the password inside a URL's user-info with `***`, leaving every other character
 * as written (`redis://:pw@host:6379/0` → `redis://:***@host:6379/0`). Strings that are not
 * URLs, or carry no password, come back unchanged.
 *
 * The URL is not parsed and re-serialised, because that would normalise it and an operator
 * comparing the output with their file would see differences that are not there.
 */
export function redactUrl(value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value);
  if (!scheme) return value;
  const start = scheme[0].length;
  const authorityEnd = value.slice(start).search(/[/?#]/);
  const authority = value.slice(start, authorityEnd === -1 ? undefined : start + authorityEnd);
  // The last "@" ends the user-info: an unencoded "@" inside a password must stay hidden too.
  const at = authority.lastIndexOf("@");
  const colon = authority.indexOf(":");
  if (at === -1 || colon === -1 || colon > at || colon === at - 1) return value;
  return value.slice(0, start + colon + 1) + REDACTED + value.slice(start + at);
}

/**
 * Returns a plain, deep copy of a configuration (or any part of one) that is safe to print,
 * log or put in `--json`: passwords inside URLs become `***`. References to secrets
 * (`passwordEnv`, `passwordFile`, `secretAccessKeyEnv`) are kept: they are names, not secrets,
 * and an operator checking the config needs to see them.
 */
export function redactConfig(config: unknown): unknown {
  return redactValue(config, undefined);
}

// Notification URLs (webhooks, pings) carry their secret in the path or query.
const SECRET_URL_KEY = /^(url|pingUrl)$/;

/** Keeps scheme and host of a URL whose path is a secret: `https://hooks.slack.com/***`. */
export function redactUrlPath(value: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(.*)$/i.exec(value);
  if (!m || m[2] === "" || m[2] === "/") return redactUrl(value);
  return `${redactUrl(m[1]!)}/${REDACTED}`;
}

function redactValue(value: unknown, key: string | undefined): unknown {
  if (typeof value === "string") {
    if (key !== undefined && SECRET_KEY.test(key)) return REDACTED;
    if (key !== undefined && SECRET_URL_KEY.test(key) && !/^rediss?:/i.test(value))
      return redactUrlPath(value);
    return redactUrl(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, undefined));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactValue(v, k)]));
  }
  return value;
}

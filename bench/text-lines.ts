import type { Prng } from "./prng.js";

/** The kinds of compressible text file in the dataset. */
export type TextKind = "log" | "csv" | "json";

const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"] as const;
const COMPONENTS = ["api", "worker", "scheduler", "auth", "db", "cache", "mailer"] as const;
const METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"] as const;
const RESOURCES = [
  "requisitions",
  "purchase-orders",
  "suppliers",
  "users",
  "attachments",
  "canvass",
] as const;
const STATUSES = [200, 200, 200, 201, 204, 304, 400, 404, 500] as const;
const STATES = ["draft", "submitted", "approved", "rejected", "delivered", "paid"] as const;
const BASE_TIME_MS = Date.UTC(2024, 0, 1);

function logLine(rng: Prng, time: string): string {
  const id = rng.int(1, 99999);
  return (
    `${time} ${rng.pick(LEVELS)} [${rng.pick(COMPONENTS)}-${rng.int(1, 8)}] request completed ` +
    `method=${rng.pick(METHODS)} path=/api/v1/${rng.pick(RESOURCES)}/${id} status=${rng.pick(STATUSES)} ` +
    `duration_ms=${rng.int(1, 900)} user=u${rng.int(1, 500)}\n`
  );
}

function csvLine(rng: Prng, time: string): string {
  const amount = (rng.int(100, 9_999_999) / 100).toFixed(2);
  return `${rng.int(1, 9_999_999)},${time},u${rng.int(1, 500)},${rng.pick(RESOURCES)},${amount},PHP,${rng.pick(STATES)}\n`;
}

function jsonLine(rng: Prng, time: string): string {
  return (
    `{"id":${rng.int(1, 9_999_999)},"ts":"${time}","type":"${rng.pick(RESOURCES)}",` +
    `"state":"${rng.pick(STATES)}","userId":${rng.int(1, 500)},"items":${rng.int(1, 40)},` +
    `"total":${rng.int(100, 9_999_999)},"tags":["${rng.pick(COMPONENTS)}","${rng.pick(LEVELS)}"]}\n`
  );
}

const LINE_MAKERS: Record<TextKind, (rng: Prng, time: string) => string> = {
  log: logLine,
  csv: csvLine,
  json: jsonLine,
};

/**
 * Exactly `length` bytes of log-like, CSV or NDJSON lines (ASCII), as found in the PRS logs and
 * exports: repetitive field names and values, so zstd compresses them several times over.
 */
export function textBytes(rng: Prng, kind: TextKind, length: number): Buffer {
  const makeLine = LINE_MAKERS[kind];
  const lines: string[] = kind === "csv" ? ["id,created_at,user,resource,amount,currency,state\n"] : [];
  let size = lines[0]?.length ?? 0;
  let timeMs = BASE_TIME_MS + rng.int(0, 300 * 86_400) * 1000;
  while (size < length) {
    timeMs += rng.int(0, 5000);
    const line = makeLine(rng, new Date(timeMs).toISOString());
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(""), "latin1").subarray(0, length);
}

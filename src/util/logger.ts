/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** The logging surface every module takes; tests pass a recording logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Where log lines go: human-readable text (a terminal, stderr) or JSON lines (a log file). */
export interface LogSink {
  json: boolean;
  write: (line: string) => void;
}

export interface LoggerOptions {
  /** Least severe level written; a function when it may change later (once the config is read). Default: info. */
  level?: LogLevel | (() => LogLevel);
  /** Destinations; the array may grow later (a log file named in the config). Default: text on stderr. */
  sinks?: LogSink[];
  clock?: () => Date;
}

function textLine(time: string, level: LogLevel, message: string, fields: LogFields): string {
  const extras = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time.slice(11, 19)} ${level.padEnd(5)} ${message}${extras ? ` ${extras}` : ""}\n`;
}

/** A logger writing each event to every sink, as text (`HH:MM:SS warn  message key=value`) or JSON lines. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const minLevel = (): number => ORDER[typeof level === "function" ? level() : level];
  const sinks = options.sinks ?? [{ json: false, write: (line: string) => process.stderr.write(line) }];
  const clock = options.clock ?? (() => new Date());
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (ORDER[level] < minLevel()) return;
    const time = clock().toISOString();
    for (const sink of sinks) {
      sink.write(
        sink.json
          ? `${JSON.stringify({ time, level, msg: message, ...fields })}\n`
          : textLine(time, level, message, fields),
      );
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

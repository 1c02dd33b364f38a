import { formatBytes } from "./format.js";
import type { Logger } from "./logger.js";

/** Counts work done; renders a live line on a terminal, a log line now and then otherwise. */
export interface Progress {
  add(bytes: number, items?: number): void;
  done(): void;
}

export interface ProgressOptions {
  label: string;
  logger: Logger;
  /** A terminal stream to redraw on; without one, progress goes to the log. */
  tty?: NodeJS.WriteStream;
  /** How often to log when not on a terminal (default 10 s). */
  logEveryMs?: number;
  now?: () => number;
}

/** Creates a progress reporter: `\r`-redrawn line on a TTY, plain log lines otherwise. */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  const interval = options.tty ? 200 : (options.logEveryMs ?? 10_000);
  let last = started;
  let bytes = 0;
  let items = 0;
  let drawn = false;
  const line = (): string => {
    const secs = Math.max(0.001, (now() - started) / 1000);
    return `${options.label}: ${items} items, ${formatBytes(bytes)} (${formatBytes(bytes / secs)}/s)`;
  };
  return {
    add(b, n = 0) {
      bytes += b;
      items += n;
      const t = now();
      if (t - last < interval) return;
      last = t;
      if (options.tty) {
        options.tty.write(`\r\x1b[2K${line()}`);
        drawn = true;
      } else {
        options.logger.info(line());
      }
    },
    done() {
      if (drawn && options.tty) options.tty.write("\r\x1b[2K");
    },
  };
}

/** A progress reporter that shows nothing. */
export const noProgress: Progress = { add() {}, done() {} };

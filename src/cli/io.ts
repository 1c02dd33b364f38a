import { appendFileSync } from "node:fs";
import type { Config } from "../config/index.js";
import { loadConfig } from "../config/index.js";
import type { OpContext } from "../ops/context.js";
import { createLogger, type LogLevel, type LogSink, type Logger } from "../util/logger.js";

/** The process surroundings of one CLI run; tests substitute their own. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The terminal to draw progress on (stderr when it is a TTY). */
  tty?: NodeJS.WriteStream;
}

/** Global options, accepted before or after the command. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  debug?: boolean;
}

/** Everything a command needs: output, logger, and the loaded configuration. */
export interface CommandRuntime {
  io: CliIO;
  options: GlobalOptions;
  logger: Logger;
  /** Prints text on stdout. */
  print(text: string): void;
  /** Prints one JSON document on stdout (--json). */
  printJson(value: unknown): void;
  /** Loads the config; from then on log lines also go to `log.file` when it is set. */
  loadConfig(): Promise<{ file: string; config: Config }>;
  opContext(config: Config): OpContext;
}

export function createRuntime(io: CliIO, options: GlobalOptions): CommandRuntime {
  const sinks: LogSink[] = [{ json: false, write: io.stderr }];
  let level: LogLevel = options.debug ? "debug" : "info";
  const logger = createLogger({ level: () => level, sinks });
  return {
    io,
    options,
    logger,
    print: (text) => io.stdout(text.endsWith("\n") ? text : `${text}\n`),
    printJson: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    loadConfig: async () => {
      const loaded = await loadConfig({ configPath: options.config, env: io.env, cwd: io.cwd });
      if (!options.debug) level = loaded.config.log?.level ?? "info";
      const file = loaded.config.log?.file;
      if (file && !sinks.some((s) => s.json)) sinks.push(fileSink(file, io.stderr));
      return loaded;
    },
    opContext: (config) => ({ config, logger, env: io.env, tty: io.tty }),
  };
}

/** JSON lines appended synchronously, so a crash or kill -9 keeps the lines that explain it. */
function fileSink(file: string, stderr: (text: string) => void): LogSink {
  let broken = false;
  return {
    json: true,
    write: (line) => {
      if (broken) return;
      try {
        appendFileSync(file, line, { mode: 0o600 });
      } catch (err) {
        broken = true;
        stderr(`warning: cannot write log file ${file}: ${(err as Error).message}; logging to stderr only\n`);
      }
    },
  };
}

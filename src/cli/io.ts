import type { Config } from "../config/index.js";
import { loadConfig } from "../config/index.js";
import { createLogger, type Logger } from "../util/logger.js";
import type { OpContext } from "../ops/context.js";

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
  /** Prints a JSON document (with --json) or the text lines. */
  print(text: string): void;
  printJson(value: unknown): void;
  loadConfig(): Promise<{ file: string; config: Config }>;
  opContext(config: Config): OpContext;
}

export function createRuntime(io: CliIO, options: GlobalOptions): CommandRuntime {
  const logger = createLogger({ level: options.debug ? "debug" : "info", write: io.stderr });
  return {
    io,
    options,
    logger,
    print: (text) => io.stdout(text.endsWith("\n") ? text : `${text}\n`),
    printJson: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    loadConfig: () => loadConfig({ configPath: options.config, env: io.env, cwd: io.cwd }),
    opContext: (config) => ({ config, logger, env: io.env, tty: io.tty }),
  };
}

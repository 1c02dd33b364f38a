import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { ConfigProblemsError } from "./config-error.js";
import { fsReason } from "./fs-reason.js";
import { configErrorMap, formatProblem, issuesToProblems, type Problem } from "./issues.js";
import { deepFreeze } from "./deep-freeze.js";
import { normalizeConfig } from "./normalize.js";
import { checkRules } from "./rules.js";
import { parseText } from "./parse-text.js";
import { configSchema, type Config } from "./schema.js";

/** The config file's name in the working directory. */
export const CONFIG_FILE_NAME = "prs-backup.yaml";
/** The system-wide config file, looked at last. */
export const SYSTEM_CONFIG_PATH = "/etc/prs-backup/prs-backup.yaml";

export interface FindConfigOptions {
  /** `--config`; relative to `cwd`. */
  configPath?: string | undefined;
  /** Read for `PRS_BACKUP_CONFIG` (relative to `cwd`). */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Replaces {@link SYSTEM_CONFIG_PATH}, so tests never read the real /etc. */
  systemConfigPath?: string | undefined;
}

/**
 * Finds the config file: `--config`, then `$PRS_BACKUP_CONFIG`, then `<cwd>/prs-backup.yaml`,
 * then `/etc/prs-backup/prs-backup.yaml`. A file named explicitly must exist: falling back
 * to another config would back up the wrong things without anyone noticing.
 * @returns the absolute path of the file.
 * @throws ConfigError when the named file is missing, or no candidate exists.
 */
export async function findConfigFile(options: FindConfigOptions): Promise<string> {
  const { configPath, env, cwd } = options;
  const fromEnv = env["PRS_BACKUP_CONFIG"] === "" ? undefined : env["PRS_BACKUP_CONFIG"];
  const explicit = configPath ?? fromEnv;
  if (explicit !== undefined) {
    const file = path.resolve(cwd, explicit);
    const kind = await fileKind(file);
    const source = configPath !== undefined ? "--config" : "PRS_BACKUP_CONFIG";
    if (kind === "file") return file;
    if (kind === "directory") throw new ConfigError(`config file ${file} (from ${source}) is a directory`);
    throw new ConfigError(`config file ${file} not found (from ${source})`);
  }
  const candidates = [path.join(cwd, CONFIG_FILE_NAME), options.systemConfigPath ?? SYSTEM_CONFIG_PATH];
  for (const candidate of candidates) {
    if ((await fileKind(candidate)) === "file") return candidate;
  }
  throw new ConfigError(
    `no config file found (looked for ${candidates.join(" and ")}); pass --config FILE or set PRS_BACKUP_CONFIG`,
  );
}

/**
 * Parses and validates config text: YAML (so JSON too), or strict JSON when `file` ends in
 * `.json`. Relative paths are resolved against the file's directory (`file` itself relative
 * to the process's cwd). Every problem names the file and field.
 * @returns the normalised, deeply frozen configuration. Secrets are not resolved here.
 * @throws ConfigError for a syntax error; ConfigProblemsError listing every schema or rule problem.
 */
export function parseConfig(text: string, options: { file: string }): Config {
  const { file } = options;
  const data = parseText(text, file);
  if (data === null || data === undefined) {
    throw new ConfigError(`${file}: the file is empty; it needs at least repository and targets`);
  }
  const parsed = configSchema.safeParse(data, { error: configErrorMap });
  if (!parsed.success) throw problemsError(file, issuesToProblems(parsed.error.issues));
  const draft = normalizeConfig(parsed.data, path.dirname(path.resolve(file)));
  const problems = checkRules(draft);
  if (problems.length > 0) throw problemsError(file, problems);
  return deepFreeze(draft);
}

export interface LoadConfigOptions {
  /** `--config`; relative to `cwd`. */
  configPath?: string | undefined;
  /** Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Default: `process.cwd()`. */
  cwd?: string;
  /** Replaces {@link SYSTEM_CONFIG_PATH} (for tests). */
  systemConfigPath?: string | undefined;
}

/** Finds ({@link findConfigFile}), reads and parses ({@link parseConfig}) the configuration. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<{ file: string; config: Config }> {
  const file = await findConfigFile({
    ...options,
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
  });
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${fsReason(err)}`, { cause: err });
  }
  return { file, config: parseConfig(text, { file }) };
}

function problemsError(file: string, problems: Problem[]): ConfigProblemsError {
  return new ConfigProblemsError(problems.map((problem) => formatProblem(file, problem)));
}

async function fileKind(file: string): Promise<"file" | "directory" | "missing"> {
  try {
    return (await stat(file)).isDirectory() ? "directory" : "file";
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return "missing";
    throw new ConfigError(`cannot access config file ${file}: ${fsReason(err)}`, { cause: err });
  }
}

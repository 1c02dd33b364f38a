import { readFile, stat } from "node:fs/promises";
import { ConfigError } from "../errors.js";
import { fsReason } from "./fs-reason.js";

/** Where a password comes from: the name of an environment variable, or a file. */
export interface SecretRef {
  readonly passwordEnv?: string | undefined;
  readonly passwordFile?: string | undefined;
}

/**
 * Reads a password from where `ref` points. Called by each engine when it needs the secret,
 * so secrets never sit in the config object (which is printed, logged and passed around).
 * A passwordFile's single trailing newline (what `echo pw > file` leaves) is not part of it.
 * @param fieldPath - where `ref` lives in the config, for messages (`targets.database.connection`).
 * @returns the password, or undefined when `ref` names no source (password-less auth).
 * @throws ConfigError when the variable is unset or empty, or the file is unreadable or empty.
 */
export async function resolveSecret(
  ref: SecretRef,
  fieldPath: string,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (ref.passwordEnv !== undefined && ref.passwordFile !== undefined) {
    throw new ConfigError(`${fieldPath}: set only one of passwordEnv or passwordFile`);
  }
  if (ref.passwordEnv !== undefined) {
    const value = env[ref.passwordEnv];
    if (value === undefined || value === "") {
      throw new ConfigError(`${fieldPath}.passwordEnv: environment variable ${ref.passwordEnv} is not set`);
    }
    return value;
  }
  if (ref.passwordFile === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(ref.passwordFile, "utf8");
  } catch (err) {
    throw new ConfigError(`${fieldPath}.passwordFile: cannot read ${ref.passwordFile}: ${fsReason(err)}`, {
      cause: err,
    });
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "") throw new ConfigError(`${fieldPath}.passwordFile: ${ref.passwordFile} is empty`);
  return secret;
}

/**
 * A warning when a password file can be read (or written) by anyone but its owner, which
 * `doctor` and `config check` show; not an error, because the file's owner decides.
 * @returns the warning text, or undefined when the mode is private or the file cannot be inspected
 *   (reading it reports that problem more usefully).
 */
export async function checkSecretFilePermissions(file: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  const octal = mode.toString(8).padStart(4, "0");
  return `password file ${file} is accessible by group or others (mode ${octal}); run chmod 600 ${file}`;
}

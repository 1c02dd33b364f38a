/**
 * The closed error model. Every failure a user can meet is a PrsBackupError with a
 * stable `code`, the process exit code it maps to, and whether a retry may help.
 * The CLI prints `error: <message>` and exits with `exitCode`; the scheduler decides
 * retries from `retryable`, never from message text.
 */

/** Exit codes of the command-line contract (DESIGN.md). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  verifyProblem: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class PrsBackupError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly retryable: boolean;

  constructor(code: string, message: string, exitCode: ExitCode, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad command-line usage: unknown command, missing argument, bad flag value. */
export class UsageError extends PrsBackupError {
  constructor(message: string, options?: ErrorOptions) {
    super("E_USAGE", message, ExitCode.usage, options);
  }
}

/** The configuration file is missing, unreadable or invalid. Always names the field or file. */
export class ConfigError extends PrsBackupError {
  constructor(message: string, options?: ErrorOptions) {
    super("E_CONFIG_INVALID", message, ExitCode.usage, options);
  }
}

/** The user asked for something that cannot be done as asked (non-empty restore dir, unknown snapshot). */
export class UserError extends PrsBackupError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, ExitCode.failed, options);
  }
}

/** The repository is damaged: a chunk is missing or does not match its hash, a manifest is unreadable. */
export class RepoCorruptError extends PrsBackupError {
  constructor(message: string, options?: ErrorOptions) {
    super("E_REPO_CORRUPT", message, ExitCode.failed, options);
  }
}

/** Another process holds a conflicting repository lock. Retrying later may succeed. */
export class LockedError extends PrsBackupError {
  constructor(message: string, options?: ErrorOptions) {
    super("E_REPO_LOCKED", message, ExitCode.failed, { retryable: true, ...options });
  }
}

/** An operation failed at run time (I/O error, vanished source, failed external tool). */
export class OperationError extends PrsBackupError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, ExitCode.failed, options);
  }
}

/** Verification found damage or a failed drill. */
export class VerifyProblemError extends PrsBackupError {
  constructor(message: string, options?: ErrorOptions) {
    super("E_VERIFY_PROBLEM", message, ExitCode.verifyProblem, options);
  }
}

/** A capability that exists in the config schema but whose engine is not built yet. */
export class NotSupportedError extends PrsBackupError {
  constructor(message: string) {
    super("E_NOT_SUPPORTED", message, ExitCode.failed);
  }
}

/** Anything thrown, as an Error (a thrown string or object is wrapped). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Turns any thrown value into a PrsBackupError, mapping well-known Node errors to readable messages. */
export function toPrsBackupError(err: unknown): PrsBackupError {
  if (err instanceof PrsBackupError) return err;
  const e = err as NodeJS.ErrnoException;
  const where = e?.path ? `${e.path}: ` : "";
  switch (e?.code) {
    case "ENOSPC":
      return new OperationError("E_DISK_FULL", `${where}no space left on device`, { cause: err });
    case "EACCES":
    case "EPERM":
      return new OperationError("E_PERMISSION", `${where}permission denied`, { cause: err });
    case "ENOENT":
      return new OperationError("E_NOT_FOUND", `${where}no such file or directory`, { cause: err });
    case "EROFS":
      return new OperationError("E_READ_ONLY", `${where}read-only file system`, { cause: err });
    case "EIO":
      return new OperationError("E_IO", `${where}input/output error`, { cause: err, retryable: true });
    default:
      return new PrsBackupError(
        "E_INTERNAL",
        err instanceof Error ? err.message : String(err),
        ExitCode.failed,
        { cause: err },
      );
  }
}

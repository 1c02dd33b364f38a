import { WalArchive, WalArchiveError } from "./wal-archive.js";

/** Exit status that makes PostgreSQL abort recovery instead of taking a failure for the end of the archive. */
export const FETCH_FATAL_EXIT = 126;
const FETCH_ATTEMPTS = 3;
const FETCH_RETRY_MS = 1000;

/** The outcome of a `wal push` or `wal fetch`: the exit status and a line for stderr (none on success). */
export interface WalCommandResult {
  exitCode: number;
  message?: string;
}

/**
 * `wal push`: exit 0 once the file is durable in the archive (or identical content was
 * already there); 1 otherwise — never above 125, which would stop PostgreSQL's archiver.
 * Refusals (different content, another system) say REFUSED loudly.
 */
export async function walPush(
  archive: WalArchive,
  file: string,
  options: { allowSystemChange?: boolean } = {},
): Promise<WalCommandResult> {
  try {
    await archive.push(file, options);
    return { exitCode: 0 };
  } catch (err) {
    const loud =
      err instanceof WalArchiveError && (err.kind === "conflict" || err.kind === "system-mismatch")
        ? "REFUSED: "
        : "";
    return { exitCode: 1, message: `wal push: ${loud}${(err as Error).message}` };
  }
}

/**
 * `wal fetch`: exit 0 only with the complete, verified file at `dest`; 1 only when the
 * archive does not have it; anything else is retried, then exit 126 so PostgreSQL stops
 * recovery instead of taking the failure for the end of the archive.
 */
export async function walFetch(
  archive: WalArchive,
  name: string,
  dest: string,
  options: { onRetry?: (message: string) => void; retryMs?: number } = {},
): Promise<WalCommandResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      await archive.fetch(name, dest);
      return { exitCode: 0 };
    } catch (err) {
      if (err instanceof WalArchiveError && err.kind === "not-found")
        return { exitCode: 1, message: `wal fetch: ${err.message}` };
      const message = (err as Error).message;
      if ((err instanceof WalArchiveError && err.kind === "bad-name") || attempt >= FETCH_ATTEMPTS) {
        return {
          exitCode: FETCH_FATAL_EXIT,
          message: `wal fetch: ${message} (after ${attempt} attempt(s); exit ${FETCH_FATAL_EXIT} stops recovery instead of ending it early)`,
        };
      }
      options.onRetry?.(`wal fetch ${name}: ${message}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, (options.retryMs ?? FETCH_RETRY_MS) * attempt));
    }
  }
}

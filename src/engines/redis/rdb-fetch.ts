import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CommandFailedError, describeFailure, runCommand } from "../../util/subprocess.js";
import type { RedisEndpoint } from "./connection.js";
import { toolPath } from "./rdb-check.js";

/** A fetched RDB in a private temp folder; `remove` deletes both. */
export interface FetchedRdb {
  file: string;
  remove: () => Promise<void>;
}

/**
 * Fetches a fresh RDB over the replication protocol (`redis-cli --rdb`), for when the
 * server's data directory is not reachable from here (another host, a container without a
 * shared volume). The password goes in REDISCLI_AUTH, never in argv.
 */
export async function fetchRdb(options: {
  endpoint: RedisEndpoint;
  binDir?: string;
  tempDirectory?: string;
  signal?: AbortSignal;
}): Promise<FetchedRdb> {
  const { endpoint } = options;
  const dir = await fs.mkdtemp(path.join(options.tempDirectory ?? os.tmpdir(), "prs-backup-redis-"));
  await fs.chmod(dir, 0o700);
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  const file = path.join(dir, "dump.rdb");
  const argv = [
    toolPath(options.binDir, "redis-cli"),
    "-h",
    endpoint.host,
    "-p",
    String(endpoint.port),
    ...(endpoint.username !== undefined ? ["--user", endpoint.username] : []),
    ...(endpoint.tls ? ["--tls"] : []),
    "--rdb",
    file,
  ];
  try {
    const result = await runCommand(argv, {
      env: { REDISCLI_AUTH: endpoint.password },
      redact: endpoint.password !== undefined ? [endpoint.password] : [],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const ok = result.exitCode === 0 && /success/i.test(`${result.stdout}${result.stderrTail}`);
    if (!ok) {
      throw new CommandFailedError(
        "E_REDIS_FETCH_FAILED",
        `redis-cli --rdb could not fetch the RDB from Redis at ${endpoint.label} (${describeFailure(result)})`,
        result,
      );
    }
    return { file, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

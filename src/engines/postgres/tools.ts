import { OperationError, UserError } from "../../errors.js";
import { runChecked } from "../../util/subprocess.js";
import { commandArgv, toolOptions, type PgEndpoint } from "./connection.js";

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → 15; undefined when unrecognized. */
export function parseToolMajor(versionLine: string): { major: number; version: string } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionLine);
  if (!match) return undefined;
  return { major: Number(match[1]), version: match[2] ? `${match[1]}.${match[2]}` : match[1]! };
}

/** A server's major version from `server_version_num` (150020 → 15). */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/**
 * Runs `<tool> --version` (inside the container when the target has `exec`) and returns
 * its version; fails with a clear line when the tool is older than the server, since
 * pg_dump refuses (and pg_restore may misread) a newer server's catalog.
 */
export async function checkToolVersion(
  endpoint: PgEndpoint,
  tool: string,
  serverVersionNum: number,
  serverVersion: string,
): Promise<string> {
  const argv = commandArgv(endpoint, tool, ["--version"]);
  const result = await runChecked(argv, "E_PG_TOOL_FAILED", toolOptions(endpoint));
  const parsed = parseToolMajor(result.stdout);
  if (!parsed) {
    throw new OperationError(
      "E_PG_TOOL_VERSION",
      `cannot tell the version of ${tool} from "${result.stdout.trim()}"`,
    );
  }
  const needed = serverMajor(serverVersionNum);
  if (parsed.major < needed) {
    throw new UserError(
      "E_PG_TOOL_TOO_OLD",
      `${tool} ${parsed.version} is older than the server (PostgreSQL ${serverVersion}): install the PostgreSQL ${needed} client tools (or newer) and set ${endpoint.field.replace(/\.connection$/, "")}.binDir, or use exec to run the server's own tools`,
    );
  }
  return parsed.version;
}

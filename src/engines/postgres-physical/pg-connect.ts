import path from "node:path";
import pg from "pg";
import { resolveSecret } from "../../config/index.js";
import { OperationError } from "../../errors.js";
import type { PhysicalTarget } from "./target.js";

/** Connection parameters for `pg` and the environment for libpq tools (password never in argv). */
export async function connectionFor(
  target: PhysicalTarget,
  env: NodeJS.ProcessEnv,
): Promise<{ client: pg.ClientConfig; toolEnv: Record<string, string>; args: string[]; password?: string }> {
  const c = target.connection;
  const password = await resolveSecret(c, `targets.${target.name}.connection`, env);
  const toolEnv: Record<string, string> = {};
  if (password !== undefined) toolEnv["PGPASSWORD"] = password;
  if (c.sslmode !== undefined) toolEnv["PGSSLMODE"] = c.sslmode;
  return {
    client: {
      host: c.host,
      port: c.port,
      user: c.user,
      database: c.database,
      password,
      ...(c.sslmode === "require" ? { ssl: { rejectUnauthorized: false } } : {}),
    },
    toolEnv,
    args: ["-h", c.host, "-p", String(c.port), "-U", c.user],
    ...(password !== undefined ? { password } : {}),
  };
}

/** Runs one query against the target's server with a clear error naming the config field. */
export async function queryServer<R extends pg.QueryResultRow>(
  target: PhysicalTarget,
  env: NodeJS.ProcessEnv,
  sql: string,
): Promise<R[]> {
  const { client: config } = await connectionFor(target, env);
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    return (await client.query<R>(sql)).rows;
  } catch (err) {
    const c = target.connection;
    throw new OperationError(
      "E_PG_CONNECT",
      `cannot query PostgreSQL at ${c.host}:${c.port} as ${c.user}: ${(err as Error).message}; is targets.${target.name}.connection right?`,
      { cause: err, retryable: true },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A PostgreSQL program: from the target's binDir, else PATH. */
export function pgTool(target: PhysicalTarget, name: string): string {
  return target.binDir ? path.join(target.binDir, name) : name;
}

import path from "node:path";
import pg from "pg";
import { resolveSecret } from "../../config/index.js";
import { OperationError, UserError } from "../../errors.js";
import { withLargeStdioBuffer } from "../../util/stdio-buffer.js";
import type { RunOptions } from "../../util/subprocess.js";
import type { PostgresTarget } from "./target.js";

/** Where and as whom to connect: a target's connection, or a scratch cluster's. */
export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
  sslmode?: string;
  /** Argv prefix (a container) for the tools; see `toolArgv`. */
  exec?: readonly string[];
  binDir?: string;
  /** How the endpoint is named in messages, e.g. `targets.database.connection`. */
  field: string;
}

/** The target's endpoint with its password resolved (from passwordEnv or passwordFile). */
export async function endpointOf(target: PostgresTarget, env: NodeJS.ProcessEnv): Promise<PgEndpoint> {
  const c = target.connection;
  const field = `targets.${target.name}.connection`;
  const password = await resolveSecret(c, field, env);
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    ...(password !== undefined ? { password } : {}),
    ...(c.sslmode !== undefined ? { sslmode: c.sslmode } : {}),
    ...(target.exec ? { exec: target.exec } : {}),
    ...(target.binDir ? { binDir: target.binDir } : {}),
    field,
  };
}

/** The same server, another database. */
export function withDatabase(endpoint: PgEndpoint, database: string): PgEndpoint {
  return { ...endpoint, database };
}

/** The argv that runs a PostgreSQL client tool against the endpoint (see `commandArgv`). */
export function toolArgv(endpoint: PgEndpoint, tool: string, args: readonly string[]): string[] {
  const connArgs = ["-h", endpoint.host, "-p", String(endpoint.port), "-U", endpoint.user];
  return commandArgv(endpoint, tool, [...connArgs, ...args]);
}

/**
 * `toolArgv` for a tool whose `stream` carries a dump through us: run with a large stdio
 * buffer when it runs on this machine (see withLargeStdioBuffer).
 */
export function streamingToolArgv(
  endpoint: PgEndpoint,
  tool: string,
  args: readonly string[],
  stream: "stdin" | "stdout",
): string[] {
  const argv = toolArgv(endpoint, tool, args);
  return endpoint.exec?.length ? argv : withLargeStdioBuffer(argv, stream);
}

/**
 * The argv that runs `tool args…` from the endpoint's binDir, behind its `exec` prefix. With
 * `docker|podman exec`, `-e PGPASSWORD` (the name only: the value comes from our
 * environment) is inserted after `exec`, so the password never appears in any argv.
 */
export function commandArgv(endpoint: PgEndpoint, tool: string, args: readonly string[]): string[] {
  const program = endpoint.binDir ? path.join(endpoint.binDir, tool) : tool;
  const exec = endpoint.exec ?? [];
  if (exec.length === 0) return [program, ...args];
  const envNames = Object.keys(toolEnv(endpoint));
  const isContainerExec = /^(docker|podman)$/.test(path.basename(exec[0] ?? "")) && exec[1] === "exec";
  const prefix = isContainerExec
    ? [exec[0]!, exec[1]!, ...envNames.flatMap((n) => ["-e", n]), ...exec.slice(2)]
    : [...exec];
  return [...prefix, program, ...args];
}

/** The child's environment: the password and sslmode, never argv. */
export function toolEnv(endpoint: PgEndpoint): Record<string, string> {
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: "10" };
  if (endpoint.password !== undefined) env["PGPASSWORD"] = endpoint.password;
  if (endpoint.sslmode !== undefined) env["PGSSLMODE"] = endpoint.sslmode;
  return env;
}

/** Run options for a tool against the endpoint: its environment, and the password redacted. */
export function toolOptions(endpoint: PgEndpoint, extra: RunOptions = {}): RunOptions {
  return {
    ...extra,
    env: { ...extra.env, ...toolEnv(endpoint) },
    redact: endpoint.password !== undefined ? [endpoint.password] : [],
  };
}

/** A connected `pg` client; connection and authentication failures become one clear line. */
export async function connect(endpoint: PgEndpoint): Promise<pg.Client> {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    database: endpoint.database,
    password: endpoint.password,
    connectionTimeoutMillis: 10_000,
    ...(endpoint.sslmode && endpoint.sslmode !== "disable" && endpoint.sslmode !== "prefer"
      ? { ssl: { rejectUnauthorized: endpoint.sslmode === "verify-full" } }
      : {}),
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectError(endpoint, err);
  }
}

/** Runs `fn` with a client, always closing it. */
export async function withClient<T>(endpoint: PgEndpoint, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(endpoint);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quotes an identifier for SQL (database and role names). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function connectError(endpoint: PgEndpoint, err: unknown): Error {
  const e = err as { code?: string; message?: string };
  const where = `PostgreSQL at ${endpoint.host}:${endpoint.port} as ${endpoint.user}`;
  const message = (e.message ?? String(err)).split("\n")[0];
  if (e.code === "28P01" || e.code === "28000") {
    return new UserError(
      "E_PG_AUTH",
      `${where}: authentication failed (${message}); check the password in ${endpoint.field}.passwordEnv or passwordFile`,
      { cause: err },
    );
  }
  if (e.code === "3D000") {
    return new UserError(
      "E_PG_NO_DATABASE",
      `${where}: database "${endpoint.database}" does not exist; is ${endpoint.field}.database right?`,
      { cause: err },
    );
  }
  return new OperationError(
    "E_PG_CONNECT",
    `cannot connect to ${where}: ${message}; is ${endpoint.field} right and the server running?`,
    { cause: err, retryable: true },
  );
}

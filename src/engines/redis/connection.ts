import { isIP } from "node:net";
import { Redis } from "ioredis";
import { resolveSecret } from "../../config/index.js";
import { OperationError } from "../../errors.js";
import type { RedisTarget } from "./target.js";

/** How long connecting (TCP, TLS, AUTH, the ready check) may take. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long one command may go unanswered before the server counts as hung. */
const COMMAND_TIMEOUT_MS = 30_000;

/** Where and as whom to connect. The password is held here only, never logged or passed in argv. */
export interface RedisEndpoint {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  /** `host:port` for messages: never carries credentials. */
  label: string;
}

/**
 * The target's endpoint with its secret resolved: the password from passwordEnv /
 * passwordFile, else from the URL; the ACL user from `username`, else the URL's.
 */
export async function resolveEndpoint(target: RedisTarget, env: NodeJS.ProcessEnv): Promise<RedisEndpoint> {
  const url = new URL(target.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? 6379 : Number(url.port);
  const fromConfig = await resolveSecret(target, `targets.${target.name}`, env);
  const password = fromConfig ?? (url.password === "" ? undefined : decodeURIComponent(url.password));
  const username = target.username ?? (url.username === "" ? undefined : decodeURIComponent(url.username));
  return {
    host,
    port,
    tls: url.protocol === "rediss:",
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    label: `${host}:${port}`,
  };
}

/**
 * Connects and authenticates, failing with one clear line: unreachable, refused password,
 * password needed, or no answer in time. No reconnects: a backup is a short, single attempt.
 */
export async function connectRedis(endpoint: RedisEndpoint, targetName: string): Promise<Redis> {
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    // SNI takes host names only; the certificate is checked against `host` either way.
    ...(endpoint.tls ? { tls: isIP(endpoint.host) ? {} : { servername: endpoint.host } } : {}),
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: true,
  });
  // ioredis rejects connect() with a bare "Connection is closed." and emits the cause as an
  // event; keep the cause for the message (and keep ioredis from printing it).
  let cause: unknown;
  client.on("error", (err) => {
    cause ??= err;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
      CONNECT_TIMEOUT_MS + 1000,
    );
  });
  try {
    await Promise.race([client.connect(), timeout]);
    return client;
  } catch (err) {
    client.disconnect();
    const closed = err instanceof Error && /Connection is closed/i.test(err.message);
    throw redisError(closed && cause !== undefined ? cause : err, endpoint, targetName);
  } finally {
    clearTimeout(timer);
  }
}

/** A one-line, actionable message for a failed connection or command. */
export function redisError(err: unknown, endpoint: RedisEndpoint, targetName: string): OperationError {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const at = `Redis at ${endpoint.label}`;
  const where = `targets.${targetName}`;
  const user = endpoint.username ?? "default";
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return new OperationError(
      "E_REDIS_AUTH",
      `${at} refused the password for user "${user}": check ${where}.passwordEnv / passwordFile / username`,
      { cause: err },
    );
  }
  if (/NOAUTH|Authentication required/i.test(message)) {
    return new OperationError(
      "E_REDIS_AUTH",
      `${at} requires a password: set ${where}.passwordEnv or ${where}.passwordFile`,
      { cause: err },
    );
  }
  if (/NOPERM/i.test(message)) {
    return new OperationError(
      "E_REDIS_PERMISSION",
      `${at}: user "${user}" may not run a command the backup needs (${firstLine(message)}): grant it +info +bgsave +config|get +sync, or use another user`,
      { cause: err },
    );
  }
  if (e.code === "ETIMEDOUT" || /timed? ?out/i.test(message)) {
    return new OperationError(
      "E_REDIS_TIMEOUT",
      `${at} did not answer in time: is it overloaded or stopped, and is ${where}.url right?`,
      { cause: err, retryable: true },
    );
  }
  const reason = e.code ?? firstLine(message);
  return new OperationError(
    "E_REDIS_UNREACHABLE",
    `cannot connect to ${at} (${reason}): is Redis running and is ${where}.url right?`,
    { cause: err, retryable: true },
  );
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.slice(0, 200);
}

import pg from "pg";
import {
  resolveSecret,
  type PostgresPhysicalTargetConfig,
  type PostgresTargetConfig,
} from "../../config/index.js";
import { fail, pass, type Check } from "./check.js";
import { toolMajor } from "./tools.js";
import { directGrants, whyNotDirect } from "../../engines/postgres-physical/direct-eligibility.js";
import { postgresCommandWord } from "../../util/shell-quote.js";

type PgTarget = PostgresTargetConfig | PostgresPhysicalTargetConfig;

const CONNECT_TIMEOUT_MS = 5000;

/**
 * Connectivity (like pg_isready), credentials, the tools and their versions (a pg_dump older
 * than the server cannot dump it) and, for postgres-physical, the archiving settings with
 * the exact ALTER SYSTEM lines that fix them.
 */
export async function checkPostgresTarget(
  target: PgTarget,
  env: NodeJS.ProcessEnv,
  configFile: string,
): Promise<Check[]> {
  const c = target.connection;
  const field = `targets.${target.name}.connection`;
  let password: string | undefined;
  try {
    password = await resolveSecret(c, field, env);
  } catch (err) {
    return [
      fail(target.name, "credentials", (err as Error).message, [
        c.passwordEnv
          ? `export ${c.passwordEnv}=… in the service's environment`
          : `fix ${field}.passwordFile`,
      ]),
    ];
  }
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    password,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...(c.sslmode === "require" ? { ssl: { rejectUnauthorized: false } } : {}),
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return [connectFailure(target, err)];
  }
  try {
    const checks: Check[] = [];
    const server = await client.query<{ v: string; version: string }>(
      "SELECT current_setting('server_version_num') AS v, current_setting('server_version') AS version",
    );
    const serverMajor = Math.floor(Number(server.rows[0]!.v) / 10000);
    checks.push(
      pass(
        target.name,
        "connect",
        `connected to ${c.host}:${c.port}/${c.database} as ${c.user} (PostgreSQL ${server.rows[0]!.version})`,
      ),
    );
    const tools =
      target.type === "postgres" ? ["pg_dump", "pg_restore"] : ["pg_basebackup", "pg_verifybackup"];
    for (const tool of tools) checks.push(await checkTool(target, tool, serverMajor));
    if (target.type === "postgres-physical")
      checks.push(...(await checkArchiving(target, client, configFile)));
    return checks;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function connectFailure(target: PgTarget, err: unknown): Check {
  const c = target.connection;
  const e = err as { code?: string; message?: string };
  const where = `${c.host}:${c.port}`;
  switch (e.code) {
    case "28P01":
      return fail(target.name, "credentials", `PostgreSQL at ${where} refused the password of ${c.user}`, [
        `check the password in ${c.passwordEnv ? `$${c.passwordEnv}` : (c.passwordFile ?? "targets." + target.name + ".connection.passwordEnv")}`,
      ]);
    case "28000":
      return fail(
        target.name,
        "credentials",
        `PostgreSQL at ${where} does not let ${c.user} in: ${e.message ?? ""}`,
        [`add a pg_hba.conf line for ${c.user} from this host, then SELECT pg_reload_conf();`],
      );
    case "3D000":
      return fail(target.name, "connect", `database "${c.database}" does not exist on ${where}`, [
        `correct targets.${target.name}.connection.database`,
      ]);
    default:
      return fail(
        target.name,
        "connect",
        `cannot connect to PostgreSQL at ${where} as ${c.user}: ${e.code ?? e.message ?? String(err)}`,
        [
          `start PostgreSQL, or correct targets.${target.name}.connection.host/port; check with: pg_isready -h ${c.host} -p ${c.port}`,
        ],
      );
  }
}

async function checkTool(target: PgTarget, tool: string, serverMajor: number): Promise<Check> {
  const found = await toolMajor(tool, { binDir: target.binDir, exec: target.exec });
  const install = `apt-get install postgresql-client-${serverMajor} (then binDir: /usr/lib/postgresql/${serverMajor}/bin), or set targets.${target.name}.binDir`;
  if ("error" in found) return fail(target.name, tool, `${tool} not usable: ${found.error}`, [install]);
  if (found.major < serverMajor) {
    return fail(
      target.name,
      tool,
      `${tool} ${found.version} is older than the server (major ${serverMajor})`,
      [install],
    );
  }
  return pass(target.name, tool, `${tool} ${found.version} (server major ${serverMajor})`);
}

async function checkArchiving(
  target: PostgresPhysicalTargetConfig,
  client: pg.Client,
  configFile: string,
): Promise<Check[]> {
  const rows = (
    await client.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level','archive_mode','archive_command','archive_timeout','max_wal_senders')",
    )
  ).rows;
  const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  const role = (
    await client.query<{ rolreplication: boolean; rolsuper: boolean }>(
      "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
  ).rows[0];
  const name = target.name;
  const restart = "then restart PostgreSQL";
  const reload = "SELECT pg_reload_conf();";
  const command = ["prs-backup", "--config", configFile, "wal", "push", "--target", name]
    .map(postgresCommandWord)
    .concat("%p")
    .join(" ");
  const checks: Check[] = [];
  const wal = s["wal_level"] ?? "?";
  checks.push(
    wal === "replica" || wal === "logical"
      ? pass(name, "wal_level", `wal_level = ${wal}`)
      : fail(name, "wal_level", `wal_level = ${wal}; base backups and PITR need replica`, [
          "ALTER SYSTEM SET wal_level = 'replica';",
          restart,
        ]),
  );
  const mode = s["archive_mode"] ?? "?";
  checks.push(
    mode === "on" || mode === "always"
      ? pass(name, "archive_mode", `archive_mode = ${mode}`)
      : fail(name, "archive_mode", `archive_mode = ${mode}; WAL is not archived`, [
          "ALTER SYSTEM SET archive_mode = 'on';",
          restart,
        ]),
  );
  const cmd = s["archive_command"] ?? "";
  checks.push(
    /prs-backup.*wal push/.test(cmd)
      ? pass(name, "archive_command", `archive_command = ${cmd}`)
      : fail(
          name,
          "archive_command",
          `archive_command = ${JSON.stringify(cmd)} does not archive into prs-backup`,
          [`ALTER SYSTEM SET archive_command = '${command.replaceAll("'", "''")}';`, reload],
        ),
  );
  const timeout = Number(s["archive_timeout"] ?? 0);
  checks.push(
    timeout > 0 && timeout <= 300
      ? pass(name, "archive_timeout", `archive_timeout = ${timeout}s (at most that much WAL can be lost)`)
      : fail(
          name,
          "archive_timeout",
          `archive_timeout = ${timeout}s: a quiet server may not archive for a long time`,
          ["ALTER SYSTEM SET archive_timeout = '60s';", reload],
        ),
  );
  const senders = Number(s["max_wal_senders"] ?? 0);
  checks.push(
    senders >= 2
      ? pass(name, "max_wal_senders", `max_wal_senders = ${senders}`)
      : fail(name, "max_wal_senders", `max_wal_senders = ${senders}; pg_basebackup needs 2`, [
          "ALTER SYSTEM SET max_wal_senders = 10;",
          restart,
        ]),
  );
  const user = target.connection.user;
  const why = await whyNotDirect(target, async (sql) => (await client.query(sql)).rows as never[]);
  if (why === undefined) {
    checks.push(
      pass(name, "base backups", `copied directly from ${target.dataDirectory} (method: ${target.method})`),
    );
  } else if (target.method === "direct") {
    checks.push(
      fail(name, "base backups", `method direct cannot copy the data directory: ${why}`, directGrants(user)),
    );
  } else {
    checks.push(
      pass(
        name,
        "base backups",
        `through pg_basebackup (${why})${target.method === "auto" ? "; a direct copy (docs/pitr.md) is about twice as fast" : ""}`,
      ),
    );
  }
  checks.push(
    role?.rolreplication || role?.rolsuper
      ? pass(name, "replication", `${user} may replicate`)
      : why === undefined
        ? pass(
            name,
            "replication",
            `${user} may not replicate; not needed while base backups are copied directly`,
          )
        : fail(name, "replication", `${user} lacks the REPLICATION privilege that pg_basebackup needs`, [
            `ALTER ROLE "${user}" WITH REPLICATION;`,
            `and in pg_hba.conf: host replication ${user} 127.0.0.1/32 scram-sha-256, then ${reload}`,
          ]),
  );
  return checks;
}

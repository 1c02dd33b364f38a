import type { RedisTargetConfig } from "../../config/index.js";
import { connectRedis, resolveEndpoint } from "../../engines/redis/connection.js";
import { fail, pass, type Check } from "./check.js";
import { toolMajor } from "./tools.js";

/** Connectivity and authentication, persistence settings, and the tools the engine runs. */
export async function checkRedisTarget(target: RedisTargetConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const name = target.name;
  let endpoint;
  try {
    endpoint = await resolveEndpoint(target, env);
  } catch (err) {
    return [
      fail(name, "credentials", (err as Error).message, [
        target.passwordEnv
          ? `export ${target.passwordEnv}=… in the service's environment`
          : `fix targets.${name}.passwordFile`,
      ]),
    ];
  }
  let client;
  try {
    client = await connectRedis(endpoint, name);
  } catch (err) {
    return [
      fail(name, "connect", (err as Error).message, [
        `start Redis, or correct targets.${name}.url; check with: redis-cli -h ${endpoint.host} -p ${endpoint.port} ping`,
      ]),
    ];
  }
  try {
    const checks: Check[] = [];
    const info = parseInfo(await client.info("persistence"));
    const server = parseInfo(await client.info("server"));
    checks.push(
      pass(name, "connect", `connected to ${endpoint.label} (Redis ${server["redis_version"] ?? "?"})`),
    );
    const bgsave = info["rdb_last_bgsave_status"];
    checks.push(
      bgsave === "ok"
        ? pass(name, "rdb", `last background save ok`)
        : fail(name, "rdb", `last background save status: ${bgsave ?? "unknown"}`, [
            "check the Redis log and free disk space in its data directory, then: redis-cli BGSAVE",
          ]),
    );
    const save = await configGet(client, "save");
    if (save !== undefined) {
      checks.push(
        save.trim() !== ""
          ? pass(name, "save", `RDB snapshots: save "${save}"`)
          : fail(
              name,
              "save",
              'RDB snapshots are off (save ""): a crash loses everything since the last backup',
              ['redis-cli CONFIG SET save "3600 1 300 100 60 10000"', "redis-cli CONFIG REWRITE"],
            ),
      );
    }
    const aof = info["aof_enabled"];
    checks.push(
      aof === "1"
        ? pass(name, "appendonly", "AOF is on (restores handle it)")
        : pass(
            name,
            "appendonly",
            "AOF is off: data since the last RDB save is lost on a crash (appendonly yes narrows that)",
          ),
    );
    for (const tool of ["redis-cli", "redis-check-rdb"]) {
      const found = await toolMajor(tool, { binDir: target.binDir, exec: target.exec });
      checks.push(
        "error" in found
          ? fail(name, tool, `${tool} not usable: ${found.error}`, [
              `apt-get install redis-tools, or set targets.${name}.binDir`,
            ])
          : pass(name, tool, `${tool} ${found.version}`),
      );
    }
    return checks;
  } finally {
    client.disconnect();
  }
}

function parseInfo(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(":") && !l.startsWith("#"))
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]),
  );
}

/** CONFIG GET, or undefined where CONFIG is renamed or forbidden (managed Redis). */
async function configGet(
  client: { config(op: "GET", key: string): Promise<unknown> },
  key: string,
): Promise<string | undefined> {
  try {
    const r = (await client.config("GET", key)) as string[];
    return r[1];
  } catch {
    return undefined;
  }
}

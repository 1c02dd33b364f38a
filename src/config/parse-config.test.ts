import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError } from "../errors.js";
import { ConfigProblemsError } from "./config-error.js";
import { exampleConfig } from "./defaults.js";
import { parseConfig } from "./load.js";

const FILE = "/etc/prs/prs-backup.yaml";

/** A minimal valid config, with `targets` replaced when given. */
function yamlOf(overrides: Record<string, unknown> = {}): string {
  return stringify({
    repository: { path: "/backups" },
    targets: { uploads: { type: "files", paths: ["/u"] } },
    ...overrides,
  });
}

/** The problems parseConfig reports for `text`, or fails the test when it accepts it. */
function problemsOf(text: string, file = FILE): string[] {
  try {
    parseConfig(text, { file });
  } catch (err) {
    if (err instanceof ConfigProblemsError) return err.problems;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

describe("parseConfig: the PRS stack", () => {
  it("accepts the full example config and applies type defaults", () => {
    const config = parseConfig(exampleConfig(), { file: FILE });
    expect(Object.keys(config.targets)).toEqual([
      "database",
      "database-pitr",
      "redis",
      "uploads",
      "logs",
      "config",
    ]);
    expect(config.repository).toEqual({
      path: "/mnt/hdd/prs-backups",
      lockTimeoutSeconds: 600,
      compressionLevel: 3,
    });
    expect(config.services?.stop?.at(-3)).toBe("backend");
    const db = config.targets["database"];
    expect(db?.type === "postgres" && db.jobs).toBe(1);
    expect(db?.type === "postgres" && db.connection).toEqual({
      host: "localhost",
      port: 5432,
      user: "prs_admin",
      database: "prs_production",
      passwordEnv: "PRS_DB_PASSWORD",
    });
    const pitr = config.targets["database-pitr"];
    expect(pitr?.type === "postgres-physical" && pitr.connection.database).toBe("postgres");
    expect(config.targets["config"]).toMatchObject({
      name: "config",
      schedule: "0 6 * * 0",
      retention: { weeks: 12 },
    });
    expect(config.targets["uploads"]).toMatchObject({ enabled: true, oneFileSystem: false });
    expect(config.log).toEqual({ file: "/var/log/prs-backup.log", level: "info" });
  });

  it("returns a deeply frozen object", () => {
    const config = parseConfig(exampleConfig(), { file: FILE });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.targets)).toBe(true);
    const uploads = config.targets["uploads"];
    expect(uploads?.type).toBe("files");
    if (uploads?.type !== "files") return;
    expect(Object.isFrozen(uploads.paths)).toBe(true);
    expect(Object.isFrozen(uploads.retention)).toBe(true);
    expect(() => {
      (uploads.paths as string[]).push("/x");
    }).toThrow(TypeError);
    expect(() => {
      (config.repository as { path?: string }).path = "/elsewhere";
    }).toThrow(TypeError);
  });

  it("applies schedule and retention defaults by name, then by type, and keeps explicit ones", () => {
    const config = parseConfig(
      yamlOf({
        targets: {
          redis: { type: "redis", url: "redis://localhost:6379" },
          "db-two": { type: "postgres", connection: { user: "u", database: "d" } },
          wal: { type: "postgres-physical", connection: { user: "u" }, dataDirectory: "/pg" },
          cache: { type: "redis", url: "redis://cache:6379" },
          media: { type: "files", paths: ["/m"] },
          logs: { type: "files", paths: ["/l"], retention: { keepLast: 3 } },
          config: { type: "files", paths: ["/c"], schedule: "30 1 * * *" },
        },
      }),
      { file: FILE },
    );
    const pick = (name: string) => {
      const t = config.targets[name];
      return { schedule: t?.schedule, retention: t?.retention };
    };
    expect(pick("redis")).toEqual({ schedule: "0 3 * * *", retention: { days: 14 } });
    expect(pick("db-two")).toEqual({ schedule: "0 2 * * *", retention: { days: 30 } });
    expect(pick("wal")).toEqual({ schedule: "0 */6 * * *", retention: { days: 7 } });
    expect(pick("cache")).toEqual({ schedule: "0 3 * * *", retention: { days: 14 } });
    expect(pick("media")).toEqual({ schedule: "0 4 * * *", retention: { days: 90 } });
    expect(pick("logs")).toEqual({ schedule: "0 5 * * *", retention: { keepLast: 3 } });
    expect(pick("config")).toEqual({ schedule: "30 1 * * *", retention: { weeks: 12 } });
    expect(config.targets["media"]?.chunking).toEqual({
      minSize: 524288,
      avgSize: 1048576,
      maxSize: 8388608,
    });
    expect(config.targets["media"]?.name).toBe("media");
  });

  it("resolves relative paths against the config file's directory", () => {
    const config = parseConfig(
      yamlOf({
        repository: { path: "repo", tempDirectory: "../tmp" },
        targets: {
          uploads: { type: "files", paths: ["data/uploads", "/abs"] },
          pitr: {
            type: "postgres-physical",
            connection: { user: "u", passwordFile: "secrets/pg" },
            dataDirectory: "./pgdata",
          },
          redis: { type: "redis", url: "redis://h", dataDirectory: "redis", passwordFile: "secrets/redis" },
        },
        log: { file: "logs/prs-backup.log" },
      }),
      { file: "/srv/prs/conf/prs-backup.yaml" },
    );
    expect(config.repository.path).toBe("/srv/prs/conf/repo");
    expect(config.repository.tempDirectory).toBe("/srv/prs/tmp");
    expect(config.log.file).toBe("/srv/prs/conf/logs/prs-backup.log");
    const { uploads, pitr, redis } = config.targets;
    expect(uploads?.type === "files" && uploads.paths).toEqual(["/srv/prs/conf/data/uploads", "/abs"]);
    expect(pitr?.type === "postgres-physical" && pitr.dataDirectory).toBe("/srv/prs/conf/pgdata");
    expect(pitr?.type === "postgres-physical" && pitr.connection.passwordFile).toBe(
      "/srv/prs/conf/secrets/pg",
    );
    expect(redis?.type === "redis" && [redis.dataDirectory, redis.passwordFile]).toEqual([
      "/srv/prs/conf/redis",
      "/srv/prs/conf/secrets/redis",
    ]);
  });

  it("accepts a .json file, and JSON inside a .yaml file", () => {
    const json = JSON.stringify({
      repository: { path: "r" },
      targets: { uploads: { type: "files", paths: ["u"] } },
    });
    const fromJson = parseConfig(json, { file: "/cfg/prs-backup.json" });
    expect(fromJson.repository.path).toBe("/cfg/r");
    expect(parseConfig(json, { file: "/cfg/prs-backup.yaml" })).toEqual(fromJson);
    expect(parseConfig(`\uFEFF${json}`, { file: "/cfg/prs-backup.json" })).toEqual(fromJson);
  });

  it("accepts YAML anchors and merge keys for shared connection settings", () => {
    const text = `
repository: {path: /r}
targets:
  database:
    type: postgres
    connection: &pg {user: prs_admin, database: prs_production, passwordEnv: PRS_DB_PASSWORD}
  database-pitr:
    type: postgres-physical
    connection: {<<: *pg, database: postgres}
    dataDirectory: /pg
`;
    const pitr = parseConfig(text, { file: FILE }).targets["database-pitr"];
    expect(pitr?.type === "postgres-physical" && pitr.connection).toMatchObject({
      user: "prs_admin",
      database: "postgres",
      passwordEnv: "PRS_DB_PASSWORD",
    });
  });
});

describe("parseConfig: syntax errors", () => {
  it("reports a YAML syntax error as one line with line and column", () => {
    const tabs = "repository:\n\tpath: /r\n";
    expect(() => parseConfig(tabs, { file: FILE })).toThrow(ConfigError);
    expect(() => parseConfig(tabs, { file: FILE })).toThrow(
      `${FILE}: YAML syntax error at line 2, column 1: Tabs are not allowed as indentation`,
    );
    const unclosed = "repository:\n  path: /r\ntargets: [uploads,\n  x: 1\n";
    expect(() => parseConfig(unclosed, { file: FILE })).toThrow(
      /^\/etc\/prs\/prs-backup\.yaml: YAML syntax error at line 5, column 1: Flow sequence [^\n]+$/,
    );
  });

  it("reports a duplicate key as a YAML error", () => {
    expect(() => parseConfig("repository: {path: /a}\nrepository: {path: /b}\n", { file: FILE })).toThrow(
      `${FILE}: YAML syntax error at line 2, column 1: Map keys must be unique`,
    );
  });

  it("reports a JSON syntax error with line and column", () => {
    const file = "/cfg/prs-backup.json";
    expect(() => parseConfig('{\n  "repository": {"path": "/r"},\n}', { file })).toThrow(
      /^\/cfg\/prs-backup\.json: JSON syntax error at line 3, column 1: [^\n]+$/,
    );
    expect(() => parseConfig('{"repository": ', { file })).toThrow(
      `${file}: JSON syntax error at line 1, column 16: Unexpected end of JSON input`,
    );
  });

  it("rejects an empty file", () => {
    expect(() => parseConfig("# nothing yet\n", { file: FILE })).toThrow(
      `${FILE}: the file is empty; it needs at least repository and targets`,
    );
  });
});

describe("parseConfig: schema problems name the file and field", () => {
  it("rejects unknown keys, one problem per key", () => {
    const text = yamlOf({
      targets: { uploads: { type: "files", paths: ["/u"], colour: "red", exclud: ["*.tmp"] } },
    });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.uploads.colour: unknown key`,
      `${FILE}: targets.uploads.exclud: unknown key`,
    ]);
    expect(problemsOf(yamlOf({ extra: 1 }))).toEqual([`${FILE}: extra: unknown key`]);
  });

  it("rejects wrong types and missing fields", () => {
    const text = yamlOf({
      repository: { path: "/r", compressionLevel: "high" },
      targets: {
        uploads: { type: "files", paths: "/u" },
        database: { type: "postgres", connection: { user: "u", port: 54.5 } },
      },
    });
    expect(problemsOf(text)).toEqual([
      `${FILE}: repository.compressionLevel: expected a number, got "high"`,
      `${FILE}: targets.uploads.paths: expected a list, got "/u"`,
      `${FILE}: targets.database.connection.port: must be a whole number, got 54.5`,
      `${FILE}: targets.database.connection.database: required`,
    ]);
  });

  it("names array elements with [i]", () => {
    const text = yamlOf({ targets: { uploads: { type: "files", paths: ["/a", "", 7] } } });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.uploads.paths[1]: must not be empty`,
      `${FILE}: targets.uploads.paths[2]: expected a string, got 7`,
    ]);
  });

  it("rejects an unknown or missing target type", () => {
    const text = yamlOf({ targets: { a: { type: "mysql" }, b: { paths: ["/b"] } } });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.a.type: must be one of "files", "postgres", "postgres-physical", "redis", got "mysql"`,
      `${FILE}: targets.b.type: required; one of "files", "postgres", "postgres-physical", "redis"`,
    ]);
  });

  it("rejects a bad cron expression", () => {
    const text = yamlOf({
      targets: { redis: { type: "redis", url: "redis://h:6379", schedule: "61 25 * * *" } },
    });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.redis.schedule: invalid cron expression "61 25 * * *": invalid value for minute: 61`,
    ]);
  });

  it("rejects cron expressions with the wrong number of fields, nicknames and impossible dates", () => {
    const targets = {
      a: { type: "files", paths: ["/a"], schedule: "0 2 * *" },
      b: { type: "files", paths: ["/b"], schedule: "@daily" },
      c: { type: "files", paths: ["/c"], schedule: "0 2 31 2 *" },
      d: { type: "files", paths: ["/d"], schedule: "*/30 0 2 * * *" },
    };
    const problems = problemsOf(yamlOf({ targets }));
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(
      /^\/etc\/prs\/prs-backup\.yaml: targets\.a\.schedule: invalid cron expression "0 2 \* \*": expected 5 fields/,
    );
    expect(problems[1]).toMatch(
      /^\/etc\/prs\/prs-backup\.yaml: targets\.b\.schedule: invalid cron expression "@daily": expected 5 fields/,
    );
    expect(problems[2]).toBe(
      `${FILE}: targets.c.schedule: invalid cron expression "0 2 31 2 *": it never matches a date`,
    );
  });

  it("rejects negative and fractional retention", () => {
    const text = yamlOf({
      targets: { uploads: { type: "files", paths: ["/u"], retention: { days: -1, keepLast: 1.5 } } },
    });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.uploads.retention.days: must be at least 0, got -1`,
      `${FILE}: targets.uploads.retention.keepLast: must be a whole number, got 1.5`,
    ]);
  });

  it("refuses inline passwords with a pointer to passwordEnv/passwordFile", () => {
    const text = yamlOf({
      targets: {
        database: { type: "postgres", connection: { user: "u", database: "d", password: "hunter2" } },
        redis: { type: "redis", url: "redis://h", password: "hunter2" },
      },
    });
    const problems = problemsOf(text);
    expect(problems).toEqual([
      `${FILE}: targets.database.connection.password: inline passwords are not allowed; use passwordEnv or passwordFile`,
      `${FILE}: targets.redis.password: inline passwords are not allowed; use passwordEnv or passwordFile`,
    ]);
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  it("rejects a non-Redis URL without echoing its password", () => {
    const text = yamlOf({ targets: { redis: { type: "redis", url: "http://:hunter2@h:6379" } } });
    expect(problemsOf(text)).toEqual([
      `${FILE}: targets.redis.url: must be a redis:// or rediss:// URL, got "http://:***@h:6379"`,
    ]);
  });

  it("rejects bad target names, no targets, bad enums and out-of-range numbers", () => {
    expect(problemsOf(yamlOf({ targets: { "Bad name": { type: "files", paths: ["/u"] } } }))).toEqual([
      `${FILE}: targets.Bad name: invalid target name: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
    ]);
    expect(problemsOf(yamlOf({ targets: {} }))).toEqual([`${FILE}: targets: define at least one target`]);
    expect(
      problemsOf(yamlOf({ log: { level: "verbose" }, repository: { path: "/r", compressionLevel: 22 } })),
    ).toEqual([
      `${FILE}: repository.compressionLevel: must be at most 19, got 22`,
      `${FILE}: log.level: must be one of "debug", "info", "warn", "error", got "verbose"`,
    ]);
  });

  it("rejects a document that is not a mapping", () => {
    expect(problemsOf("- a\n- b\n")).toEqual([`${FILE}: expected a mapping, got a list`]);
  });

  it("refuses ~ in paths", () => {
    expect(problemsOf(yamlOf({ repository: { path: "~/backups" } }))).toEqual([
      `${FILE}: repository.path: ~ is not expanded here; write the full path`,
    ]);
  });
});

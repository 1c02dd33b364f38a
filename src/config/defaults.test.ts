import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULTS_BY_NAME, defaultsForTarget, exampleConfig } from "./defaults.js";
import { cronProblem } from "./fields.js";
import { parseConfig } from "./load.js";
import { configJsonSchema } from "./schema.js";

describe("defaults", () => {
  it("reproduce the runbook's schedule and retention table by name", () => {
    expect(defaultsForTarget("database", "postgres")).toEqual({
      schedule: "0 2 * * *",
      retention: { days: 30 },
    });
    expect(defaultsForTarget("database-pitr", "postgres-physical")).toEqual({
      schedule: "0 */6 * * *",
      retention: { days: 7 },
    });
    expect(defaultsForTarget("logs", "files")).toEqual({ schedule: "0 5 * * *", retention: { days: 365 } });
    expect(defaultsForTarget("config", "files")).toEqual({ schedule: "0 6 * * 0", retention: { weeks: 12 } });
  });

  it("fall back by type for other names", () => {
    expect(defaultsForTarget("analytics", "postgres")).toBe(DEFAULTS_BY_NAME["database"]);
    expect(defaultsForTarget("wal", "postgres-physical")).toBe(DEFAULTS_BY_NAME["database-pitr"]);
    expect(defaultsForTarget("sessions", "redis")).toBe(DEFAULTS_BY_NAME["redis"]);
    expect(defaultsForTarget("media", "files")).toBe(DEFAULTS_BY_NAME["uploads"]);
  });

  it("are valid schedules", () => {
    for (const { schedule } of Object.values(DEFAULTS_BY_NAME)) expect(cronProblem(schedule)).toBeUndefined();
  });
});

describe("exampleConfig", () => {
  it("is a valid config whose explicit values match the defaults", () => {
    const config = parseConfig(exampleConfig(), { file: "/etc/prs-backup/prs-backup.yaml" });
    for (const target of Object.values(config.targets)) {
      const { schedule, retention } = defaultsForTarget(target.name, target.type);
      expect({ name: target.name, schedule: target.schedule, retention: target.retention }).toEqual({
        name: target.name,
        schedule,
        retention,
      });
    }
  });

  it("keeps secrets out", () => {
    const raw = JSON.stringify(parse(exampleConfig()));
    expect(raw).not.toMatch(/"password"/);
    expect(raw).toContain("PRS_DB_PASSWORD");
  });
});

describe("configJsonSchema", () => {
  it("describes the file for editors", () => {
    const schema = configJsonSchema();
    expect(schema["type"]).toBe("object");
    expect(schema["required"]).toEqual(["repository", "targets"]);
    expect(schema["additionalProperties"]).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { exampleConfig } from "./defaults.js";
import { parseConfig } from "./load.js";
import { redactConfig, redactUrl } from "./redact.js";

describe("redactUrl", () => {
  it("hides the password and keeps everything else as written", () => {
    expect(redactUrl("redis://:hunter2@host:6379")).toBe("redis://:***@host:6379");
    expect(redactUrl("rediss://app:hunter2@host:6380/2?x=1")).toBe("rediss://app:***@host:6380/2?x=1");
    expect(redactUrl("redis://:p@ss@host:6379")).toBe("redis://:***@host:6379");
  });

  it("leaves URLs without a password and non-URLs alone", () => {
    for (const value of [
      "redis://localhost:6379",
      "redis://app@host",
      "/mnt/uploads",
      "a:b@c",
      "redis://:@h",
    ]) {
      expect(redactUrl(value)).toBe(value);
    }
  });
});

describe("redactConfig", () => {
  it("redacts the Redis URL password and keeps secret references", () => {
    const text = exampleConfig()
      .replace('url: "redis://localhost:6379"', 'url: "redis://:hunter2@localhost:6379"')
      .replace("    passwordEnv: PRS_REDIS_PASSWORD\n", "");
    const config = parseConfig(text, { file: "/cfg/prs-backup.yaml" });
    const redacted = redactConfig(config) as typeof config;
    expect(redacted.targets["redis"]).toMatchObject({ url: "redis://:***@localhost:6379" });
    expect(redacted.targets["database"]).toMatchObject({ connection: { passwordEnv: "PRS_DB_PASSWORD" } });
    expect(JSON.stringify(redacted)).not.toContain("hunter2");
    expect(Object.isFrozen(redacted)).toBe(false);
  });

  it("hides values under secret-looking keys even in unvalidated input", () => {
    expect(redactConfig({ a: { password: "x", passwordEnv: "PW", list: ["http://u:p@h/"] } })).toEqual({
      a: { password: "***", passwordEnv: "PW", list: ["http://u:***@h/"] },
    });
  });
});

describe("redactUrlPath", () => {
  it("hides the secret path of a webhook URL but keeps the host", () => {
    const out = redactConfig({
      daemon: {
        webhook: { url: "https://hooks.slack.com/services/T0/B0/XYZ" },
        pingUrl: "https://hc-ping.com/uuid-123",
      },
    });
    expect(out).toEqual({
      daemon: { webhook: { url: "https://hooks.slack.com/***" }, pingUrl: "https://hc-ping.com/***" },
    });
    expect(redactConfig({ url: "redis://:pw@h:6379" })).toEqual({ url: "redis://:***@h:6379" });
  });
});

import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigProblemsError } from "./config-error.js";
import { parseConfig } from "./load.js";

const FILE = "/cfg/prs-backup.yaml";

function problemsOf(config: Record<string, unknown>): string[] {
  const text = stringify({ repository: { path: "/backups" }, ...config });
  try {
    parseConfig(text, { file: FILE });
  } catch (err) {
    if (err instanceof ConfigProblemsError) return err.problems;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

const uploads = { type: "files", paths: ["/u"] };

describe("cross-field rules", () => {
  it("wants exactly one repository location", () => {
    const expected = [`${FILE}: repository: set exactly one of path (a local directory) or s3`];
    expect(problemsOf({ repository: {}, targets: { uploads } })).toEqual(expected);
    expect(problemsOf({ repository: { path: "/r", s3: { bucket: "b" } }, targets: { uploads } })).toEqual(
      expected,
    );
  });

  it("accepts an S3 repository and wants its key variables in pairs", () => {
    const s3 = { endpoint: "https://minio:9000", bucket: "prs", accessKeyIdEnv: "S3_KEY" };
    expect(problemsOf({ repository: { s3 }, targets: { uploads } })).toEqual([
      `${FILE}: repository.s3: set both accessKeyIdEnv and secretAccessKeyEnv, or neither`,
    ]);
    const text = stringify({
      repository: { s3: { ...s3, secretAccessKeyEnv: "S3_SECRET" } },
      targets: { uploads },
    });
    expect(parseConfig(text, { file: FILE }).repository.s3).toEqual({
      ...s3,
      secretAccessKeyEnv: "S3_SECRET",
      forcePathStyle: false,
    });
  });

  it("wants services.stop and services.start together", () => {
    expect(problemsOf({ services: { stop: ["systemctl", "stop", "prs"] }, targets: { uploads } })).toEqual([
      `${FILE}: services: set both stop and start, or neither`,
    ]);
  });

  it("refuses both passwordEnv and passwordFile", () => {
    const connection = { user: "u", database: "d", passwordEnv: "PGPW", passwordFile: "/run/pg" };
    const targets = {
      database: { type: "postgres", connection },
      redis: { type: "redis", url: "redis://h", passwordEnv: "RPW", passwordFile: "/run/redis" },
    };
    expect(problemsOf({ targets })).toEqual([
      `${FILE}: targets.database.connection: set only one of passwordEnv or passwordFile`,
      `${FILE}: targets.redis: set only one of passwordEnv or passwordFile`,
    ]);
  });

  it("refuses a password in the Redis URL together with passwordEnv", () => {
    const targets = { redis: { type: "redis", url: "redis://:pw@h:6379", passwordEnv: "RPW" } };
    expect(problemsOf({ targets })).toEqual([
      `${FILE}: targets.redis.url: has a password and passwordEnv/passwordFile is set too; keep one`,
    ]);
  });

  it("refuses repeated file paths, also when written differently", () => {
    const targets = { uploads: { type: "files", paths: ["/cfg/data", "/x", "data", "./data/"] } };
    expect(problemsOf({ targets })).toEqual([
      `${FILE}: targets.uploads.paths[2]: repeats paths[0] (/cfg/data)`,
      `${FILE}: targets.uploads.paths[3]: repeats paths[0] (/cfg/data)`,
    ]);
  });

  it("checks chunk sizes", () => {
    const targets = {
      a: { ...uploads, chunking: { avgSize: 1000000 } },
      b: { ...uploads, chunking: { minSize: 4096, avgSize: 2048, maxSize: 65536 } },
      c: { ...uploads, chunking: { minSize: 0 } },
    };
    expect(problemsOf({ targets })).toEqual([
      `${FILE}: targets.c.chunking.minSize: must be greater than 0, got 0`,
    ]);
    delete (targets as Record<string, unknown>)["c"];
    expect(problemsOf({ targets })).toEqual([
      `${FILE}: targets.a.chunking.avgSize: must be a power of two, got 1000000`,
      `${FILE}: targets.b.chunking: need minSize < avgSize < maxSize, got 4096 / 2048 / 65536 (omitted sizes take the defaults)`,
    ]);
  });

  it("refuses an empty retention", () => {
    expect(problemsOf({ targets: { uploads: { ...uploads, retention: {} } } })).toEqual([
      `${FILE}: targets.uploads.retention: give at least one rule (days, weeks, keepLast, keepDaily, …)`,
    ]);
  });

  it("reports every problem of a config at once", () => {
    const targets = {
      uploads: { ...uploads, retention: {} },
      redis: { type: "redis", url: "redis://h", passwordEnv: "A", passwordFile: "/b" },
    };
    expect(problemsOf({ repository: {}, targets })).toHaveLength(3);
  });
});

import { describe, expect, it } from "vitest";
import { commandArgv, streamingToolArgv, type PgEndpoint } from "./connection.js";

const endpoint: PgEndpoint = {
  host: "127.0.0.1",
  port: 5432,
  user: "postgres",
  database: "prs",
  binDir: "/usr/lib/postgresql/15/bin",
  field: "targets.database.connection",
};

describe("streamingToolArgv", () => {
  it("wraps a postgres tool run here, and not one run in a container", () => {
    expect(streamingToolArgv(endpoint, "pg_dump", ["-Fc"], "stdout")).toEqual([
      "stdbuf",
      "-o1M",
      ...commandArgv(endpoint, "pg_dump", ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-Fc"]),
    ]);
    const inContainer = { ...endpoint, exec: ["docker", "exec", "-i", "prs-db"] };
    expect(streamingToolArgv(inContainer, "pg_restore", ["-d", "prs"], "stdin")).toEqual(
      commandArgv(inContainer, "pg_restore", [
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        "postgres",
        "-d",
        "prs",
      ]),
    );
  });
});

import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { checkSecretFilePermissions, resolveSecret } from "./secrets.js";

const FIELD = "targets.database.connection";

describe("resolveSecret", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "prs-secret-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads an environment variable", async () => {
    expect(await resolveSecret({ passwordEnv: "PGPW" }, FIELD, { PGPW: "s3cret\n" })).toBe("s3cret\n");
  });

  it("fails naming the field and the variable when it is missing or empty", async () => {
    const expected = new ConfigError(`${FIELD}.passwordEnv: environment variable PGPW is not set`);
    await expect(resolveSecret({ passwordEnv: "PGPW" }, FIELD, {})).rejects.toThrow(expected);
    await expect(resolveSecret({ passwordEnv: "PGPW" }, FIELD, { PGPW: "" })).rejects.toThrow(expected);
  });

  it("reads a file, dropping one trailing newline only", async () => {
    const file = path.join(dir, "pw");
    await writeFile(file, "s3cret\n");
    expect(await resolveSecret({ passwordFile: file }, FIELD, {})).toBe("s3cret");
    await writeFile(file, "s3cret\r\n");
    expect(await resolveSecret({ passwordFile: file }, FIELD, {})).toBe("s3cret");
    await writeFile(file, " s3cret \n\n");
    expect(await resolveSecret({ passwordFile: file }, FIELD, {})).toBe(" s3cret \n");
  });

  it("fails naming the field and the file when it cannot be read or is empty", async () => {
    const missing = path.join(dir, "missing");
    await expect(resolveSecret({ passwordFile: missing }, "targets.redis", {})).rejects.toThrow(
      new ConfigError(`targets.redis.passwordFile: cannot read ${missing}: no such file`),
    );
    const empty = path.join(dir, "empty");
    await writeFile(empty, "\n");
    await expect(resolveSecret({ passwordFile: empty }, FIELD, {})).rejects.toThrow(
      `${FIELD}.passwordFile: ${empty} is empty`,
    );
  });

  it("returns undefined when no source is configured and refuses two", async () => {
    expect(await resolveSecret({}, FIELD, { PGPASSWORD: "x" })).toBeUndefined();
    await expect(resolveSecret({ passwordEnv: "A", passwordFile: "/b" }, FIELD, { A: "a" })).rejects.toThrow(
      `${FIELD}: set only one of passwordEnv or passwordFile`,
    );
  });

  it("warns about password files others can read", async () => {
    const file = path.join(dir, "pw");
    await writeFile(file, "x");
    await chmod(file, 0o640);
    expect(await checkSecretFilePermissions(file)).toBe(
      `password file ${file} is accessible by group or others (mode 0640); run chmod 600 ${file}`,
    );
    await chmod(file, 0o600);
    expect(await checkSecretFilePermissions(file)).toBeUndefined();
    expect(await checkSecretFilePermissions(path.join(dir, "missing"))).toBeUndefined();
  });
});

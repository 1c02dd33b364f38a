import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { ConfigProblemsError } from "./config-error.js";
import { findConfigFile, loadConfig } from "./load.js";

const VALID = "repository: {path: repo}\ntargets:\n  uploads: {type: files, paths: [uploads]}\n";

describe("findConfigFile and loadConfig", () => {
  let dir: string;
  let cwd: string;
  let system: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "prs-config-"));
    cwd = path.join(dir, "work");
    system = path.join(dir, "etc", "prs-backup.yaml");
    await mkdir(cwd);
    await mkdir(path.dirname(system));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const put = async (file: string, text = VALID): Promise<string> => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    return file;
  };

  it("looks at --config, then PRS_BACKUP_CONFIG, then ./prs-backup.yaml, then the system file", async () => {
    const flag = await put(path.join(cwd, "flag.yaml"));
    const fromEnv = await put(path.join(dir, "env.yaml"));
    const local = await put(path.join(cwd, "prs-backup.yaml"));
    await put(system);
    const env = { PRS_BACKUP_CONFIG: fromEnv };
    const find = (configPath: string | undefined, e: NodeJS.ProcessEnv) =>
      findConfigFile({ configPath, env: e, cwd, systemConfigPath: system });
    expect(await find("flag.yaml", env)).toBe(flag);
    expect(await find(undefined, env)).toBe(fromEnv);
    expect(await find(undefined, { PRS_BACKUP_CONFIG: "" })).toBe(local);
    await rm(local);
    expect(await find(undefined, {})).toBe(system);
  });

  it("fails when an explicitly named file does not exist, rather than falling back", async () => {
    await put(path.join(cwd, "prs-backup.yaml"));
    const missing = path.join(cwd, "nope.yaml");
    await expect(
      findConfigFile({ configPath: "nope.yaml", env: {}, cwd, systemConfigPath: system }),
    ).rejects.toThrow(new ConfigError(`config file ${missing} not found (from --config)`));
    await expect(
      findConfigFile({ env: { PRS_BACKUP_CONFIG: missing }, cwd, systemConfigPath: system }),
    ).rejects.toThrow(`config file ${missing} not found (from PRS_BACKUP_CONFIG)`);
    await expect(findConfigFile({ configPath: ".", env: {}, cwd, systemConfigPath: system })).rejects.toThrow(
      `config file ${cwd} (from --config) is a directory`,
    );
  });

  it("names the places it looked when there is no config", async () => {
    const err: unknown = await findConfigFile({ env: {}, cwd, systemConfigPath: system }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      `no config file found (looked for ${path.join(cwd, "prs-backup.yaml")} and ${system}); pass --config FILE or set PRS_BACKUP_CONFIG`,
    );
    expect((err as ConfigError).exitCode).toBe(2);
  });

  it("loads, resolving paths against the file's directory, not the cwd", async () => {
    const file = await put(path.join(dir, "conf", "main.yaml"));
    const { file: found, config } = await loadConfig({ configPath: "../conf/main.yaml", env: {}, cwd });
    expect(found).toBe(file);
    expect(config.repository.path).toBe(path.join(dir, "conf", "repo"));
    const uploads = config.targets["uploads"];
    expect(uploads?.type === "files" && uploads.paths).toEqual([path.join(dir, "conf", "uploads")]);
  });

  it("reports problems with the found file's path", async () => {
    const file = await put(
      path.join(cwd, "prs-backup.yaml"),
      "repository: {path: /r, size: 3}\ntargets: {u: {type: files, paths: [/u]}}\n",
    );
    const err: unknown = await loadConfig({ env: {}, cwd, systemConfigPath: system }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigProblemsError);
    expect((err as ConfigProblemsError).problems).toEqual([`${file}: repository.size: unknown key`]);
    expect((err as ConfigProblemsError).code).toBe("E_CONFIG_INVALID");
  });

  it("loads a .json config", async () => {
    const file = await put(
      path.join(cwd, "prs-backup.json"),
      JSON.stringify({ repository: { path: "/r" }, targets: { u: { type: "files", paths: ["/u"] } } }),
    );
    const { config } = await loadConfig({ configPath: file, env: {}, cwd });
    expect(config.targets["u"]).toMatchObject({ name: "u", schedule: "0 4 * * *", retention: { days: 90 } });
    await writeFile(
      file,
      '{"repository": {"path": "/r"}, "targets": {"u": {"type": "files", "paths": [1]}}}',
    );
    await expect(loadConfig({ configPath: file, env: {}, cwd })).rejects.toThrow(
      `${file}: targets.u.paths[0]: expected a string, got 1`,
    );
  });
});

import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneErrorLine, runCli, runOk, type SnapshotJson } from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { lockFiles, repoState, tempFiles } from "../helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import { listing } from "../helpers/tree.js";

let ws: string;
let src: string;
let repo: string;
let good: string;
let snapshot: SnapshotJson;

/** Writes a config file for one case and returns its path. */
async function configText(name: string, text: string): Promise<string> {
  const file = path.join(ws, "cases", `${name}.yaml`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  return file;
}

/** A good config with fields added to the `uploads` target (a retention of 7 days unless given). */
function withUploads(fields: string): string {
  const retention = fields.includes("retention:") ? "" : ", retention: {days: 7}";
  return `repository: {path: ${JSON.stringify(repo)}}\ntargets:\n  uploads: {type: files, paths: [${JSON.stringify(src)}]${retention}${fields}}\n`;
}

function withTarget(target: string): string {
  return `repository: {path: ${JSON.stringify(repo)}}\ntargets:\n${target}\n`;
}

interface Case {
  name: string;
  /** The command line; `CONFIG` is replaced by the case's config file. */
  args: (config: string) => string[];
  /** Config text for this case (default: the good config). */
  config?: () => string;
  env?: () => NodeJS.ProcessEnv;
  cwd?: () => string;
  exitCode: number;
  /** What the error line must name (the field, file or target at fault). */
  names: () => (string | RegExp)[];
  /** A failed backup records its run in the history: leave `runs/` out of the comparison. */
  recordsRun?: boolean;
  /** Further checks that nothing else changed. */
  after?: () => Promise<void>;
}

const cases: Case[] = [
  {
    name: "YAML syntax error",
    config: () => `repository: {path: ${repo}}\ntargets:\n  uploads: {type: files, paths: [${src}]\n  x: [\n`,
    args: (c) => ["--config", c, "list"],
    exitCode: 2,
    names: () => [path.join(ws, "cases/YAML syntax error.yaml"), /YAML syntax error at line \d+, column \d+/],
  },
  {
    name: "unknown key",
    config: () => withUploads(", colour: red"),
    args: (c) => ["--config", c, "backup"],
    exitCode: 2,
    names: () => ["targets.uploads.colour", "unknown key"],
  },
  {
    name: "wrong type",
    config: () => `repository: {path: ${repo}}\ntargets:\n  uploads: {type: files, paths: ${src}}\n`,
    args: (c) => ["--config", c, "backup"],
    exitCode: 2,
    names: () => ["targets.uploads.paths", /list/],
  },
  {
    name: "unknown target type",
    config: () => withTarget("  uploads: {type: ftp, paths: [/srv]}"),
    args: (c) => ["config", "check", "--config", c],
    exitCode: 2,
    names: () => ["targets.uploads.type", "ftp"],
  },
  {
    name: "bad cron expression",
    config: () => withUploads(', schedule: "61 25 * * *"'),
    args: (c) => ["--config", c, "backup"],
    exitCode: 2,
    names: () => ["targets.uploads.schedule", "61 25 * * *"],
  },
  {
    name: "negative retention",
    config: () => withUploads(", retention: {days: -1}"),
    args: (c) => ["--config", c, "list"],
    exitCode: 2,
    names: () => ["targets.uploads.retention.days", "-1"],
  },
  {
    name: "empty config file",
    config: () => "",
    args: (c) => ["--config", c, "list"],
    exitCode: 2,
    names: () => [path.join(ws, "cases/empty config file.yaml")],
  },
  {
    name: "inline password",
    config: () => withTarget('  cache: {type: redis, url: "redis://127.0.0.1:6379", password: hunter2}'),
    args: (c) => ["--config", c, "config", "check"],
    exitCode: 2,
    names: () => ["targets.cache.password", /passwordEnv|passwordFile/],
  },
  {
    name: "missing secret environment variable",
    config: () =>
      withTarget('  cache: {type: redis, url: "redis://127.0.0.1:6379", passwordEnv: NOPE_NOT_SET}'),
    args: (c) => ["--config", c, "config", "check"],
    env: () => ({ NOPE_NOT_SET: undefined }),
    exitCode: 2,
    names: () => ["targets.cache", "NOPE_NOT_SET"],
  },
  {
    name: "missing config file (--config)",
    args: () => ["--config", path.join(ws, "nope.yaml"), "list"],
    exitCode: 2,
    names: () => [path.join(ws, "nope.yaml")],
  },
  {
    name: "missing config file (PRS_BACKUP_CONFIG)",
    args: () => ["list"],
    env: () => ({ PRS_BACKUP_CONFIG: path.join(ws, "also-nope.yaml") }),
    exitCode: 2,
    names: () => [path.join(ws, "also-nope.yaml"), "PRS_BACKUP_CONFIG"],
  },
  {
    name: "no config file anywhere",
    args: () => ["list"],
    cwd: () => path.join(ws, "occupied"),
    exitCode: 2,
    names: () => [path.join(ws, "occupied", "prs-backup.yaml"), "--config"],
  },
  {
    name: "config file is a directory",
    args: () => ["--config", path.join(ws, "cases"), "list"],
    exitCode: 2,
    names: () => [path.join(ws, "cases")],
  },
  {
    name: "unknown target",
    args: (c) => ["--config", c, "backup", "uploads", "nosuch"],
    exitCode: 2,
    names: () => ['"nosuch"', "uploads"],
  },
  {
    name: "unknown target for restore",
    args: (c) => ["--config", c, "restore", "nosuch", "--to", path.join(ws, "never")],
    exitCode: 2,
    names: () => ['"nosuch"'],
    after: async () => expect(fs.access(path.join(ws, "never"))).rejects.toThrow(),
  },
  {
    name: "unknown command",
    args: (c) => ["--config", c, "frobnicate"],
    exitCode: 2,
    names: () => ["frobnicate"],
  },
  {
    name: "unknown option",
    args: (c) => ["--config", c, "list", "--frobnicate"],
    exitCode: 2,
    names: () => ["--frobnicate"],
  },
  {
    name: "missing argument",
    args: (c) => ["--config", c, "show"],
    exitCode: 2,
    names: () => ["snapshot"],
  },
  {
    name: "missing option value",
    args: (c) => ["--config", c, "restore", "uploads", "--to", path.join(ws, "never"), "--snapshot"],
    exitCode: 2,
    names: () => ["--snapshot"],
  },
  {
    name: "bad option value",
    args: (c) => ["--config", c, "verify", "--sample", "0"],
    exitCode: 2,
    names: () => ["--sample"],
  },
  {
    name: "missing source path",
    config: () =>
      `repository: {path: ${repo}}\ntargets:\n  uploads: {type: files, paths: [${path.join(ws, "gone")}], retention: {days: 7}}\n`,
    args: (c) => ["--config", c, "backup", "--json"],
    exitCode: 1,
    names: () => ["targets.uploads.paths[0]", path.join(ws, "gone")],
    recordsRun: true,
    after: async () => {
      const listed = await runOk(["--config", good, "list", "--json"]);
      expect(listed.json<SnapshotJson[]>()).toEqual([snapshot]);
    },
  },
  {
    name: "snapshot id that does not exist",
    args: (c) => [
      "--config",
      c,
      "restore",
      "uploads",
      "--snapshot",
      "deadbeef",
      "--to",
      path.join(ws, "never"),
    ],
    exitCode: 1,
    names: () => ["deadbeef"],
    after: async () => expect(fs.access(path.join(ws, "never"))).rejects.toThrow(),
  },
  {
    // A malformed argument is bad usage (exit 2), like a malformed --sample value; not a
    // failed operation (1) as for a well-formed id that matches no snapshot.
    name: "invalid snapshot id format",
    args: (c) => ["--config", c, "show", "xyz!"],
    exitCode: 2,
    names: () => ["xyz!"],
  },
  {
    name: "snapshot of another target",
    config: () =>
      `repository: {path: ${repo}}\ntargets:\n  uploads: {type: files, paths: [${src}], retention: {days: 7}}\n  logs: {type: files, paths: [${src}], retention: {days: 7}}\n`,
    args: (c) => [
      "--config",
      c,
      "restore",
      "logs",
      "--snapshot",
      snapshot.id,
      "--to",
      path.join(ws, "never"),
    ],
    exitCode: 1,
    names: () => [snapshot.id, '"uploads"'],
    after: async () => expect(fs.access(path.join(ws, "never"))).rejects.toThrow(),
  },
  {
    name: "non-empty restore directory",
    args: (c) => ["--config", c, "restore", "uploads", "--to", path.join(ws, "occupied")],
    exitCode: 1,
    names: () => [path.join(ws, "occupied")],
    after: async () => expect(await fs.readdir(path.join(ws, "occupied"))).toEqual(["precious.txt"]),
  },
  {
    name: "repository not initialized",
    config: () =>
      `repository: {path: ${path.join(ws, "no-repo")}}\ntargets:\n  uploads: {type: files, paths: [${src}], retention: {days: 7}}\n`,
    args: (c) => ["--config", c, "backup"],
    exitCode: 1,
    names: () => [path.join(ws, "no-repo"), "init"],
    after: async () => expect(fs.access(path.join(ws, "no-repo"))).rejects.toThrow(),
  },
  {
    name: "postgres target whose server is down",
    config: () =>
      withTarget("  db: {type: postgres, connection: {host: 127.0.0.1, port: 1, user: prs, database: prs}}"),
    args: (c) => ["--config", c, "backup", "db"],
    exitCode: 1,
    names: () => ["targets.db.connection", "127.0.0.1:1"],
    recordsRun: true,
  },
  {
    name: "S3 repository (not supported yet)",
    config: () =>
      `repository: {s3: {bucket: prs-backups}}\ntargets:\n  uploads: {type: files, paths: [${src}], retention: {days: 7}}\n`,
    args: (c) => ["--config", c, "list"],
    exitCode: 1,
    names: () => ["repository.s3", "not supported yet"],
  },
];

beforeAll(async () => {
  ws = await makeTempDir();
  src = path.join(ws, "src");
  repo = path.join(ws, "repo");
  await fs.mkdir(path.join(src, "dir"), { recursive: true });
  await fs.writeFile(path.join(src, "dir/file.txt"), "some data\n");
  await fs.mkdir(path.join(ws, "occupied"));
  await fs.writeFile(path.join(ws, "occupied/precious.txt"), "do not touch\n");
  good = await writeConfig(path.join(ws, "good.yaml"), {
    repository: repo,
    targets: { uploads: { paths: [src] } },
  });
  await runOk(["--config", good, "init"]);
  snapshot = (await runOk(["--config", good, "backup", "--json"])).json<SnapshotJson[]>()[0]!;
});

afterAll(removeTempDirs);

describe("bad input: one clear error line, the right exit code, nothing changed", () => {
  it("covers at least 15 kinds of bad input", () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const config = c.config ? await configText(c.name, c.config()) : good;
      const before = await repoState(repo, { ignoreRuns: c.recordsRun });
      const sourceBefore = await listing(src);
      const r = await runCli(c.args(config), { env: c.env?.(), cwd: c.cwd?.() ?? ws });
      expect(r.exitCode, r.stderr).toBe(c.exitCode);
      const line = expectOneErrorLine(r.stderr);
      for (const name of c.names()) {
        if (typeof name === "string") expect(line).toContain(name);
        else expect(line).toMatch(name);
      }
      expect(r.stderr).not.toContain("hunter2");
      expect(r.stdout).not.toContain("hunter2");
      expect(await repoState(repo, { ignoreRuns: c.recordsRun })).toBe(before);
      expect(await lockFiles(repo)).toEqual([]);
      expect(await tempFiles(repo, ".")).toEqual([]);
      expect(await listing(src)).toBe(sourceBefore);
      await c.after?.();
    });
  }

  it("--debug adds the stack trace that is otherwise left out", async () => {
    const r = await runCli(["--config", good, "show", "deadbeef", "--debug"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^error: no snapshot deadbeef$/m);
    expect(r.stderr).toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });
});

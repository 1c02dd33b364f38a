import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDirs } from "../../../test/helpers/temp-dir.js";
import { walkDataDirectory } from "./data-dir-walk.js";

afterAll(removeTempDirs);

async function dataDirectory(files: Record<string, string>): Promise<string> {
  const root = await makeTempDir("prs-walk-");
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith("/")) await fs.mkdir(path.join(root, name), { recursive: true });
    else {
      await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await fs.writeFile(path.join(root, name), content);
    }
  }
  return root;
}

async function walked(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of walkDataDirectory(root)) out.push(m.type === "directory" ? `${m.path}/` : m.path);
  return out;
}

describe("walkDataDirectory", () => {
  it("leaves out what pg_basebackup leaves out, directories first and names sorted", async () => {
    const root = await dataDirectory({
      PG_VERSION: "15\n",
      "postmaster.pid": "123\n",
      "postmaster.opts": "x",
      backup_label: "old",
      "postgresql.auto.conf": "",
      "postgresql.auto.conf.tmp": "",
      "global/pg_control": "c",
      "global/pg_internal.init": "cache",
      "pg_wal/000000010000000000000001": "wal",
      "pg_wal/archive_status/000000010000000000000001.done": "",
      "pg_stat_tmp/global.stat": "s",
      "pg_replslot/slot/state": "s",
      "pg_subtrans/0000": "s",
      "pg_notify/0000": "s",
      "pg_tblspc/": "",
      "base/1/1259": "catalog",
      "base/1/pg_internal.init": "cache",
      "base/16384/16400": "unlogged main",
      "base/16384/16400.1": "unlogged main, segment 1",
      "base/16384/16400_fsm": "unlogged fsm",
      "base/16384/16400_init": "unlogged init",
      "base/16384/16401": "logged",
      "base/16384/16401_fsm": "logged fsm",
      "base/pgsql_tmp/pgsql_tmp123.0": "temp",
      "base/16384/pgsql_tmp_x": "temp",
      "log/postgresql.log": "log",
    });
    // A socket (as a server in the data directory might leave) is left out too.
    const socket = net.createServer().listen(path.join(root, "socket"));
    await new Promise((r) => socket.once("listening", r));
    try {
      expect(await walked(root)).toEqual([
        "PG_VERSION",
        "base/",
        "base/1/",
        "base/1/1259",
        "base/16384/",
        "base/16384/16400_init",
        "base/16384/16401",
        "base/16384/16401_fsm",
        "global/",
        "global/pg_control",
        "log/",
        "log/postgresql.log",
        "pg_notify/",
        "pg_replslot/",
        "pg_stat_tmp/",
        "pg_subtrans/",
        "pg_tblspc/",
        "pg_wal/",
        "pg_wal/archive_status/",
        "postgresql.auto.conf",
      ]);
    } finally {
      socket.close();
    }
  });

  it("keeps pg_wal as an empty directory when it is a symlink elsewhere", async () => {
    const root = await dataDirectory({ PG_VERSION: "15\n" });
    const wal = await dataDirectory({ "000000010000000000000001": "wal" });
    await fs.symlink(wal, path.join(root, "pg_wal"));
    const members = [];
    for await (const m of walkDataDirectory(root)) members.push([m.path, m.type]);
    expect(members).toEqual([
      ["PG_VERSION", "file"],
      ["pg_wal", "directory"],
      ["pg_wal/archive_status", "directory"],
    ]);
  });

  it("refuses a cluster with tablespaces, naming them", async () => {
    const root = await dataDirectory({ PG_VERSION: "15\n" });
    await fs.mkdir(path.join(root, "pg_tblspc"));
    await fs.symlink("/srv/space", path.join(root, "pg_tblspc", "16500"));
    await expect(walked(root)).rejects.toThrow(/tablespaces \(16500 in pg_tblspc\)/);
  });
});

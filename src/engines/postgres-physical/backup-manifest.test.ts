import { execa } from "execa";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDirs } from "../../../test/helpers/temp-dir.js";
import { backupManifest } from "./backup-manifest.js";

const PG_VERIFYBACKUP = "/usr/lib/postgresql/15/bin/pg_verifybackup";
afterAll(removeTempDirs);

describe("backupManifest", () => {
  it("is a manifest pg_verifybackup accepts, and then checks each file's presence and size", async () => {
    const dir = await makeTempDir("prs-manifest-");
    const files = { PG_VERSION: "15\n", "base/1/1259": "x".repeat(8192), 'odd "name"': "q" };
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), content);
    }
    const manifest = backupManifest(
      Object.entries(files).map(([p, c]) => ({ path: p, size: c.length, mtime: 1_790_000_000 })),
      { timeline: 1, startLsn: "0/2000028", endLsn: "0/2000100" },
    );
    await fs.writeFile(path.join(dir, "backup_manifest"), manifest);
    const verify = () => execa(PG_VERIFYBACKUP, ["--no-parse-wal", dir], { reject: false });
    const ok = await verify();
    expect(ok.exitCode, ok.stderr).toBe(0);

    await fs.appendFile(path.join(dir, "base/1/1259"), "grown");
    const grown = await verify();
    expect(grown.exitCode).not.toBe(0);
    expect(grown.stderr).toContain('"base/1/1259" has size 8197 on disk but size 8192 in the manifest');

    await fs.truncate(path.join(dir, "base/1/1259"), 8192);
    await fs.writeFile(path.join(dir, "extra"), "");
    const extra = await verify();
    expect(extra.stderr).toContain('"extra" is present on disk but not in the manifest');

    await fs.rm(path.join(dir, "extra"));
    await fs.writeFile(
      path.join(dir, "backup_manifest"),
      Buffer.from(manifest.toString().replace("8192", "8193")),
    );
    const tampered = await verify();
    expect(tampered.stderr).toContain("manifest checksum mismatch");
  });
});

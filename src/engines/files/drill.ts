import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { noProgress } from "../../util/progress.js";
import type { DrillResult, EngineContext } from "../engine.js";
import { restoreFiles } from "./restore.js";

/**
 * Restores the snapshot into a scratch directory and checks every entry against the
 * manifest by reading it back from disk: type, size, SHA-256, mode and symlink target.
 */
export async function drillFiles(
  snapshot: SnapshotManifest,
  ctx: EngineContext,
  threads?: number,
): Promise<DrillResult> {
  const started = Date.now();
  const scratch = await fs.mkdtemp(path.join(ctx.tempDirectory ?? os.tmpdir(), "prs-backup-drill-"));
  const problems: string[] = [];
  const compared = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  try {
    await restoreFiles(
      { snapshot, to: scratch, force: false, dryRun: false },
      { ...ctx, progress: noProgress },
      threads,
    );
    for await (const entry of ctx.repo.snapshots.entries(snapshot)) {
      const restored = path.join(scratch, entry.path);
      const st = await fs.lstat(restored).catch(() => undefined);
      if (!st) {
        problems.push(`${entry.path}: missing after restore`);
        continue;
      }
      if ((st.mode & 0o7777) !== entry.mode)
        problems.push(`${entry.path}: mode ${(st.mode & 0o7777).toString(8)} ≠ ${entry.mode.toString(8)}`);
      if (entry.type === "dir") {
        if (!st.isDirectory()) problems.push(`${entry.path}: not a directory after restore`);
        compared.dirs += 1;
      } else if (entry.type === "symlink") {
        const target = await fs.readlink(restored).catch(() => undefined);
        if (target !== entry.target) problems.push(`${entry.path}: symlink target differs`);
        compared.symlinks += 1;
      } else {
        const digest = await sha256File(restored);
        if (st.size !== entry.size || digest !== entry.sha256)
          problems.push(`${entry.path}: content differs from the manifest`);
        compared.files += 1;
        compared.bytes += st.size;
      }
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  return { ok: problems.length === 0, seconds: (Date.now() - started) / 1000, compared, problems };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const buf of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(buf as Buffer);
  return hash.digest("hex");
}

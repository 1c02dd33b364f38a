import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const created: string[] = [];

/** A new empty directory under the OS temp dir, removed by {@link removeTempDirs}. */
export async function makeTempDir(prefix = "prs-e2e-"): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes every directory {@link makeTempDir} made (call it from `afterAll`/`afterEach`). */
export async function removeTempDirs(): Promise<void> {
  for (const dir of created.splice(0)) {
    // Restored trees hold 0444 files and 0500 dirs; make them writable so a non-root run can delete them.
    await fs.chmod(dir, 0o700).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

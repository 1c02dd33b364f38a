import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../util/logger.js";
import { walkTree, type WalkOptions } from "./walk.js";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-walk-"));
  for (let d = 0; d < 3; d++) {
    await fs.mkdir(path.join(dir, `d${d}`, "empty"), { recursive: true });
    for (let f = 0; f < 150; f++) await fs.writeFile(path.join(dir, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  await fs.symlink("d0/f1", path.join(dir, "link"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function walk(options: Partial<WalkOptions> = {}): Promise<{ paths: string[]; problems: string[] }> {
  const problems: string[] = [];
  const paths: string[] = [];
  const logger = createLogger({ level: "error", sinks: [{ json: false, write: () => undefined }] });
  for await (const item of walkTree({ roots: [dir], logger, onProblem: (p) => problems.push(p), ...options }))
    paths.push(path.relative(dir, item.path));
  return { paths, problems };
}

describe("walkTree", () => {
  it("yields the same items in the same order with blocking lstat and with thread-pool batches", async () => {
    const blocking = await walk();
    const batched = await walk({ slowStatMs: -1 }); // the first lstat counts as slow: batches from then on
    expect(batched).toEqual(blocking);
    expect(blocking.paths).toHaveLength(1 + 1 + 3 * (1 + 1 + 150));
    expect(blocking.paths.slice(0, 4)).toEqual(["", "d0", "d0/empty", "d0/f0"]);
    expect(blocking.paths.at(-1)).toBe("link");
    expect(blocking.problems).toEqual([]);
  });
});

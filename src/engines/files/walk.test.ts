import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../util/logger.js";
import { walkBatches, type WalkOptions } from "./walk.js";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-walk-"));
  for (let d = 0; d < 3; d++) {
    await fs.mkdir(path.join(dir, `d${d}`, "empty"), { recursive: true });
    for (let f = 0; f < 150; f++) await fs.writeFile(path.join(dir, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  await fs.mkdir(path.join(dir, "d2", "sub", "sub2"), { recursive: true });
  await fs.writeFile(path.join(dir, "d2", "sub", "sub2", "deep"), "deep");
  await fs.symlink("d0/f1", path.join(dir, "link"));
});

/** The walk's order, spelled out: each directory before its contents, names sorted. */
function expectedOrder(): string[] {
  const files = Array.from({ length: 150 }, (_, f) => `f${f}`).sort();
  const out = [""];
  for (let d = 0; d < 3; d++) {
    out.push(`d${d}`, `d${d}/empty`, ...files.map((f) => `d${d}/${f}`));
    if (d === 2) out.push("d2/sub", "d2/sub/sub2", "d2/sub/sub2/deep");
  }
  return [...out, "link"];
}
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function walk(options: Partial<WalkOptions> = {}): Promise<{ paths: string[]; problems: string[] }> {
  const problems: string[] = [];
  const paths: string[] = [];
  const logger = createLogger({ level: "error", sinks: [{ json: false, write: () => undefined }] });
  for await (const batch of walkBatches({
    roots: [dir],
    warn: (m) => logger.warn(m),
    onProblem: (p) => problems.push(p),
    ...options,
  }))
    paths.push(...batch.map((item) => path.relative(dir, item.path)));
  return { paths, problems };
}

describe("walkBatches, flattened", () => {
  it("yields the same items in the same order with blocking lstat and with thread-pool batches", async () => {
    const blocking = await walk();
    const batched = await walk({ slowStatMs: -1 }); // the first lstat counts as slow: batches from then on
    expect(batched).toEqual(blocking);
    expect(blocking.paths).toEqual(expectedOrder());
    expect(blocking.problems).toEqual([]);
  });
});

describe("walkBatches", () => {
  it("gives the walk in batches of the size asked, the same items in the same order", async () => {
    const logger = createLogger({ level: "error", sinks: [{ json: false, write: () => undefined }] });
    const sizes: number[] = [];
    const paths: string[] = [];
    for await (const batch of walkBatches(
      { roots: [dir], warn: (m) => logger.warn(m), onProblem: () => undefined },
      100,
    )) {
      sizes.push(batch.length);
      paths.push(...batch.map((item) => path.relative(dir, item.path)));
    }
    expect(paths).toEqual(expectedOrder());
    expect(sizes.slice(0, -1).every((n) => n === 100)).toBe(true);
    expect(sizes.at(-1)).toBe(expectedOrder().length % 100 || 100);
  });
});

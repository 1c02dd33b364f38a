import fs, { type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReadHandles } from "./read-handles.js";

let dir: string;
const file = (n: number): string => path.join(dir, `f${n}`);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-read-handles-"));
  for (let n = 0; n < 4; n++) await fs.writeFile(file(n), `content ${n}`);
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const text = async (h: FileHandle): Promise<string> =>
  (await h.read(Buffer.alloc(64), 0, 64, 0)).buffer.toString("utf8").replace(/\0+$/, "");

describe("ReadHandles", () => {
  it("reuses one open handle per file for reads close together", async () => {
    const handles = new ReadHandles({ idleMs: 1000 });
    const first = await handles.with(file(0), (h) => Promise.resolve(h));
    const again = await handles.with(file(0), (h) => Promise.resolve(h));
    expect(again).toBe(first);
    expect(await handles.with(file(0), text)).toBe("content 0");
  });

  it("closes the least recently used handle beyond the limit, and an idle one after the delay", async () => {
    const handles = new ReadHandles({ maxOpen: 2, idleMs: 50 });
    const h0 = await handles.with(file(0), (h) => Promise.resolve(h));
    const h1 = await handles.with(file(1), (h) => Promise.resolve(h));
    await handles.with(file(0), (h) => Promise.resolve(h)); // 0 is now the most recent
    await handles.with(file(2), (h) => Promise.resolve(h));
    await sleep(5);
    expect(h1.fd).toBe(-1);
    expect(h0.fd).toBeGreaterThan(-1);
    await sleep(100);
    expect(h0.fd).toBe(-1);
  });

  it("does not close a handle that a read is still using", async () => {
    const handles = new ReadHandles({ maxOpen: 1, idleMs: 1000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = handles.with(file(0), async (h) => {
      await gate;
      return text(h);
    });
    await sleep(5);
    await handles.with(file(1), text); // evicts file 0 while the slow read holds it
    release();
    expect(await slow).toBe("content 0");
  });

  it("passes the open's error through and tries again on the next read", async () => {
    const handles = new ReadHandles();
    const late = path.join(dir, "late");
    await expect(handles.with(late, text)).rejects.toMatchObject({ code: "ENOENT" });
    await fs.writeFile(late, "here now");
    expect(await handles.with(late, text)).toBe("here now");
  });
});

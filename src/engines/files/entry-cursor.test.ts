import { describe, expect, it } from "vitest";
import type { StoredEntry } from "../../repo/snapshot-store.js";
import { EntryCursor } from "./entry-cursor.js";

function stored(path: string): StoredEntry {
  const entry = { path, type: "dir" as const, mode: 0o755, uid: 0, gid: 0, mtimeNs: "0" };
  return { entry, line: JSON.stringify(entry) };
}

async function* batches(...paths: string[][]): AsyncGenerator<StoredEntry[]> {
  for (const batch of paths) yield await Promise.resolve(batch.map(stored));
}

describe("EntryCursor", () => {
  it("finds a parent's entries across its batches, in one forward pass", async () => {
    const cursor = new EntryCursor(batches(["/a", "/a/b"], ["/a/c", "/a/d"], ["/a/e"]));
    await cursor.readPast("/a/b");
    expect(cursor.find("/a")?.entry.path).toBe("/a");
    expect(cursor.find("/a/b")?.entry.path).toBe("/a/b");
    // "/a/c" is in the next batch: read past it first, then look it up without a promise.
    await cursor.readPast("/a/cc");
    expect(cursor.find("/a/bb")).toBeUndefined(); // not in the parent
    expect(cursor.find("/a/c")?.entry.path).toBe("/a/c");
    expect(cursor.find("/a/cc")).toBeUndefined();
    await cursor.readPast("/z");
    expect(cursor.find("/a/e")?.entry.path).toBe("/a/e");
    expect(cursor.find("/z")).toBeUndefined(); // after the parent's last entry
  });

  it("keeps entries not passed yet when it reads the next batch", async () => {
    const cursor = new EntryCursor(batches(["/a", "/b"], ["/c"]));
    await cursor.readPast("/a");
    expect(cursor.find("/a")?.entry.path).toBe("/a");
    await cursor.readPast("/b"); // the batch's last entry is not after "/b": the next is read too
    expect(cursor.find("/b")?.entry.path).toBe("/b");
    expect(cursor.find("/c")?.entry.path).toBe("/c");
  });

  it("refuses a lookup past what was read, instead of answering 'not in the parent'", async () => {
    const cursor = new EntryCursor(batches(["/a"], ["/b"], ["/c"]));
    await cursor.readPast("/a"); // reads up to "/b", the first entry after "/a"
    expect(() => cursor.find("/c")).toThrow(/past what was read/);
  });
});

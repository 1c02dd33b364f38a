import os from "node:os";
import { describe, expect, it } from "vitest";
import { lowerPriority } from "./priority.js";

describe("lowerPriority", () => {
  it("lowers this thread's priority and, where allowed (root), puts it back", () => {
    const before = os.getPriority();
    const restore = lowerPriority(3);
    expect(os.getPriority()).toBe(Math.min(19, before + 3));
    restore();
    const after = os.getPriority();
    if (process.getuid?.() === 0) expect(after).toBe(before);
    else expect(after).toBeGreaterThanOrEqual(before);
  });
});

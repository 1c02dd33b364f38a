import { describe, expect, it } from "vitest";
import { Budget } from "./concurrency.js";

describe("Budget", () => {
  it("lets work in while it fits, first come first served, and a request larger than the budget alone", async () => {
    const budget = new Budget(10);
    const order: string[] = [];
    const take = (name: string, n: number): Promise<void> =>
      budget.acquire(n).then(() => void order.push(name));
    await take("a", 6);
    const b = take("b", 6); // does not fit beside a
    const c = take("c", 1); // would fit, but waits behind b
    await Promise.resolve();
    expect(order).toEqual(["a"]);
    budget.release(6);
    await Promise.all([b, c]);
    expect(order).toEqual(["a", "b", "c"]);
    const huge = take("huge", 50); // more than the whole budget: runs once nothing else does
    await Promise.resolve();
    expect(order).toHaveLength(3);
    budget.release(6);
    budget.release(1);
    await huge;
    expect(order.at(-1)).toBe("huge");
  });
});

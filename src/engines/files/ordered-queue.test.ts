import { describe, expect, it } from "vitest";
import { OrderedQueue } from "./ordered-queue.js";

/** A promise with its resolve and reject at hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("OrderedQueue", () => {
  it("passes known results straight through, holds those behind one not known, and keeps the order", async () => {
    const out: number[] = [];
    const queue = new OrderedQueue<number>((n) => void out.push(n), { later: 4, held: 100 });
    expect(queue.push(1)).toBeUndefined();
    expect(queue.push(2)).toBeUndefined();
    expect(out).toEqual([1, 2]);
    const three = deferred<number>();
    expect(queue.push(three.promise)).toBeUndefined(); // under both limits: no wait
    expect(queue.push(4)).toBeUndefined();
    expect(out).toEqual([1, 2]); // 4 waits behind 3
    three.resolve(3);
    await three.promise;
    await Promise.resolve();
    expect(queue.push(5)).toBeUndefined();
    expect(out).toEqual([1, 2, 3, 4, 5]);
    await queue.finish();
  });

  it("makes the caller wait when too many results are being worked out or held", async () => {
    const out: number[] = [];
    const later = new OrderedQueue<number>((n) => void out.push(n), { later: 2, held: 100 });
    const pending = [deferred<number>(), deferred<number>(), deferred<number>()];
    expect(later.push(pending[0]!.promise)).toBeUndefined();
    expect(later.push(pending[1]!.promise)).toBeUndefined();
    const waited = later.push(pending[2]!.promise); // a third being worked out: over the limit
    expect(waited).toBeInstanceOf(Promise);
    pending.forEach((p, i) => p.resolve(i));
    await waited;
    await later.finish();
    expect(out).toEqual([0, 1, 2]);

    const held = new OrderedQueue<number>((n) => void out.push(n), { later: 10, held: 3 });
    const first = deferred<number>();
    expect(held.push(first.promise)).toBeUndefined();
    expect(held.push(11)).toBeUndefined();
    expect(held.push(12)).toBeUndefined();
    const full = held.push(13); // four held behind the first
    expect(full).toBeInstanceOf(Promise);
    first.resolve(10);
    await full;
    expect(out.slice(3)).toEqual([10, 11, 12, 13]);
  });

  it("waits for what consume returns before consuming more, and rethrows a failed result", async () => {
    const out: string[] = [];
    const flush = deferred<void>();
    const queue = new OrderedQueue<string>(
      (s) => {
        out.push(s);
        return s === "flush" ? flush.promise : undefined;
      },
      { later: 10, held: 10 },
    );
    const waited = queue.push("flush");
    expect(waited).toBeInstanceOf(Promise);
    expect(queue.push("after")).toBe(waited); // not consumed while the flush is under way
    expect(out).toEqual(["flush"]);
    flush.resolve();
    await waited;
    await queue.finish();
    expect(out).toEqual(["flush", "after"]);

    const failing = new OrderedQueue<string>(() => undefined, { later: 10, held: 10 });
    expect(failing.push(Promise.reject(new Error("read failed")))).toBeUndefined();
    await expect(failing.finish()).rejects.toThrow("read failed");
  });
});

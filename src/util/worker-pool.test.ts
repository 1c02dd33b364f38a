import { afterEach, describe, expect, it } from "vitest";
import { WorkerPool } from "./worker-pool.js";

// Answers each request with the notes it was sent before it.
const ECHO = new URL(
  "data:text/javascript," +
    encodeURIComponent(`
      import { parentPort } from "node:worker_threads";
      const notes = [];
      parentPort.on("message", (m) => {
        if (m.job === undefined) notes.push(m.note);
        else parentPort.postMessage({ job: m.job, notes });
      });
    `),
);

type Pool = WorkerPool<{ job: number }, { job: number; notes: string[] }, { note: string }>;
let pool: Pool | undefined;
afterEach(async () => {
  await pool?.close();
});

describe("WorkerPool", () => {
  it("starts a worker thread only when it is given work, and the least busy one first", async () => {
    pool = new WorkerPool(ECHO, 2, undefined, "test");
    expect(pool.threads).toBe(2);
    expect(pool.started).toBe(0);
    const first = pool.send({ job: 1 });
    expect(pool.started).toBe(1);
    // The first is busy: the second request starts the other worker.
    const second = pool.send({ job: 2 });
    expect(pool.started).toBe(2);
    expect(second.worker).not.toBe(first.worker);
    expect((await first.reply).job).toBe(1);
    expect((await second.reply).job).toBe(2);
  });

  it("gives a broadcast note to the workers running and, first of all, to those started later", async () => {
    pool = new WorkerPool(ECHO, 2, undefined, "test");
    expect((await pool.send({ job: 1 }, { worker: 0 }).reply).notes).toEqual([]);
    pool.broadcast({ note: "slabs" });
    expect(pool.started).toBe(1);
    expect((await pool.send({ job: 2 }, { worker: 0 }).reply).notes).toEqual(["slabs"]);
    expect((await pool.send({ job: 3 }, { worker: 1 }).reply).notes).toEqual(["slabs"]);
  });

  it("gives a worker started later only the last broadcast: a later one replaces the earlier", async () => {
    pool = new WorkerPool(ECHO, 2, undefined, "test");
    expect((await pool.send({ job: 1 }, { worker: 0 }).reply).notes).toEqual([]);
    pool.broadcast({ note: "first stream's slabs" });
    pool.broadcast({ note: "second stream's slabs" });
    // The running worker got both, in order; the new one only the state that holds now.
    expect((await pool.send({ job: 2 }, { worker: 0 }).reply).notes).toEqual([
      "first stream's slabs",
      "second stream's slabs",
    ]);
    expect((await pool.send({ job: 3 }, { worker: 1 }).reply).notes).toEqual(["second stream's slabs"]);
  });
});

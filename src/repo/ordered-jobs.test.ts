import { describe, expect, it } from "vitest";
import { OrderedJobs, type DoneJob } from "./ordered-jobs.js";
import type { SnapshotWriter } from "./snapshot-writer.js";
import type { EncodedJob } from "./store-pool.js";

/** A writer that records the order in which encoded jobs are added. */
function recordingWriter(): { writer: SnapshotWriter; added: string[] } {
  const added: string[] = [];
  const writer = {
    addEncoded: (job: EncodedJob) => {
      added.push(job.frames[0]!.chunks[0]![0]);
      return Promise.resolve();
    },
  } as unknown as SnapshotWriter;
  return { writer, added };
}

function done(id: string): DoneJob {
  return {
    ids: [id],
    encoded: {
      frames: [{ encoding: "raw", body: new Uint8Array(1), chunks: [[id, 1]] }],
      objects: [],
      refs: [],
    },
  };
}

const after = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("OrderedJobs", () => {
  it("adds jobs in submission order although later ones finish first, with at most `limit` running", async () => {
    const { writer, added } = recordingWriter();
    const jobs = new OrderedJobs(writer, 3);
    let running = 0;
    let most = 0;
    const delays = [40, 5, 25, 1, 15, 0, 30, 2];
    for (const [i, delay] of delays.entries()) {
      await jobs.submit(async () => {
        most = Math.max(most, ++running);
        await after(delay);
        running -= 1;
        return done(`c${i}`);
      });
    }
    const ids = await jobs.finish();
    const expected = delays.map((_, i) => `c${i}`);
    expect(ids).toEqual(expected);
    expect(added).toEqual(expected);
    expect(most).toBe(3);
  });

  it("stops taking jobs after a failure and reports the first one", async () => {
    const { writer, added } = recordingWriter();
    const jobs = new OrderedJobs(writer, 2);
    await jobs.submit(async () => {
      await after(10);
      return done("a");
    });
    await jobs.submit(() => Promise.reject(new Error("worker failed")));
    await after(1);
    await expect(jobs.submit(() => Promise.resolve(done("never")))).rejects.toThrow("worker failed");
    await expect(jobs.finish()).rejects.toThrow("worker failed");
    expect(added).toEqual(["a"]);
  });
});

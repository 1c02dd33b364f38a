import { createHash } from "node:crypto";
import { readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { FrameEncoder, isWorthDelta } from "../../repo/frame-encoder.js";
import type { EncodedJob, FromWorker, ToWorker, WirePiece } from "./tar-read-pool.js";

/**
 * A worker thread of a direct base backup (tar-read-pool.ts): reads a job's chunks from
 * the data directory's files (descriptors opened by the main thread), hashes them, keeps
 * them until told which are new, then compresses those into one frame (and changed chunks
 * into `zstd-ref` bodies against their previous version). Only compressed bytes and ids
 * go back, so the plain data never crosses threads.
 */
const { level } = workerData as { level: number };
const encoder = new FrameEncoder(level);
const port = parentPort!;
const held = new Map<number, { data: Buffer; sizes: number[]; ids: string[] }>();

port.on("message", (message: ToWorker) => {
  try {
    if (message.t === "read") {
      const data = readPieces(message.pieces, message.sizes);
      const ids: string[] = [];
      let at = 0;
      for (const size of message.sizes) {
        ids.push(
          createHash("sha256")
            .update(data.subarray(at, at + size))
            .digest("hex"),
        );
        at += size;
      }
      held.set(message.job, { data, sizes: message.sizes, ids });
      post({ t: "read", job: message.job, ids });
    } else {
      const job = held.get(message.job)!;
      held.delete(message.job);
      const encoded = encode(job, message.decisions);
      const bodies = [...(encoded.frame ? [encoded.frame.body] : []), ...encoded.refs.map((r) => r.body)];
      port.postMessage(
        { t: "encoded", job: message.job, encoded } satisfies FromWorker,
        bodies.map((b) => b.buffer as ArrayBuffer),
      );
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ t: "error", job: message.job, message: e.message, code: e.code });
  }
});

function post(message: FromWorker): void {
  port.postMessage(message);
}

/** The job's bytes, in order; a file that shrank since it was planned reads as zeros past its end. */
function readPieces(pieces: WirePiece[], sizes: number[]): Buffer {
  const total = sizes.reduce((a, b) => a + b, 0);
  const data = Buffer.allocUnsafe(total);
  let at = 0;
  for (const piece of pieces) {
    if ("bytes" in piece) {
      data.set(piece.bytes, at);
      at += piece.bytes.length;
      continue;
    }
    let done = 0;
    while (done < piece.length) {
      const n = readSync(piece.fd, data, at + done, piece.length - done, piece.position + done);
      if (n === 0) break;
      done += n;
    }
    // Truncated while we read (VACUUM, a dropped table): pg_basebackup pads with zeros too;
    // WAL replay from the backup's start makes the file right.
    if (done < piece.length) data.fill(0, at + done, at + piece.length);
    at += piece.length;
  }
  return data;
}

/** Compresses the chunks the main thread marked new (`true`) or gave a delta basis. */
function encode(
  job: { data: Buffer; sizes: number[]; ids: string[] },
  decisions: (boolean | { ref: string; base: Uint8Array })[],
): EncodedJob {
  const plain: Buffer[] = [];
  const chunks: [string, number][] = [];
  const refs: EncodedJob["refs"] = [];
  let at = 0;
  job.sizes.forEach((size, i) => {
    const data = job.data.subarray(at, at + size);
    at += size;
    const decision = decisions[i];
    if (!decision) return;
    if (decision !== true) {
      const body = encoder.encodeRef(data, decision.base);
      if (isWorthDelta(body.length, size)) {
        refs.push({ id: job.ids[i]!, size, body: exact(body), ref: decision.ref });
        return;
      }
    }
    plain.push(data);
    chunks.push([job.ids[i]!, size]);
  });
  if (chunks.length === 0) return { refs };
  const { encoding, body } = encoder.encodeFrame(plain.length === 1 ? plain[0]! : Buffer.concat(plain));
  return { frame: { encoding, body: exact(body), chunks }, refs };
}

/**
 * A copy in an ArrayBuffer of its own, to be transferred: a view into a larger buffer
 * (zstd's output, the job's read buffer) would otherwise be cloned whole.
 */
function exact(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

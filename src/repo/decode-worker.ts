import { parentPort, workerData } from "node:worker_threads";
import type { DecodeMessage, DecodeReply } from "./decode-pool.js";
import { FrameDamage, FrameReader, SpareBuffers } from "./frame-reader.js";

/**
 * A worker thread of a parallel restore (decode-pool.ts): reads a frame from its pack in
 * a local repository, decodes it (a `zstd-ref` frame with its dictionary chunk, itself
 * decoded from its own frame), checks every wanted chunk against its id and transfers
 * the bytes to the main thread. Frames are decoded into buffers the main thread hands
 * back once written, so a restore of any size allocates a few dozen buffers in all, not
 * one per frame (which cost more garbage collection than the decoding).
 */
const { root } = workerData as { root: string };
const port = parentPort!;
const reader = new FrameReader(root);
/** Buffers to decode into, handed back by the main thread. */
const free = new SpareBuffers(32);

port.on("message", (message: DecodeMessage) => {
  if ("free" in message) {
    free.give(message.free);
    return;
  }
  try {
    const first = message.chunks[0]![0];
    let sent: Buffer;
    if (message.object !== undefined) {
      sent = reader.object(message.object, free.take);
    } else {
      const frame = reader.frame(message.frame!, message.ref, first, free.take);
      reader.checkChunks(frame, message.chunks, message.ref);
      sent = compact(frame, message.chunks);
    }
    const reply: DecodeReply = {
      job: message.job,
      buffer: sent.buffer as ArrayBuffer,
      offset: sent.byteOffset,
      length: sent.length,
    };
    port.postMessage(reply, [reply.buffer]);
  } catch (err) {
    const reply: DecodeReply = {
      job: message.job,
      error: (err as Error).message,
      damage: err instanceof FrameDamage,
    };
    port.postMessage(reply);
  }
});

/** The wanted chunks, one after another: in place when they already are (the usual case). */
function compact(frame: Buffer, chunks: [string, number, number][]): Buffer {
  let end = chunks[0]![1];
  for (const [, start, size] of chunks) {
    if (start !== end) return Buffer.concat(chunks.map(([, s, n]) => frame.subarray(s, s + n)));
    end = start + size;
  }
  return frame.subarray(chunks[0]![1], end);
}

import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
// The low-level binding decodes into a given buffer (the Decompressor class allocates one per call).
import binding from "zstd-napi/binding.js";
import type { DecodeJob, DecodeMessage, DecodeReply, WireFrame } from "./decode-pool.js";
import { chunkKey } from "./chunk-id.js";
import { OBJECT_RAW, OBJECT_ZSTD } from "./frame-encoder.js";
import { packKey } from "./pack-format.js";
import { readFullySync } from "../util/fs.js";

const { DCtx, getFrameContentSize } = binding;

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
const dctx = new DCtx();
const refDctx = new DCtx();
/** Buffers to decode into, handed back by the main thread. */
const free: ArrayBuffer[] = [];
const FREE_MAX = 32;
/** Decoded frames are at most about this big (a pack frame of 512 KiB plus one chunk). */
const BUFFER_BYTES = 1024 * 1024;
let scratch = Buffer.allocUnsafe(BUFFER_BYTES);
/** Open pack files and decoded dictionary frames, a few of each (consecutive chunks share them). */
const packs = new Map<string, number>();
const dictionaries = new Map<string, Buffer>();
const KEEP = 8;

class Damage extends Error {}

port.on("message", (message: DecodeMessage) => {
  if ("free" in message) {
    if (free.length < FREE_MAX) free.push(message.free);
    return;
  }
  try {
    const first = message.chunks[0]![0];
    let sent: Buffer;
    if (message.object !== undefined) {
      sent = decodeObject(message.object);
      if (sha256(sent) !== message.object) throw damaged(message.object, undefined);
    } else {
      const frame = decodeFrame(message.frame!, message.ref, first);
      for (const [id, start, size] of message.chunks) {
        const data = frame.subarray(start, start + size);
        if (data.length !== size || sha256(data) !== id) throw damaged(id, message.ref);
      }
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
      damage: err instanceof Damage,
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

/** A buffer of at least `size` bytes: a handed-back one when it is big enough. */
function output(size: number): Buffer {
  const reused = free.pop();
  if (reused && reused.byteLength >= size) return Buffer.from(reused, 0, size);
  return Buffer.from(new ArrayBuffer(Math.max(size, BUFFER_BYTES)), 0, size);
}

function decodeFrame(frame: WireFrame, ref: DecodeJob["ref"], id: string): Buffer {
  if (frame.encoding === "raw") return readFrame(frame, id, output(frame.length));
  if (scratch.length < frame.length) scratch = Buffer.allocUnsafe(frame.length);
  const body = readFrame(frame, id, scratch.subarray(0, frame.length));
  try {
    const size = frameSize(body);
    const out = output(size);
    let n: number;
    if (frame.encoding === "zstd") n = dctx.decompress(out, body);
    else {
      refDctx.loadDictionary(dictionary(ref!));
      n = refDctx.decompress(out, body);
    }
    return out.subarray(0, n);
  } catch (err) {
    throw new Damage(
      `chunk ${id} is damaged: frame at byte ${frame.offset} of pack ${frame.pack}: ${(err as Error).message}`,
    );
  }
}

/** A chunk object (`data/<xx>/<id>`: an encoding byte, then raw or zstd bytes), decoded. */
function decodeObject(id: string): Buffer {
  const file = path.join(root, ...chunkKey(id).split("/"));
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Damage(`chunk ${id} is missing from the repository`);
    }
    throw err;
  }
  try {
    const length = fstatSync(fd).size;
    if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
    const body = scratch.subarray(0, readFullySync(fd, scratch, 0, length, 0));
    try {
      if (body[0] === OBJECT_RAW) {
        const out = output(body.length - 1);
        body.copy(out, 0, 1);
        return out;
      }
      if (body[0] !== OBJECT_ZSTD) throw new Error(`unknown encoding byte ${body[0]}`);
      const zstd = body.subarray(1);
      const out = output(frameSize(zstd));
      return out.subarray(0, dctx.decompress(out, zstd));
    } catch (err) {
      throw new Damage(`chunk ${id} is damaged: ${(err as Error).message}`);
    }
  } finally {
    closeSync(fd);
  }
}

/** The plain size a zstd frame's header declares (our frames always declare it). */
function frameSize(body: Buffer): number {
  const size = getFrameContentSize(body);
  if (size === null) throw new Error("the frame does not declare its size");
  return size;
}

/** A `zstd-ref` frame's dictionary: its ref chunk's bytes, not hash-checked here (see damaged()). */
function dictionary(ref: NonNullable<DecodeJob["ref"]>): Buffer {
  const key = `${ref.frame.pack}@${ref.frame.offset}`;
  let frame = dictionaries.get(key);
  if (!frame) {
    const body = readFrame(ref.frame, ref.id, Buffer.allocUnsafe(ref.frame.length));
    if (ref.frame.encoding === "raw") frame = body;
    else {
      frame = Buffer.allocUnsafe(frameSize(body));
      frame = frame.subarray(0, dctx.decompress(frame, body));
    }
    dictionaries.set(key, frame);
    if (dictionaries.size > KEEP) dictionaries.delete(dictionaries.keys().next().value!);
  }
  return frame.subarray(ref.start, ref.start + ref.size);
}

function readFrame(frame: WireFrame, id: string, into: Buffer): Buffer {
  let fd = packs.get(frame.pack);
  if (fd === undefined) {
    const file = path.join(root, ...packKey(frame.pack).split("/"));
    try {
      fd = openSync(file, "r");
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      throw new Damage(
        `chunk ${id} is missing: its pack ${frame.pack} ${missing ? "is missing" : `cannot be read: ${(err as Error).message}`}`,
      );
    }
    packs.set(frame.pack, fd);
    if (packs.size > KEEP) {
      const [oldest, oldFd] = packs.entries().next().value!;
      packs.delete(oldest);
      closeSync(oldFd);
    }
  }
  if (readFullySync(fd, into, 0, frame.length, frame.offset) < frame.length) {
    throw new Damage(`chunk ${id} is damaged: its frame in pack ${frame.pack} is too short`);
  }
  return into;
}

/** The damage to name when a chunk does not match its id: its dictionary's, if that is the damaged one. */
function damaged(id: string, ref: DecodeJob["ref"]): Damage {
  if (ref) {
    const base = dictionary(ref);
    if (sha256(base) !== ref.id) {
      return new Damage(
        `chunk ${id} cannot be decoded: chunk ${ref.id} is damaged: its content does not match its hash`,
      );
    }
  }
  return new Damage(`chunk ${id} is damaged: its content does not match its hash`);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
